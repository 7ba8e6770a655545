import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import dnsPacket, {type Answer, type DecodedPacket, type Packet, type RecordType} from 'dns-packet'

import type {Backend} from '../../../src/balancer/backend.js'
import {Router} from '../../../src/balancer/router.js'
import {answer, FLAG_AA, MAX_UDP_PAYLOAD, type QueryContext} from '../../../src/dns/answer.js'
import {encodeWithin, handleMessage} from '../../../src/dns/dns-message.js'
import {explainDns} from '../../../src/dns/explain.js'
import {addressKey, buildRecordTable, type RecordTable, type ZoneOptions} from '../../../src/dns/record-table.js'
import {makeBackend} from '../../support/backend-fixture.js'

const NOW = 1_800_000_000_000
const ZONE: ZoneOptions = {domain: 'internal', ttlSecs: 5, negativeTtlSecs: 7, maxAnswers: 0, serial: 42}

/** Three apps over several regions; the router is the real one, so "routable" is its rule. */
function fixture(backends: Backend[], zone: Partial<ZoneOptions> = {}) {
  let monotonic = 0
  const router = new Router({localRegion: 'sa', bindingTtlMs: 1000, bindingMaxEntries: 10, failureCooldownMs: 10_000, now: () => NOW, monotonicNow: () => monotonic})
  router.setBackends(backends)
  const table = buildRecordTable(router.snapshot, {...ZONE, ...zone})
  const ctx = (extra: Partial<QueryContext> = {}): QueryContext => ({
    view: router,
    remoteAddress: '127.0.0.1',
    localAddress: '127.0.0.1',
    countryOf: (ip) => ({'90.0.0.1': 'FR', '8.8.8.8': 'US', '1.0.0.1': 'JP'})[ip] ?? null,
    nowMs: NOW,
    random: Math.random,
    ...extra,
  })
  return {router, table, ctx, advance: (ms: number) => (monotonic += ms)}
}

const THREE_APPS: Backend[] = [
  makeBackend('web-sa-1', {app: 'web', region: 'sa', country: 'BR', host: '10.1.0.1', host6: 'fd00:1::1'}),
  makeBackend('web-sa-2', {app: 'web', region: 'sa', country: 'AR', host: '10.1.0.2'}),
  makeBackend('web-eu-1', {app: 'web', region: 'eu', country: 'FR', host: '10.2.0.1', weight: 7}),
  makeBackend('web-us-1', {app: 'web', region: 'us', country: 'US', host: 'fd00:3::1', port: 9443}),
  makeBackend('api-eu-1', {app: 'api', region: 'eu', country: 'DE', host: '10.2.1.1'}),
  makeBackend('api-ap-1', {app: 'api', region: 'ap', country: 'JP', host: '10.4.1.1'}),
  makeBackend('db-us-1', {app: 'db', region: 'us', country: 'US', host: '10.3.2.1', isHealthy: false}),
]

function query(name: string, type: string, extra: Partial<Packet> = {}): Packet {
  return {type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{name, type: type as RecordType, class: 'IN'}], ...extra}
}

/** Runs answer() and decodes its encoded bytes, as a client sees them. */
function ask(table: RecordTable, ctx: QueryContext, name: string, type: string, extra: Partial<Packet> = {}): DecodedPacket & {rcode: string} {
  const response = answer(query(name, type, extra), table, ctx)
  return dnsPacket.decode(dnsPacket.encode(response.packet)) as DecodedPacket & {rcode: string}
}

const data = (p: Packet, type?: string) => (p.answers ?? []).filter((a) => type === undefined || a.type === type).map((a) => (a as {data: unknown}).data)
const sorted = (list: unknown[]) => [...list].map(String).sort()
const txt = (p: Packet) => data(p, 'TXT').map((d) => (d as Buffer[]).map((b) => b.toString()).join(''))

