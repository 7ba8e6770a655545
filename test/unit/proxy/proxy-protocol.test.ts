import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {encodeProxyV1, encodeProxyV2, parseProxyHeader, V2_SIGNATURE} from '../../../src/proxy/proxy-protocol.js'

const ok = (buf: Buffer) => {
  const r = parseProxyHeader(buf)
  assert.equal(r.kind, 'ok', JSON.stringify(r))
  return r as Extract<typeof r, {kind: 'ok'}>
}

describe('PROXY v1', () => {
  test('TCP4', () => {
    const h = Buffer.from('PROXY TCP4 200.160.2.3 10.0.0.1 51234 8080\r\nGET /')
    const r = ok(h)
    assert.deepEqual([r.version, r.length, r.source], [1, h.indexOf('GET'), {address: '200.160.2.3', port: 51234}])
  })

  test('TCP6', () => {
    const r = ok(Buffer.from('PROXY TCP6 2a01:e0a::1 ::1 443 8443\r\n'))
    assert.deepEqual(r.source, {address: '2a01:e0a::1', port: 443})
  })

  test('UNKNOWN means: use the connection address', () => {
    const r = ok(Buffer.from('PROXY UNKNOWN\r\n'))
    assert.equal(r.source, null)
    assert.equal(r.length, 15)
    assert.equal(ok(Buffer.from('PROXY UNKNOWN ffff::1 ::1 1 2\r\n')).source, null)
  })

  test('truncated headers ask for more bytes, byte by byte', () => {
    const full = encodeProxyV1({address: '1.2.3.4', port: 1}, {address: '5.6.7.8', port: 2})
    for (let n = 0; n < full.length; n++) assert.equal(parseProxyHeader(full.subarray(0, n)).kind, 'incomplete', `at ${n}`)
    assert.equal(ok(full).length, full.length)
  })

  const invalid: [string, string][] = [
    ['garbage', 'GET / HTTP/1.1\r\n\r\n'],
    ['wrong protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['family mismatch', 'PROXY TCP4 ::1 ::1 1 2\r\n'],
    ['bad address', 'PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n'],
    ['port out of range', 'PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n'],
    ['leading zero port', 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'],
    ['missing fields', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'],
    ['lower case', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'],
  ]
  for (const [name, text] of invalid) {
    test(`invalid: ${name}`, () => assert.equal(parseProxyHeader(Buffer.from(text)).kind, 'invalid'))
  }

  test('a line longer than 107 bytes without CRLF is invalid', () => {
    assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 ' + '1'.repeat(100))).kind, 'invalid')
  })
})

describe('PROXY v2', () => {
  test('TCP4 with trailing payload', () => {
    const h = encodeProxyV2({address: '200.160.2.3', port: 40000}, {address: '10.0.0.1', port: 8080})
    const r = ok(Buffer.concat([h, Buffer.from('payload')]))
    assert.deepEqual([r.version, r.length, r.source], [2, 28, {address: '200.160.2.3', port: 40000}])
  })

  test('TCP6', () => {
    const r = ok(encodeProxyV2({address: '2001:db8:0:1::7', port: 443}))
    assert.deepEqual(r.source, {address: '2001:db8:0:1::7', port: 443})
  })

  test('an IPv4-mapped IPv6 source reads as IPv4', () => {
    const h = encodeProxyV2({address: '::', port: 1})
    h.writeUInt16BE(0xffff, 16 + 10)
    Buffer.from([90, 0, 0, 1]).copy(h, 16 + 12)
    assert.deepEqual(ok(h).source, {address: '90.0.0.1', port: 1})
  })

  test('LOCAL (health checks from the load balancer) uses the connection address', () => {
    const r = ok(encodeProxyV2(null))
    assert.deepEqual([r.source, r.length], [null, 16])
  })

  test('TLVs after the addresses are skipped', () => {
    const h = encodeProxyV2({address: '1.2.3.4', port: 5})
    const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63])
    const withTlv = Buffer.concat([h, tlv])
    withTlv.writeUInt16BE(12 + tlv.length, 14)
    const r = ok(withTlv)
    assert.equal(r.length, withTlv.length)
    assert.deepEqual(r.source, {address: '1.2.3.4', port: 5})
  })

  test('truncated headers ask for more bytes', () => {
    const full = encodeProxyV2({address: '2001:db8::1', port: 1})
    for (let n = 0; n < full.length; n++) assert.equal(parseProxyHeader(full.subarray(0, n)).kind, 'incomplete', `at ${n}`)
  })

  test('invalid: wrong version, command, family, short address block, huge length', () => {
    const base = encodeProxyV2({address: '1.2.3.4', port: 5})
    const mutate = (i: number, v: number) => {
      const b = Buffer.from(base)
      b[i] = v
      return b
    }
    assert.equal(parseProxyHeader(mutate(12, 0x11)).kind, 'invalid')
    assert.equal(parseProxyHeader(mutate(12, 0x2f)).kind, 'invalid')
    assert.equal(parseProxyHeader(mutate(13, 0x41)).kind, 'invalid')
    const short = Buffer.from(base)
    short.writeUInt16BE(4, 14)
    assert.equal(parseProxyHeader(short).kind, 'invalid')
    const huge = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])])
    assert.equal(parseProxyHeader(huge).kind, 'invalid')
  })
})
