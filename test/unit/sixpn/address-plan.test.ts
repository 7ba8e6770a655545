import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {
  allocatePopIds,
  appHash16,
  backendAddress,
  describePopAddress,
  MAX_INSTANCE,
  parseIpv6,
  parsePrefix,
  popAddresses,
  prefixContains,
  resolveSixpnState,
  sixpnStateProblems,
  type SixpnState,
} from '../../../src/sixpn/index.js'

const STATE: SixpnState = {network: 'fd12:3456:789a::/48', popIds: {eu: 1, sa: 2, us: 3}}

function never(): string {
  throw new Error('no new ULA should be made')
}

describe('6PN POP ids', () => {
  test('first-fit from 1 in name order, whatever order the topology lists them', () => {
    assert.deepEqual(allocatePopIds(['us', 'sa', 'eu'], {}), {popIds: {eu: 1, sa: 2, us: 3}, created: ['eu', 'sa', 'us']})
  })

  test('adding a POP never renumbers: it takes the lowest free id, even when its name sorts first', () => {
    const added = allocatePopIds(['us', 'sa', 'eu', 'ap'], STATE.popIds)
    assert.deepEqual(added.popIds, {eu: 1, sa: 2, us: 3, ap: 4})
    assert.deepEqual(added.created, ['ap'])
  })

  test('removing a POP keeps its id reserved; a new POP fills a gap left by a hand-edited file only', () => {
    const removed = allocatePopIds(['eu', 'us'], STATE.popIds)
    assert.deepEqual(removed.popIds, STATE.popIds, "sa's id stays in the state")
    assert.deepEqual(removed.created, [])
    const next = allocatePopIds(['eu', 'us', 'ap'], removed.popIds)
    assert.equal(next.popIds.ap, 4, 'not 2: a removed POP may come back, and its old addresses may still be configured somewhere')
    assert.equal(allocatePopIds(['x'], {a: 1, b: 3}).popIds.x, 2, 'first fit')
    assert.equal(popAddresses({...STATE, popIds: next.popIds}, 'us').subnet, 'fd12:3456:789a:3::/64', 'us keeps its /64')
  })

  test('ids stay stable through a sequence of additions and removals', () => {
    let ids: Record<string, number> = {}
    const history: Array<Record<string, number>> = []
    for (const names of [['sa', 'us'], ['sa', 'us', 'eu'], ['us', 'eu'], ['us', 'eu', 'ap', 'af'], ['af', 'sa']]) {
      ids = allocatePopIds(names, ids).popIds
      history.push({...ids})
    }
    for (const snapshot of history) for (const [pop, id] of Object.entries(snapshot)) assert.equal(ids[pop], id, `${pop} kept id ${id}`)
    assert.equal(new Set(Object.values(ids)).size, Object.keys(ids).length, 'unique')
    assert.deepEqual(ids, {sa: 1, us: 2, eu: 3, af: 4, ap: 5})
  })

  test('65535 POPs fit; the next one is refused', () => {
    const full: Record<string, number> = {}
    for (let id = 1; id <= 0xffff; id++) full[`p${id}`] = id
    assert.throws(() => allocatePopIds(['one-more'], full), /no free 6PN POP id for one-more/)
  })

  test('stored state problems name the key: duplicate, out of range, bad network', () => {
    assert.deepEqual(sixpnStateProblems({network: STATE.network, popIds: STATE.popIds}), [])
    assert.deepEqual(sixpnStateProblems({network: STATE.network, popIds: {eu: 1, sa: 1}}), ['"pop_ids.sa" is 1, already the id of POP "eu"; ids must be unique'])
    assert.match(sixpnStateProblems({network: STATE.network, popIds: {eu: 0}})[0]!, /"pop_ids\.eu" is 0, not a POP id \(a whole number 1-65535\)/)
    assert.match(sixpnStateProblems({network: STATE.network, popIds: {eu: 1.5}})[0]!, /pop_ids\.eu/)
    assert.match(sixpnStateProblems({network: STATE.network, popIds: {eu: '1'}})[0]!, /pop_ids\.eu/)
    assert.match(sixpnStateProblems({network: '2001:db8::/48', popIds: {}})[0]!, /"ipv6_network" "2001:db8::\/48" is outside fd00::\/8/)
    assert.match(sixpnStateProblems({network: undefined, popIds: {}})[0]!, /"ipv6_network" must be a string/)
  })
})

