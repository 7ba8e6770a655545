import assert from 'node:assert/strict'
import net from 'node:net'
import {describe, test} from 'node:test'

import {ipv4ToInt, ipv6Groups, isNonPublicAddress, normalizeIp, parseCidrList, parseHostPort} from '../../../src/net/address.js'

describe('address parsing', () => {
  test('host:port forms', () => {
    assert.deepEqual(parseHostPort('0.0.0.0:8080'), {host: '0.0.0.0', port: 8080})
    assert.deepEqual(parseHostPort('[::]:0'), {host: '::', port: 0})
    assert.deepEqual(parseHostPort('localhost:9'), {host: 'localhost', port: 9})
    for (const bad of ['8080', ':80', '[::1]80', '::1:80', '1.2.3.4:70000', '1.2.3.4:-1', '1.2.3.4:http']) assert.throws(() => parseHostPort(bad), bad)
  })

  test('IPv4 and IPv6 conversions', () => {
    assert.equal(ipv4ToInt('255.255.255.255'), 0xffffffff)
    assert.equal(ipv4ToInt('10.1.2.3'), 0x0a010203)
    for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', 'a.b.c.d', '', '1.2.3.4 ']) assert.equal(ipv4ToInt(bad), -1, bad)
    assert.deepEqual(ipv6Groups('::'), [0, 0, 0, 0, 0, 0, 0, 0])
    assert.deepEqual(ipv6Groups('::1'), [0, 0, 0, 0, 0, 0, 0, 1])
    assert.deepEqual(ipv6Groups('2001:db8::8:1'), [0x2001, 0xdb8, 0, 0, 0, 0, 8, 1])
    assert.deepEqual(ipv6Groups('::ffff:10.1.2.3'), [0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203])
    assert.deepEqual(ipv6Groups('fe80::1%eth0'), [0xfe80, 0, 0, 0, 0, 0, 0, 1])
    assert.equal(ipv6Groups('1.2.3.4'), null)
    assert.equal(normalizeIp('::ffff:1.2.3.4'), '1.2.3.4')
  })

  test('private, loopback and documentation addresses have no country; public ones do', () => {
    for (const ip of ['10.0.0.1', '127.0.0.1', '172.31.255.255', '192.168.1.1', '169.254.0.1', '100.64.0.1', '192.0.2.55', '198.51.100.7', '203.0.113.10', '224.0.0.1', '0.0.0.0', '::1', '::', 'fd00::12', 'fc00::1', 'fe80::1', 'ff02::1', '2001:db8::20', 'not an ip']) {
      assert.equal(isNonPublicAddress(ip), true, ip)
    }
    for (const ip of ['200.160.2.3', '90.0.0.1', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2a01:e0a::1', '2804:14c::1', '2001:4860:4860::8888']) {
      assert.equal(isNonPublicAddress(ip), false, ip)
    }
  })

  test('CIDR lists agree with net.BlockList on thousands of addresses', () => {
    const spec = '10.0.0.0/8,192.168.4.0/22,1.2.3.4,0.0.0.0/1,2001:db8::/33,::1/128,fd00::/8,2a01:e00::/26'
    const ours = parseCidrList(spec)
    const reference = new net.BlockList()
    for (const entry of spec.split(',')) {
      const [address, bits] = entry.split('/')
      const family = net.isIPv4(address) ? 'ipv4' : 'ipv6'
      reference.addSubnet(address, bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits), family)
    }
    let seed = 42
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    for (let i = 0; i < 5000; i++) {
      const v4 = [rand(4) === 0 ? 10 : rand(256), 168 + rand(2) * 0, rand(256), rand(256)].join('.')
      assert.equal(ours.contains(v4), reference.check(v4, 'ipv4'), v4)
      const groups = [rand(2) ? 0x2001 : [0x2a01, 0xfd00, 0][rand(3)], rand(2) ? 0xdb8 : rand(65536), rand(65536), 0, 0, 0, 0, rand(3)]
      const v6 = groups.map((g) => g.toString(16)).join(':')
      assert.equal(ours.contains(v6), reference.check(v6, 'ipv6'), v6)
    }
    assert.equal(ours.contains('::ffff:10.9.9.9'), true, 'IPv4-mapped clients match IPv4 blocks')
    assert.throws(() => parseCidrList('10.0.0.0/33'), /prefix length/)
    assert.throws(() => parseCidrList('bogus'), /not an IP/)
  })
})