describe('record table', () => {
  test('apps by lower-case label, names DNS cannot carry noted', () => {
    const {table} = fixture([
      ...THREE_APPS,
      makeBackend('x1', {app: 'My App'}),
      makeBackend('x2', {app: 'ns'}),
      makeBackend('X3', {app: 'Shop', host: 'backend.example'}),
    ])
    assert.deepEqual([...table.apps.keys()], ['api', 'db', 'shop', 'web'])
    assert.equal(table.apps.get('web')!.backends.length, 4)
    assert.deepEqual(table.apps.get('web')!.backends[0].ipv6, [])
    assert.deepEqual(table.apps.get('web')!.backends.find((b) => b.backend.id === 'web-sa-1')!.ipv6, ['fd00:1::1'])
    assert.ok(table.notes.some((n) => n.includes('"My App"')))
    assert.ok(table.notes.some((n) => n.includes('"ns"') && n.includes('reserves')))
    assert.ok(table.notes.some((n) => n.includes('"backend.example"')))
    assert.equal(table.byAddress.get(addressKey('fd00:1:0::1'))?.id, 'web-sa-1', 'IPv6 spellings meet')
    assert.equal(table.byAddress.get(addressKey('::ffff:10.1.0.2'))?.id, 'web-sa-2')
  })
})