describe('6PN state resolution', () => {
  test('auto makes a ULA once; every later run reuses it and only adds ids', () => {
    const first = resolveSixpnState(undefined, {network: 'auto', popNames: ['sa', 'us']}, () => 'fd2d:198b:9d66::/48')
    assert.deepEqual(first.state, {network: 'fd2d:198b:9d66::/48', popIds: {sa: 1, us: 2}})
    assert.deepEqual(first.created, ['ipv6_network', 'pop_ids.sa', 'pop_ids.us'])
    const again = resolveSixpnState(first.state, {network: 'auto', popNames: ['sa', 'us']}, never)
    assert.deepEqual(again, {state: first.state, created: [], replaced: []})
    const grown = resolveSixpnState(first.state, {network: 'auto', popNames: ['eu', 'sa', 'us']}, never)
    assert.deepEqual(grown.state.popIds, {sa: 1, us: 2, eu: 3})
    assert.deepEqual(grown.created, ['pop_ids.eu'])
  })

  test('an explicit prefix is used and stored; changing it says replaced and keeps the ids', () => {
    const first = resolveSixpnState(undefined, {network: {prefix: 'fd12:3456:789a::/48'}, popNames: ['sa']}, never)
    assert.deepEqual(first.created, ['ipv6_network', 'pop_ids.sa'])
    const same = resolveSixpnState(first.state, {network: {prefix: 'FD12:3456:789A:0::/48'}, popNames: ['sa']}, never)
    assert.deepEqual([same.created, same.replaced], [[], []], 'the same network written differently')
    const moved = resolveSixpnState(first.state, {network: {prefix: 'fdaa:bbbb:cccc::/48'}, popNames: ['sa']}, never)
    assert.deepEqual(moved.replaced, ['ipv6_network'])
    assert.deepEqual(moved.state, {network: 'fdaa:bbbb:cccc::/48', popIds: {sa: 1}})
    const back = resolveSixpnState(moved.state, {network: 'auto', popNames: ['sa']}, never)
    assert.equal(back.state.network, 'fdaa:bbbb:cccc::/48', 'auto after an explicit prefix keeps it')
  })
})

