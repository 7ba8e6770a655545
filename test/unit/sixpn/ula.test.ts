import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {generateUlaPrefix, ntpTimestamp, parseSixpnNetwork, ulaGlobalId, ulaPrefixFromGlobalId, formatPrefix} from '../../../src/sixpn/index.js'

// 2024-01-02T03:04:05.678Z and a fixed node id. The expected values were computed separately with
// Python's hashlib and struct: NTP seconds 1704164645 + 2208988800 = 0xe93dfba5, fraction
// 678 ms * 2^32 / 1000 = 0xad916872, SHA-1(e93dfba5ad916872 0123456789abcdef) = …2d198b9d66.
const AT_MS = Date.UTC(2024, 0, 2, 3, 4, 5, 678)
const NODE_ID = Buffer.from('0123456789abcdef', 'hex')

describe('RFC 4193 ULA generation', () => {
  test('the NTP timestamp of step 1', () => {
    assert.equal(ntpTimestamp(AT_MS).toString('hex'), 'e93dfba5ad916872')
    assert.equal(ntpTimestamp(0).toString('hex'), '83aa7e8000000000', 'the Unix epoch is 2208988800 s after 1900')
    assert.equal(ntpTimestamp(Date.UTC(2036, 1, 7, 6, 28, 16)).toString('hex'), '0000000000000000', 'era 1 wraps to 0')
  })

  test('a seeded clock and node id give a known /48 (the least significant 40 bits of SHA-1)', () => {
    assert.equal(ulaGlobalId(ntpTimestamp(AT_MS), NODE_ID).toString('hex'), '2d198b9d66')
    const prefix = generateUlaPrefix({nowMs: () => AT_MS, systemId: () => NODE_ID})
    assert.equal(prefix, 'fd2d:198b:9d66::/48')
    assert.equal(formatPrefix(parseSixpnNetwork(prefix)), prefix, 'a valid 6PN network')
  })

  test('the prefix is fd + the Global ID, /48, whatever the id', () => {
    assert.equal(formatPrefix(ulaPrefixFromGlobalId(Buffer.alloc(5))), 'fd00::/48')
    assert.equal(formatPrefix(ulaPrefixFromGlobalId(Buffer.from('ffffffffff', 'hex'))), 'fdff:ffff:ffff::/48')
    assert.throws(() => ulaPrefixFromGlobalId(Buffer.alloc(4)), RangeError)
    assert.throws(() => ulaGlobalId(Buffer.alloc(8), Buffer.alloc(6)), RangeError)
  })

  test('different node ids or instants give different networks; the default source is random', () => {
    const at = (ms: number, id: string) => generateUlaPrefix({nowMs: () => ms, systemId: () => Buffer.from(id, 'hex')})
    assert.notEqual(at(AT_MS, '0123456789abcdef'), at(AT_MS, '0123456789abcdee'))
    assert.notEqual(at(AT_MS, '0123456789abcdef'), at(AT_MS + 1, '0123456789abcdef'))
    const seen = new Set(Array.from({length: 20}, () => generateUlaPrefix()))
    assert.equal(seen.size, 20)
    for (const p of seen) assert.equal(formatPrefix(parseSixpnNetwork(p)), p, `${p} is a canonical ULA /48`)
  })
})
