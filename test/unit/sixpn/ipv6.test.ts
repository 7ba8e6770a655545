import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {findPrefixOverlaps, formatIpv6, formatPrefix, parseIpv6, parsePrefix, prefixContains, prefixesOverlap} from '../../../src/sixpn/index.js'

/** WHATWG URL parsing normalises IPv6 hosts per RFC 5952: an implementation independent of ours. */
function urlCanonical(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1)
}

describe('IPv6 text and numbers', () => {
  test('parses every form node:net accepts and prints RFC 5952 text, as URL does', () => {
    const cases = [
      '::',
      '::1',
      '1::',
      'fd12:3456:789a::1',
      'FD12:3456:789A:0000:0000:0000:0000:0001',
      '2001:db8:0:0:1:0:0:1',
      '2001:0:0:1:0:0:0:1',
      '2001:db8::1:0:0:1',
      '1:0:0:2:0:0:0:3',
      'fd00:0:0:1::',
      '::ffff:192.0.2.1',
      '64:ff9b::198.51.100.7',
      '1:2:3:4:5:6:7:8',
      'fd57:a312:81a3:2:4c1d:0:0:7',
    ]
    for (const text of cases) {
      const value = parseIpv6(text)
      assert.notEqual(value, undefined, text)
      const formatted = formatIpv6(value!)
      assert.equal(formatted, urlCanonical(text).replace(/:(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) => `:${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`), text)
      assert.equal(parseIpv6(formatted), value, `${text} round-trips`)
    }
    assert.equal(parseIpv6('::1'), 1n)
    assert.equal(parseIpv6('::ffff:192.0.2.1'), 0xffff_c000_0201n)
    assert.equal(formatIpv6((1n << 128n) - 1n), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')
  })

  test('refuses what is not an IPv6 literal', () => {
    for (const text of ['', '1.2.3.4', 'fd12::1::2', 'fe80::1%eth0', '[::1]', 'fd12:3456:789a::/48', '12345::', 'g::1']) assert.equal(parseIpv6(text), undefined, text)
  })

  test('prefixes of both families: parse, host bits, containment, overlap', () => {
    const ula = parsePrefix('fd12:3456:789a::/48')
    assert.equal(formatPrefix(ula), 'fd12:3456:789a::/48')
    assert.equal(formatPrefix(parsePrefix('10.50.0.0/16')), '10.50.0.0/16')
    assert.throws(() => parsePrefix('fd12:3456:789a:1::/48'), /bits set past \/48; the prefix is fd12:3456:789a::\/48/)
    assert.throws(() => parsePrefix('10.50.1.0/16'), /bits set past \/16; the prefix is 10\.50\.0\.0\/16/)
    for (const bad of ['fd12::', 'fd12::/129', '10.0.0.0/33', 'x/8', 'fd12::/-1', 'fd12::/4a']) assert.throws(() => parsePrefix(bad), /not an address prefix in CIDR form/, bad)

    assert.ok(prefixContains(ula, 6, parseIpv6('fd12:3456:789a:ffff::1')!))
    assert.ok(!prefixContains(ula, 6, parseIpv6('fd12:3456:789b::1')!))
    assert.ok(!prefixContains(parsePrefix('0.0.0.0/0'), 6, 1n), 'families never mix')
    assert.ok(prefixesOverlap(parsePrefix('fd12:3456:789a:1::/64'), ula))
    assert.ok(prefixesOverlap(ula, parsePrefix('fd12:3456:789a:1::/64')), 'symmetric')
    assert.ok(!prefixesOverlap(parsePrefix('fd12:3456:789a:1::/64'), parsePrefix('fd12:3456:789a:2::/64')))
    assert.ok(prefixesOverlap(parsePrefix('10.50.1.1/32'), parsePrefix('10.50.0.0/16')))
    assert.ok(!prefixesOverlap(parsePrefix('10.50.1.1/32'), parsePrefix('10.50.1.2/32')))
    assert.ok(!prefixesOverlap(parsePrefix('::/0'), parsePrefix('0.0.0.0/0')))
  })

  test('findPrefixOverlaps reports every overlapping pair, blaming the later entry', () => {
    const entries = ['10.50.1.1/32', 'fd12:3456:789a:1::/64', '10.50.2.1/32', 'fd12:3456:789a::/56', '10.50.1.1/32'].map((cidr) => ({cidr, prefix: parsePrefix(cidr)}))
    const pairs = findPrefixOverlaps(entries).map((o) => [o.first.cidr, o.second.cidr])
    assert.deepEqual(pairs, [
      ['fd12:3456:789a:1::/64', 'fd12:3456:789a::/56'],
      ['10.50.1.1/32', '10.50.1.1/32'],
    ])
    assert.deepEqual(findPrefixOverlaps(entries.slice(0, 3)), [])
  })
})