describe('answer: names and types', () => {
  const {table, ctx} = fixture(THREE_APPS)

  test('<app>.internal and global.<app>.internal: A and AAAA of every routable backend, by family', () => {
    for (const name of ['web.internal', 'global.web.internal', 'WEB.Internal.']) {
      const a = ask(table, ctx(), name, 'A')
      assert.equal(a.rcode, 'NOERROR')
      assert.equal(a.flag_aa, true)
      assert.equal(a.flag_ra, false)
      assert.equal(a.flag_rd, true, 'RD is copied')
      assert.equal(a.id, 4242)
      assert.deepEqual(sorted(data(a)), ['10.1.0.1', '10.1.0.2', '10.2.0.1'])
      assert.ok(a.answers!.every((r) => r.name === name.replace(/\.$/, '') && (r as {ttl: number}).ttl === 5), 'the name as asked, TTL 5')
      assert.deepEqual(sorted(data(ask(table, ctx(), name, 'AAAA'))), ['fd00:1::1', 'fd00:3::1'])
    }
    assert.deepEqual(sorted(data(ask(table, ctx(), 'api.internal', 'A'))), ['10.2.1.1', '10.4.1.1'])
  })

  test('answers are shuffled with the injected randomness', () => {
    const first = new Set<string>()
    for (let i = 0; i < 40; i++) first.add(String(data(ask(table, ctx(), 'web.internal', 'A'))[0]))
    assert.equal(first.size, 3, 'every address comes first sometimes')
    const fixed = () => data(ask(table, ctx({random: () => 0.999}), 'web.internal', 'A'))
    assert.deepEqual(fixed(), fixed())
  })

  test('<region>.<app>.internal: the app in that region; a region without routable backends is NXDOMAIN', () => {
    assert.deepEqual(sorted(data(ask(table, ctx(), 'sa.web.internal', 'A'))), ['10.1.0.1', '10.1.0.2'])
    assert.deepEqual(sorted(data(ask(table, ctx(), 'eu.web.internal', 'A'))), ['10.2.0.1'])
    assert.deepEqual(sorted(data(ask(table, ctx(), 'us.web.internal', 'AAAA'))), ['fd00:3::1'])
    assert.equal(ask(table, ctx(), 'us.web.internal', 'A').rcode, 'NOERROR', 'the name exists: NODATA for A')
    assert.equal(ask(table, ctx(), 'ap.web.internal', 'A').rcode, 'NXDOMAIN')
  })

  test('<id>.vm.<app>.internal: one backend, any case; unknown ids NXDOMAIN', () => {
    assert.deepEqual(data(ask(table, ctx(), 'web-sa-1.vm.web.internal', 'A')), ['10.1.0.1'])
    assert.deepEqual(data(ask(table, ctx(), 'WEB-SA-1.vm.web.internal', 'AAAA')), ['fd00:1::1'])
    assert.equal(ask(table, ctx(), 'nope.vm.web.internal', 'A').rcode, 'NXDOMAIN')
    assert.equal(ask(table, ctx(), 'api-eu-1.vm.web.internal', 'A').rcode, 'NXDOMAIN', 'ids belong to their app')
  })

  test('ids with dots are several labels', () => {
    const {table: t, ctx: c} = fixture([makeBackend('node.1', {app: 'web', host: '10.9.9.9'})])
    assert.deepEqual(data(ask(t, c(), 'node.1.vm.web.internal', 'A')), ['10.9.9.9'])
  })

  test('a drained, disabled or expired backend: its vm name is NODATA, and it leaves every other answer', () => {
    const {table: t, ctx: c} = fixture([
      makeBackend('a', {app: 'web', host: '10.0.0.1'}),
      makeBackend('b', {app: 'web', host: '10.0.0.2', isDraining: true}),
      makeBackend('c', {app: 'web', host: '10.0.0.3', isHealthy: false}),
      makeBackend('d', {app: 'web', host: '10.0.0.4', leaseExpiresAtMs: NOW - 1}),
      makeBackend('e', {app: 'web', host: '10.0.0.5', leaseExpiresAtMs: NOW + 60_000}),
    ])
    assert.deepEqual(sorted(data(ask(t, c(), 'web.internal', 'A'))), ['10.0.0.1', '10.0.0.5'])
    for (const id of ['b', 'c', 'd']) {
      const r = ask(t, c(), `${id}.vm.web.internal`, 'A')
      assert.equal(r.rcode, 'NOERROR', id)
      assert.deepEqual(r.answers, [])
      assert.equal(r.authorities![0].type, 'SOA')
    }
  })

  test('the router decides: a backend cooling down after a failed connect leaves DNS, and returns after the cooldown', () => {
    const f = fixture([makeBackend('a', {app: 'web', host: '10.0.0.1'}), makeBackend('b', {app: 'web', host: '10.0.0.2'})])
    f.router.markFailed('a')
    assert.deepEqual(data(ask(f.table, f.ctx(), 'web.internal', 'A')), ['10.0.0.2'])
    f.advance(10_001)
    assert.deepEqual(sorted(data(ask(f.table, f.ctx(), 'web.internal', 'A'))), ['10.0.0.1', '10.0.0.2'])
  })

  test('an app with no routable backend is NXDOMAIN under every name (Consul #1142)', () => {
    for (const name of ['db.internal', 'global.db.internal', 'us.db.internal', 'db-us-1.vm.db.internal', 'top1.nearest.of.db.internal', '_db._tcp.internal', 'regions.db.internal', 'vms.db.internal', 'vm.db.internal']) {
      const r = ask(table, ctx(), name, name.startsWith('_') ? 'SRV' : 'A')
      assert.equal(r.rcode, 'NXDOMAIN', name)
      assert.equal(r.flag_aa, true)
      assert.equal(r.authorities![0].type, 'SOA')
      assert.equal((r.authorities![0] as {ttl: number}).ttl, 7, 'the negative TTL')
    }
  })

  test('top<N>.nearest.of.<app>: the balancer order for the querier, N from 1 to 16, nothing consumed', () => {
    const fromFrance = ctx({remoteAddress: '90.0.0.1'})
    assert.deepEqual(data(ask(table, fromFrance, 'top1.nearest.of.web.internal', 'A')), ['10.2.0.1'], 'GeoIP FR → the FR backend')
    const fromBackend = ctx({remoteAddress: '10.1.0.2'})
    assert.deepEqual(data(ask(table, fromBackend, 'top1.nearest.of.web.internal', 'A')), ['10.1.0.2'], 'a backend address → its own country (AR)')
    assert.deepEqual(data(ask(table, fromBackend, 'top2.nearest.of.web.internal', 'A')), ['10.1.0.2', '10.1.0.1'], 'then its region')
    const fromUs = ctx({remoteAddress: '8.8.8.8'})
    assert.deepEqual(data(ask(table, fromUs, 'top1.nearest.of.web.internal', 'AAAA')), ['fd00:3::1'])
    assert.deepEqual(data(ask(table, fromUs, 'top1.nearest.of.web.internal', 'A'))[0], '10.1.0.1', 'only IPv4 backends compete for A; POP region sa next')
    const fromPrivate = ctx({remoteAddress: '192.168.7.7'})
    assert.deepEqual(sorted(data(ask(table, fromPrivate, 'top2.nearest.of.web.internal', 'A'))), ['10.1.0.1', '10.1.0.2'], "private → this POP's region first")
    assert.equal(data(ask(table, ctx(), 'top16.nearest.of.web.internal', 'A')).length, 3)
    for (const bad of ['top0', 'top17', 'top01', 'topx']) assert.equal(ask(table, ctx(), `${bad}.nearest.of.web.internal`, 'A').rcode, 'NXDOMAIN', bad)
  })

  test('top<N> follows load the way the balancer does: a loaded backend drops behind an idle one', () => {
    const f = fixture([makeBackend('a', {app: 'web', host: '10.0.0.1', softLimit: 1}), makeBackend('b', {app: 'web', host: '10.0.0.2', softLimit: 1})])
    assert.deepEqual(data(ask(f.table, f.ctx(), 'top1.nearest.of.web.internal', 'A')), ['10.0.0.1'], 'a tie breaks to the smaller id')
    const pick = f.router.acquire('192.168.1.1', null)
    assert.equal(pick!.backend.id, 'a')
    assert.deepEqual(data(ask(f.table, f.ctx(), 'top1.nearest.of.web.internal', 'A')), ['10.0.0.2'])
    assert.equal(f.router.activeConnections('a'), 1, 'DNS consumed nothing')
    assert.equal(f.router.activeConnections('b'), 0)
  })

  test('SRV for <app>.internal and _<app>._tcp.internal: geo tier, weight, port, target with its addresses', () => {
    for (const name of ['web.internal', '_web._tcp.internal']) {
      const r = ask(table, ctx({remoteAddress: '90.0.0.1'}), name, 'SRV')
      assert.equal(r.rcode, 'NOERROR')
      const srv = data(r, 'SRV') as {priority: number; weight: number; port: number; target: string}[]
      assert.deepEqual(
        srv.map((s) => [s.target, s.priority, s.weight, s.port]).sort(),
        [
          ['web-eu-1.vm.web.internal', 0, 7, 9000],
          ['web-sa-1.vm.web.internal', 2, 2, 9000],
          ['web-sa-2.vm.web.internal', 2, 2, 9000],
          ['web-us-1.vm.web.internal', 3, 2, 9443],
        ],
      )
      assert.deepEqual(srv.map((s) => s.priority), [...srv.map((s) => s.priority)].sort(), 'by priority')
      const extra = (r.additionals ?? []).filter((a) => a.type !== 'OPT').map((a) => `${a.name} ${a.type} ${(a as {data: string}).data}`)
      assert.deepEqual(extra.sort(), [
        'web-eu-1.vm.web.internal A 10.2.0.1',
        'web-sa-1.vm.web.internal A 10.1.0.1',
        'web-sa-1.vm.web.internal AAAA fd00:1::1',
        'web-sa-2.vm.web.internal A 10.1.0.2',
        'web-us-1.vm.web.internal AAAA fd00:3::1',
      ])
    }
    assert.equal(ask(table, ctx(), '_web._tcp.internal', 'A').rcode, 'NOERROR', 'NODATA')
    assert.equal(ask(table, ctx(), '_nope._tcp.internal', 'SRV').rcode, 'NXDOMAIN')
  })

  test('TXT: _apps.internal, regions.<app>.internal, vms.<app>.internal', () => {
    assert.deepEqual(txt(ask(table, ctx(), '_apps.internal', 'TXT')), ['api,web'], 'db has no routable backend')
    assert.deepEqual(txt(ask(table, ctx(), 'regions.web.internal', 'TXT')), ['eu,sa,us'])
    assert.deepEqual(txt(ask(table, ctx(), 'vms.api.internal', 'TXT')), ['api-ap-1 ap,api-eu-1 eu'])
  })

  test('TXT longer than 255 bytes is split into strings of at most 255', () => {
    const many = Array.from({length: 60}, (_, i) => makeBackend(`app-${String(i).padStart(2, '0')}-x`, {app: `application-${i}`}))
    const {table: t, ctx: c} = fixture(many)
    const r = ask(t, c(), '_apps.internal', 'TXT')
    const strings = data(r, 'TXT')[0] as Buffer[]
    assert.ok(strings.length > 1)
    assert.ok(strings.every((s) => s.length <= 255))
    assert.equal(Buffer.concat(strings).toString().split(',').length, 60)
  })

  test('SOA and NS at the apex; ns.<domain> is the address the query came to', () => {
    const soa = ask(table, ctx(), 'internal', 'SOA')
    assert.equal(soa.rcode, 'NOERROR')
    assert.deepEqual((soa.answers![0] as {data: unknown}).data, {
      mname: 'ns.internal',
      rname: 'hostmaster.internal',
      serial: 42,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 7,
    })
    assert.deepEqual(data(ask(table, ctx(), 'internal', 'NS')), ['ns.internal'])
    assert.deepEqual(data(ask(table, ctx({localAddress: 'fd00::3'}), 'ns.internal', 'AAAA')), ['fd00::3'])
    assert.deepEqual(data(ask(table, ctx({localAddress: 'fd00::3'}), 'ns.internal', 'A')), [])
    assert.equal(ask(table, ctx(), 'internal', 'A').rcode, 'NOERROR', 'NODATA at the apex')
  })

  test('ANY gets A and AAAA only (RFC 8482 style), TXT names their TXT', () => {
    const r = ask(table, ctx(), 'web.internal', 'ANY')
    assert.deepEqual(sorted(r.answers!.map((a) => a.type)), ['A', 'A', 'A', 'AAAA', 'AAAA'])
    assert.deepEqual(txt(ask(table, ctx(), 'regions.api.internal', 'ANY')), ['ap,eu'])
  })

  test('a known name without the type is NODATA with the SOA; never NOTIMP for AAAA', () => {
    for (const [name, type] of [
      ['api.internal', 'AAAA'],
      ['web.internal', 'TXT'],
      ['web.internal', 'MX'],
      ['_apps.internal', 'A'],
      ['regions.web.internal', 'A'],
      ['web.internal', 'UNKNOWN_65'],
    ]) {
      const r = ask(table, ctx(), name, type)
      assert.equal(r.rcode, 'NOERROR', `${name} ${type}`)
      assert.deepEqual(r.answers, [])
      assert.equal(r.authorities![0].type, 'SOA')
      assert.equal((r.authorities![0] as {ttl: number}).ttl, 7)
    }
  })

  test('empty non-terminals are NODATA, not NXDOMAIN (RFC 8020)', () => {
    for (const name of ['vm.web.internal', 'of.web.internal', 'nearest.of.web.internal', '_tcp.internal']) {
      const r = ask(table, ctx(), name, 'A')
      assert.equal(r.rcode, 'NOERROR', name)
      assert.deepEqual(r.answers, [])
    }
  })

  test('unknown names are NXDOMAIN with the SOA; names outside the domain REFUSED (no open resolver)', () => {
    for (const name of ['nope.internal', 'a.b.c.web.internal', 'x.top1.nearest.of.web.internal']) assert.equal(ask(table, ctx(), name, 'A').rcode, 'NXDOMAIN', name)
    for (const name of ['example.com', 'internal.example', 'xinternal', '.']) {
      const r = ask(table, ctx(), name, 'A')
      assert.equal(r.rcode, 'REFUSED', name)
      assert.equal(r.flag_aa, false)
      assert.deepEqual(r.answers, [])
    }
    assert.equal(ask(table, ctx(), 'internal', 'AXFR').rcode, 'REFUSED', 'no zone transfers')
  })

  test('other classes are refused, other opcodes NOTIMP, several questions FORMERR', () => {
    const ch = answer({type: 'query', id: 1, questions: [{name: 'web.internal', type: 'A', class: 'CH'}]}, table, ctx())
    assert.equal(ch.rcode, 'REFUSED')
    const notify = answer({...query('web.internal', 'A'), flags: 4 << 11}, table, ctx())
    assert.equal(notify.rcode, 'NOTIMP')
    assert.equal((notify.packet.flags! >> 11) & 0xf, 4, 'the opcode is echoed')
    const two = answer({type: 'query', id: 1, questions: [{name: 'web.internal', type: 'A'}, {name: 'api.internal', type: 'A'}]}, table, ctx())
    assert.equal(two.rcode, 'FORMERR')
  })

  test('EDNS0: an OPT comes back advertising 1232; the UDP limit is the client size capped at 1232; version 1 gets BADVERS', () => {
    const opt = (size: number, version = 0): Answer => ({name: '.', type: 'OPT', udpPayloadSize: size, extendedRcode: 0, ednsVersion: version, flags: 0, flag_do: false, options: []})
    assert.equal(answer(query('web.internal', 'A'), table, ctx()).udpLimit, 512)
    assert.equal(answer(query('web.internal', 'A', {additionals: [opt(4096)]}), table, ctx()).udpLimit, MAX_UDP_PAYLOAD)
    assert.equal(answer(query('web.internal', 'A', {additionals: [opt(900)]}), table, ctx()).udpLimit, 900)
    assert.equal(answer(query('web.internal', 'A', {additionals: [opt(100)]}), table, ctx()).udpLimit, 512)
    const r = ask(table, ctx(), 'web.internal', 'A', {additionals: [opt(4096)]})
    const back = r.additionals!.find((a) => a.type === 'OPT') as {udpPayloadSize: number}
    assert.equal(back.udpPayloadSize, 1232)
    const bad = answer(query('web.internal', 'A', {additionals: [opt(4096, 1)]}), table, ctx())
    assert.equal(bad.rcode, 'BADVERS')
    assert.equal((bad.packet.flags ?? 0) & 0xf, 0)
    assert.equal((bad.packet.additionals![0] as {extendedRcode: number}).extendedRcode, 1, 'BADVERS = 16 = extended 1 << 4')
    assert.equal(answer(query('web.internal', 'A', {additionals: [opt(512), opt(512)]}), table, ctx()).rcode, 'FORMERR')
  })

  test('a domain of several labels, and the TTL and max-answers settings', () => {
    const {table: t, ctx: c} = fixture(THREE_APPS, {domain: 'edge.internal', ttlSecs: 30, maxAnswers: 2})
    const r = ask(t, c(), 'web.edge.internal', 'A')
    assert.equal(r.answers!.length, 2)
    assert.ok(r.answers!.every((a) => (a as {ttl: number}).ttl === 30))
    assert.equal(ask(t, c(), 'web.internal', 'A').rcode, 'REFUSED')
    assert.equal((data(ask(t, c(), 'web.edge.internal', 'SRV'), 'SRV') as unknown[]).length, 2)
    assert.equal((ask(t, c(), 'edge.internal', 'SOA').answers![0] as {data: {mname: string}}).data.mname, 'ns.edge.internal')
  })

  test('explainDns: what the server answers a client for each app, from the same answer()', () => {
    const e = explainDns(table, ctx({remoteAddress: '1.0.0.1'}))
    assert.equal(e.domain, 'internal')
    assert.deepEqual(
      e.apps.map((a) => [a.app, a.rcode, a.addresses.join(' '), a.nearest.join(' ')]),
      [
        ['api', 'NOERROR', '10.2.1.1 10.4.1.1', '10.4.1.1'],
        ['db', 'NXDOMAIN', '', ''],
        ['web', 'NOERROR', '10.1.0.1 10.1.0.2 10.2.0.1 fd00:1::1 fd00:3::1', '10.1.0.1 fd00:1::1'],
      ],
    )
  })
})

