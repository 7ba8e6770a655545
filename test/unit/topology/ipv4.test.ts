import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {
  ipv4InNetwork,
  ipv4ToNumber,
  isIsoCountryCode,
  numberToIpv4,
  parseIpv4HostAddress,
  parseIpv4Network,
  parsePublicAddress,
} from '../../../src/topology/index.js'

describe('IPv4 helpers', () => {
  test('numbers round-trip', () => {
    assert.equal(ipv4ToNumber('10.50.1.1'), 0x0a320101)
    assert.equal(numberToIpv4(0x0a320101), '10.50.1.1')
    assert.equal(numberToIpv4(0xffffffff), '255.255.255.255')
    assert.equal(ipv4ToNumber('10.50.1'), undefined)
  })

  test('networks', () => {
    const n = parseIpv4Network('10.50.0.0/16')
    assert.deepEqual(n, {address: '10.50.0.0', prefix: 16, text: '10.50.0.0/16'})
    assert.ok(ipv4InNetwork('10.50.255.254', n))
    assert.ok(!ipv4InNetwork('10.51.0.1', n))
    assert.ok(ipv4InNetwork('192.168.7.130', parseIpv4Network('192.168.7.128/25')))
    assert.ok(!ipv4InNetwork('192.168.7.127', parseIpv4Network('192.168.7.128/25')))
    assert.throws(() => parseIpv4Network('10.50.0.0'), /CIDR/)
    assert.throws(() => parseIpv4Network('10.50.0.0/40'), /CIDR/)
    assert.throws(() => parseIpv4Network('10.50.0.1/16'), /host bits/)
    assert.throws(() => parseIpv4Network('10.0.0.0/7'), /\/8 to \/30/)
  })

  test('host addresses', () => {
    assert.equal(parseIpv4HostAddress('10.50.1.1'), '10.50.1.1')
    assert.equal(parseIpv4HostAddress('10.50.1.1/32'), '10.50.1.1')
    assert.throws(() => parseIpv4HostAddress('10.50.3.1/33'), {message: '"10.50.3.1/33" is not an IPv4 address'})
    assert.throws(() => parseIpv4HostAddress('10.50.300.1'), /not an IPv4 address/)
    assert.throws(() => parseIpv4HostAddress('10.50.3.1/24'), /is a network/)
  })

  test('public addresses', () => {
    assert.deepEqual(parsePublicAddress('203.0.113.10'), {address: '203.0.113.10', kind: 'ipv4'})
    assert.deepEqual(parsePublicAddress('[2001:DB8::20]'), {address: '2001:db8::20', kind: 'ipv6'})
    assert.deepEqual(parsePublicAddress('Edge-1.example.com'), {address: 'edge-1.example.com', kind: 'hostname'})
    assert.throws(() => parsePublicAddress('0.0.0.0'), /unspecified/)
    assert.throws(() => parsePublicAddress('::'), /unspecified/)
    assert.throws(() => parsePublicAddress('1.2.3.4:51820'), /has a port/)
    assert.throws(() => parsePublicAddress('1.2.3.256'), /not an IPv4 address/)
    assert.throws(() => parsePublicAddress('bad_name.example'), /not an IPv4/)
  })

  test('country codes are the assigned ISO 3166-1 alpha-2 ones', () => {
    for (const c of ['BR', 'US', 'DE', 'GB', 'JP', 'AQ']) assert.ok(isIsoCountryCode(c), c)
    for (const c of ['UK', 'EU', 'XX', 'de', 'BRA', '']) assert.ok(!isIsoCountryCode(c), c)
  })
})