describe('6PN addresses', () => {
  test("a POP's /64, WireGuard ::1 and DNS ::3 inside the /48", () => {
    assert.deepEqual(popAddresses(STATE, 'sa'), {
      pop: 'sa',
      popId: 2,
      network: 'fd12:3456:789a::/48',
      subnet: 'fd12:3456:789a:2::/64',
      wireguardAddress: 'fd12:3456:789a:2::1',
      dnsAddress: 'fd12:3456:789a:2::3',
    })
    const high = popAddresses({network: STATE.network, popIds: {last: 0xffff}}, 'last')
    assert.equal(high.subnet, 'fd12:3456:789a:ffff::/64')
    assert.throws(() => popAddresses(STATE, 'ap'), /POP "ap" has no 6PN id/)
  })

  test('backend addresses: P:<pop_id>:<app_hash16>:<instance48>, inside the POP /64 and never its own addresses', () => {
    const hash = appHash16('web')
    assert.ok(hash >= 1 && hash <= 0xffff)
    const address = backendAddress(STATE, 'sa', 'web', 7)
    assert.equal(address, `fd12:3456:789a:2:${hash.toString(16)}::7`)
    assert.equal(backendAddress(STATE, 'sa', 'web', MAX_INSTANCE), `fd12:3456:789a:2:${hash.toString(16)}:ffff:ffff:ffff`)
    assert.equal(backendAddress(STATE, 'sa', 'web', 0), `fd12:3456:789a:2:${hash.toString(16)}::`)
    const subnet = parsePrefix(popAddresses(STATE, 'sa').subnet)
    for (const app of ['web', 'api', 'x', 'a'.repeat(64), 'ünïcode']) {
      for (const instance of [0, 1, 3, 2 ** 32, MAX_INSTANCE]) {
        const a = backendAddress(STATE, 'sa', app, instance)
        assert.ok(prefixContains(subnet, 6, parseIpv6(a)!), `${a} in the /64`)
        assert.ok(![popAddresses(STATE, 'sa').wireguardAddress, popAddresses(STATE, 'sa').dnsAddress].includes(a))
      }
    }
    assert.notEqual(backendAddress(STATE, 'sa', 'web', 1), backendAddress(STATE, 'us', 'web', 1), 'per POP')
    assert.notEqual(backendAddress(STATE, 'sa', 'web', 1), backendAddress(STATE, 'sa', 'web', 2), 'per instance')
    assert.equal(backendAddress(STATE, 'sa', 'web', 1), backendAddress(STATE, 'sa', 'web', 1), 'a pure function')
    assert.throws(() => backendAddress(STATE, 'sa', 'web', MAX_INSTANCE + 1), RangeError)
    assert.throws(() => backendAddress(STATE, 'sa', 'web', -1), RangeError)
  })

  test('the app hash is spread over 1-65535 (never 0, the POP-infrastructure block)', () => {
    const hashes = new Set<number>()
    for (let i = 0; i < 5000; i++) {
      const h = appHash16(`app-${i}`)
      assert.ok(h >= 1 && h <= 0xffff)
      hashes.add(h)
    }
    assert.ok(hashes.size > 4700, `few collisions among 5000 names (${5000 - hashes.size})`)
  })
})

describe('pop address (the pure part)', () => {
  test("without --app: the POP's addresses, the WireGuard one as address", () => {
    const r = describePopAddress(STATE, {pop: 'us'})
    assert.equal(r.address, 'fd12:3456:789a:3::1')
    assert.equal(r.backend, undefined)
  })

  test('with --app and --instance: the backend address and the hash', () => {
    const r = describePopAddress(STATE, {pop: 'us', app: 'web', instance: '12'})
    assert.equal(r.address, backendAddress(STATE, 'us', 'web', 12))
    assert.deepEqual(r.backend, {app: 'web', appHash: appHash16('web').toString(16).padStart(4, '0'), instance: 12})
  })

  test('bad input names the flag and exits 3', () => {
    const cases: Array<[Parameters<typeof describePopAddress>[1], string, RegExp]> = [
      [{pop: 'ap'}, '--pop', /POP "ap" has no 6PN id in the stored plan \(known: eu, sa, us\)/],
      [{pop: 'sa', app: 'web'}, '--instance', /needs both --app and --instance/],
      [{pop: 'sa', instance: '1'}, '--app', /needs both/],
      [{pop: 'sa', app: 'web', instance: '-1'}, '--instance', /instance "-1" is not a whole number 0-281474976710655/],
      [{pop: 'sa', app: 'web', instance: '1.5'}, '--instance', /"1\.5"/],
      [{pop: 'sa', app: 'web', instance: '281474976710656'}, '--instance', /"281474976710656"/],
      [{pop: 'sa', app: 'web', instance: 'seven'}, '--instance', /"seven"/],
      [{pop: 'sa', app: '', instance: '1'}, '--app', /app "" must be 1-64 characters/],
      [{pop: 'sa', app: 'a'.repeat(65), instance: '1'}, '--app', /must be 1-64 characters/],
      [{pop: 'sa', app: 'we\nb', instance: '1'}, '--app', /without control characters/],
    ]
    for (const [request, field, message] of cases) {
      assert.throws(
        () => describePopAddress(STATE, request),
        (e: any) => e.code === 'EP_ADDRESS_INVALID' && e.exitCode === 3 && e.field === field && message.test(e.message),
        JSON.stringify(request),
      )
    }
  })
})