describe('encoding within a size', () => {
  const {table, ctx} = fixture(Array.from({length: 200}, (_, i) => makeBackend(`b${String(i).padStart(3, '0')}`, {app: 'big', host: `10.7.${i >> 8}.${i & 255}`})))

  test('over 512 bytes: TC set, whole records only; TCP sizes take everything', () => {
    const response = answer(query('big.internal', 'A'), table, ctx())
    const udp = encodeWithin(response.packet, 512)
    assert.equal(udp.isTruncated, true)
    assert.ok(udp.bytes.length <= 512)
    const decoded = dnsPacket.decode(udp.bytes)
    assert.equal(decoded.flag_tc, true)
    assert.ok(decoded.answers!.length > 5 && decoded.answers!.length < 200)
    assert.ok(decoded.answers!.every((a) => a.type === 'A' && /^10\.7\./.test(String(a.data))), 'no partial record')
    const tcp = encodeWithin(response.packet, 65_535)
    assert.equal(tcp.isTruncated, false)
    assert.equal(dnsPacket.decode(tcp.bytes).answers!.length, 200)
  })

  test('SRV: the additional section goes first, without TC, when the answers alone fit', () => {
    const {table: t, ctx: c} = fixture(Array.from({length: 8}, (_, i) => makeBackend(`n${i}`, {app: 'mid', host: `10.8.0.${i}`})))
    const full = answer(query('mid.internal', 'SRV'), t, c()).packet
    assert.ok(dnsPacket.encode(full).length > 512)
    const fitted = encodeWithin(full, 512)
    const decoded = dnsPacket.decode(fitted.bytes)
    assert.equal(fitted.isTruncated, false)
    assert.equal(decoded.flag_tc, false)
    assert.equal(decoded.answers!.length, 8)
    assert.deepEqual(decoded.additionals, [])
  })
})

