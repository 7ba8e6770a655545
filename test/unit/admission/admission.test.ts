import assert from 'node:assert/strict'
import net from 'node:net'
import {describe, test} from 'node:test'

import {Admission, REFUSED, UNCOUNTED, type AdmissionConfig} from '../../../src/admission/admission.js'
import {ClientKeys, hashKeyWords, KEY_EXEMPT, KEY_IPV4, KEY_IPV6, parseIpv6Into} from '../../../src/admission/client-key.js'
import {bytesFor} from '../../../src/admission/client-table.js'
import {refilled} from '../../../src/admission/token-bucket.js'
import {createLogger} from '../../../src/log/logger.js'
import {ipv6Groups} from '../../../src/net/address.js'

function clock(start = 0) {
  let now = start
  return {now: () => now, advance: (ms: number) => (now += ms)}
}

function admission(config: Partial<AdmissionConfig>, now: () => number) {
  const lines: Record<string, unknown>[] = []
  const logger = createLogger({format: 'json', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>), now: () => new Date(now())})
  const a = new Admission(
    {maxConnsPerKey: 0, prefixes: {ipv4: 32, ipv6: 64}, exempt: '127.0.0.1/32,::1/128', isDryRun: false, maxEntries: 1000, ...config},
    logger,
    now,
  )
  return {a, lines}
}

describe('client keys', () => {
  test('IPv4: the address itself (no allocation), or the masked prefix', () => {
    const keys = new ClientKeys({ipv4: 32, ipv6: 64}, '')
    const ip = '203.0.113.7'
    assert.equal(keys.keyOf(ip), ip)
    assert.equal(new ClientKeys({ipv4: 24, ipv6: 64}, '').keyOf(ip), '203.0.113.0/24')
  })

  test('IPv6: one key per /64, whatever the interface id or the notation', () => {
    const keys = new ClientKeys({ipv4: 32, ipv6: 64}, '')
    const k = keys.keyOf('2001:db8:1:2::1')
    assert.equal(k, '2001:db8:1:2::/64')
    for (const ip of ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002:0:0:0:9', '2001:db8:1:2:a:b:c:d%eth0']) assert.equal(keys.keyOf(ip), k, ip)
    assert.notEqual(keys.keyOf('2001:db8:1:3::1'), k)
    assert.equal(new ClientKeys({ipv4: 32, ipv6: 48}, '').keyOf('2001:db8:1:2::1'), '2001:db8:1::/48')
    assert.equal(new ClientKeys({ipv4: 32, ipv6: 56}, '').keyOf('2001:db8:1:2ff::1'), '2001:db8:1:200::/56')
    assert.equal(new ClientKeys({ipv4: 32, ipv6: 128}, '').keyOf('fd00::1'), 'fd00:0:0:0:0:0:0:1')
  })

  test('the hand-written IPv6 parser agrees with the reference on valid and invalid literals', () => {
    const out = new Uint16Array(8)
    const valid = ['::', '::1', '1::', 'fd00::1', '2001:db8::8:800:200c:417a', '1:2:3:4:5:6:7:8', '::ffff:192.0.2.1', '64:ff9b::192.0.2.33', 'fe80::1%lo', 'ABCD:ef01::', '1:2:3:4:5:6::8', '1::3:4:5:6:7:8']
    for (const ip of valid) {
      assert.ok(parseIpv6Into(ip, out), ip)
      assert.deepEqual([...out], ipv6Groups(ip), ip)
    }
    const invalid = ['', ':', ':::', '1:2', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', 'g::1', '1:2:3:4:5:6:7:', ':1:2:3:4:5:6:7', '::1.2.3', '1.2.3.4', '::ffff:1.2.3.4:5']
    for (const ip of invalid) {
      assert.equal(parseIpv6Into(ip, out), false, ip)
      assert.equal(net.isIPv6(ip), false, `${ip} is indeed invalid`)
    }
  })

  test('exempt CIDRs, IPv4 and IPv6', () => {
    const keys = new ClientKeys({ipv4: 32, ipv6: 64}, '127.0.0.1/32,10.0.0.0/8,::1/128,fd00:1::/32')
    assert.equal(keys.keyOf('127.0.0.1'), null)
    assert.equal(keys.keyOf('10.200.3.4'), null)
    assert.equal(keys.keyOf('::1'), null)
    assert.equal(keys.keyOf('fd00:1:ffff::9'), null)
    assert.equal(keys.keyOf('127.0.0.2'), '127.0.0.2')
    assert.equal(keys.keyOf('fd00:2::9'), 'fd00:2:0:0::/64')
    assert.deepEqual(keys.describe('10.1.1.1'), {key: '10.1.1.1', isExempt: true})
  })
})

describe('token bucket', () => {
  test('a burst of 50 from one key with burst 10 admits exactly 10, then the refill, to the token', () => {
    const c = clock()
    const o = {refillPerMs: 100 / 1000, burst: 10}
    let tokens = 10
    let at = 0
    const take = () => {
      const t = refilled(tokens, at, c.now(), o)
      at = c.now()
      tokens = t >= 1 ? t - 1 : t
      return t >= 1
    }
    let admitted = 0
    for (let i = 0; i < 50; i++) if (take()) admitted++
    assert.equal(admitted, 10)
    c.advance(55) // 5.5 tokens
    admitted = 0
    for (let i = 0; i < 50; i++) if (take()) admitted++
    assert.equal(admitted, 5)
    c.advance(10_000)
    admitted = 0
    for (let i = 0; i < 50; i++) if (take()) admitted++
    assert.equal(admitted, 10, 'never more than the burst, however long the pause')
    assert.equal(refilled(3, 100, 50, o), 3, 'a clock that went back adds nothing')
  })

  test('a burst spread over time: 10 at once plus one per 10 ms (100/s)', () => {
    const c = clock()
    const {a} = admission({rate: {perSecond: 100, burst: 10}}, c.now)
    let admitted = 0
    let refused = 0
    for (let i = 0; i < 50; i++) {
      if (a.admit('127.0.0.2') !== REFUSED) admitted++
      else refused++
      c.advance(1)
    }
    // 50 ms: 10 from the bucket + 5 refilled (one every 10 ms: at 10, 20, 30, 40 and 50 ms... 49 ms elapsed: 4).
    assert.equal(admitted, 14)
    assert.equal(refused, 36)
    assert.equal(a.lastRefusal, 'rate_limited')
  })
})

describe('admission', () => {
  test('127.0.0.2 is limited while 127.0.0.3 is unaffected', () => {
    const c = clock()
    const {a} = admission({rate: {perSecond: 1, burst: 10}}, c.now)
    let two = 0
    for (let i = 0; i < 50; i++) if (a.admit('127.0.0.2') !== REFUSED) two++
    let three = 0
    for (let i = 0; i < 10; i++) if (a.admit('127.0.0.3') !== REFUSED) three++
    assert.equal(two, 10)
    assert.equal(three, 10)
    assert.equal(a.lastRefusal, 'rate_limited')
  })

  test('concurrent cap per key: the third is refused, a slot frees on release; refusals take no token', () => {
    const c = clock()
    const {a} = admission({maxConnsPerKey: 2, rate: {perSecond: 1, burst: 3}}, c.now)
    const first = a.admit('198.51.100.1')
    const second = a.admit('198.51.100.1')
    assert.ok(first >= 0 && second === first)
    assert.equal(a.admit('198.51.100.1'), REFUSED)
    assert.equal(a.lastRefusal, 'too_many_connections')
    a.release(first)
    const third = a.admit('198.51.100.1')
    assert.notEqual(third, REFUSED, 'the refused one did not spend the last token')
    assert.equal(a.describe('198.51.100.1').connections, 2)
    a.release(second)
    a.release(third)
    assert.equal(a.describe('198.51.100.1').connections, 0)
  })

  test('exempt addresses are neither limited nor counted', () => {
    const c = clock()
    const {a} = admission({maxConnsPerKey: 1, rate: {perSecond: 1, burst: 1}}, c.now)
    for (let i = 0; i < 20; i++) assert.equal(a.admit('127.0.0.1'), UNCOUNTED)
    assert.equal(a.table.size, 0)
    assert.equal(a.describe('127.0.0.1').exempt, true)
  })

  test('dry run lets everything through, counts what it would refuse, and logs at most once a second', () => {
    const c = clock()
    const {a, lines} = admission({isDryRun: true, maxConnsPerKey: 1, rate: {perSecond: 1, burst: 2}}, c.now)
    const held = a.admit('192.0.2.9')
    for (let i = 0; i < 10; i++) assert.notEqual(a.admit('192.0.2.9'), REFUSED)
    assert.equal(a.dryRunWouldRefuse, 10)
    assert.equal(lines.length, 1)
    assert.equal(lines[0].event, 'client_too_many_connections')
    assert.equal(lines[0].dry_run, true)
    assert.equal(lines[0].key, '192.0.2.9')
    c.advance(1000)
    a.admit('192.0.2.9')
    assert.equal(lines.length, 2)
    assert.equal(lines[1].suppressed, 9)
    a.release(held)
  })

  test('describe() shows the bucket as of now and changes nothing', () => {
    const c = clock()
    const {a} = admission({rate: {perSecond: 10, burst: 10}, maxConnsPerKey: 5}, c.now)
    assert.deepEqual(a.describe('2001:db8::1'), {
      ip: '2001:db8::1',
      key: '2001:db8:0:0::/64',
      enabled: true,
      exempt: false,
      dry_run: false,
      tracked: false,
      tokens: 10,
      burst: 10,
      refill_per_sec: 10,
      connections: 0,
      max_connections: 5,
    })
    for (let i = 0; i < 4; i++) a.admit('2001:db8::1')
    c.advance(150)
    const d = a.describe('2001:db8::2')
    assert.equal(d.tokens, 7.5)
    assert.equal(d.connections, 4, 'another address of the same /64')
    assert.equal(a.describe('2001:db8::2').tokens, 7.5, 'describing takes nothing')
  })
})

describe('key table bound', () => {
  test('200,000 keys through a table of 100,000: the bound holds in a fixed block of shared memory, idle keys make room', () => {
    const c = clock(1)
    const {a} = admission({rate: {perSecond: 1, burst: 10}, maxEntries: 100_000}, c.now)
    assert.equal(a.table.buffer.byteLength, bytesFor(100_000))
    assert.equal(bytesFor(100_000), 100_000 * 128 + 64, '128 bytes per key of the bound')
    for (let i = 0; i < 200_000; i++) {
      c.advance(0.001)
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
      const e = a.admit(ip)
      assert.ok(e >= 0, ip)
      a.release(e)
    }
    assert.ok(a.table.size <= 100_000 && a.table.size > 99_000, `size ${a.table.size}`)
    assert.equal(a.table.size + a.table.evicted, 200_000)
    assert.equal(a.describe('10.3.13.63').tracked, true, 'the newest stayed')
  })

  test('a key with open connections is never evicted; when every entry a new key may use is busy, it is refused (table_full, logged once per 10 s)', () => {
    const c = clock(1)
    const {a, lines} = admission({maxConnsPerKey: 2, maxEntries: 8}, c.now)
    const held = Array.from({length: 8}, (_, i) => a.admit(`192.0.2.${i + 1}`))
    assert.ok(held.every((e) => e >= 0))
    for (let i = 0; i < 100; i++) {
      assert.equal(a.admit(`198.51.100.${i}`), REFUSED)
      assert.equal(a.lastRefusal, 'table_full')
    }
    const full = lines.filter((l) => l.event === 'admission_table_full')
    assert.equal(full.length, 1)
    assert.equal(full[0].reason, 'table_full')
    // The busy keys kept their counts: each still has room for exactly one more.
    for (let i = 0; i < 8; i++) assert.equal(a.describe(`192.0.2.${i + 1}`).connections, 1)
    c.advance(10_000)
    assert.equal(a.admit('198.51.100.200'), REFUSED)
    assert.equal(lines.filter((l) => l.event === 'admission_table_full').length, 2, 'ten seconds later, one more line')
    // One client closes: its idle key makes room for a new one.
    a.release(held[3])
    const fresh = a.admit('198.51.100.201')
    assert.ok(fresh >= 0)
    assert.equal(a.describe('192.0.2.4').tracked, false)
    assert.equal(a.table.evicted, 1)
    for (const [i, e] of held.entries()) if (i !== 3) assert.equal(a.describe(`192.0.2.${i + 1}`).connections, 1, String(e))
  })
})

describe('client key words and hash', () => {
  test('the key as words: IPv4 masked to its prefix, IPv6 to its /64; exempt addresses none', () => {
    const keys = new ClientKeys({ipv4: 24, ipv6: 64}, '127.0.0.1/32')
    const w = new Int32Array(4)
    assert.equal(keys.keyWordsInto('203.0.113.7', w), KEY_IPV4)
    assert.deepEqual([...w], [(203 << 24) | (0 << 16) | (113 << 8), 0, 0, 0])
    assert.equal(keys.keyWordsInto('127.0.0.1', w), KEY_EXEMPT)
    assert.equal(keys.keyWordsInto('127.0.0.1', w, false), KEY_IPV4)
    const v6 = new Int32Array(4)
    assert.equal(keys.keyWordsInto('2001:db8:1:2:ffff::9', v6), KEY_IPV6)
    assert.deepEqual([...v6], [0x20010db8, 0x00010002, 0, 0])
    const other = new Int32Array(4)
    keys.keyWordsInto('2001:db8:1:2::1', other)
    assert.deepEqual([...other], [...v6], 'one /64, one key')
    const v6p = new Int32Array(4)
    new ClientKeys({ipv4: 32, ipv6: 56}, '').keyWordsInto('2001:db8:1:2ff::1', v6p)
    assert.deepEqual([...v6p], [0x20010db8, 0x00010200, 0, 0])
  })

  test('hashes: never 0, the kind counts, and 65,536 neighbouring addresses spread evenly', () => {
    const w = new Int32Array(4)
    assert.notEqual(hashKeyWords(KEY_IPV4, w), hashKeyWords(KEY_IPV6, w))
    const buckets = new Uint32Array(64)
    for (let i = 0; i < 65_536; i++) {
      w[0] = 0x0a000000 + i
      const h = hashKeyWords(KEY_IPV4, w)
      assert.notEqual(h, 0)
      buckets[(h >>> 0) % 64]++
    }
    // 1,024 expected per bucket: a weak hash of sequential addresses would pile them into a few.
    for (const n of buckets) assert.ok(n > 850 && n < 1200, `bucket of ${n}`)
  })
})