describe('handleMessage: bytes in, bytes out', () => {
  const {table, ctx} = fixture(THREE_APPS)

  test('a query round-trips with AA and the question echoed', () => {
    const bytes = dnsPacket.encode(query('Web.Internal', 'A'))
    const handled = handleMessage(bytes, 'udp', table, ctx())
    const reply = dnsPacket.decode(handled.reply!)
    assert.equal(handled.rcode, 'NOERROR')
    assert.equal(handled.qtype, 'A')
    assert.equal(reply.flags! & FLAG_AA, FLAG_AA)
    assert.deepEqual(reply.questions, [{name: 'Web.Internal', type: 'A', class: 'IN'}])
  })

  test('shorter than a header, or a response (QR): dropped', () => {
    assert.equal(handleMessage(Buffer.alloc(11), 'udp', table, ctx()).reply, null)
    const response = dnsPacket.encode({...query('web.internal', 'A'), type: 'response'})
    assert.equal(handleMessage(response, 'udp', table, ctx()).reply, null)
  })

  test('a readable header with a body that does not decode: FORMERR with the same id', () => {
    const bytes = dnsPacket.encode(query('web.internal', 'A'))
    const cut = bytes.subarray(0, bytes.length - 3)
    const handled = handleMessage(cut, 'tcp', table, ctx())
    assert.equal(handled.rcode, 'FORMERR')
    const reply = dnsPacket.decode(handled.reply!) as DecodedPacket & {rcode: string}
    assert.equal(reply.id, 4242)
    assert.equal(reply.rcode, 'FORMERR')
    assert.equal(reply.flag_qr, true)
  })

  test('qtype labels stay few for metrics', () => {
    assert.equal(handleMessage(dnsPacket.encode(query('web.internal', 'UNKNOWN_65')), 'udp', table, ctx()).qtype, 'HTTPS')
    assert.equal(handleMessage(dnsPacket.encode(query('web.internal', 'UNKNOWN_4242')), 'udp', table, ctx()).qtype, 'OTHER')
  })
})
