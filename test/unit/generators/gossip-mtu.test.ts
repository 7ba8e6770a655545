import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {gossipMaxMtuForTunnel, QUIC_MIN_UDP_PAYLOAD} from '../../../src/generators/index.js'

describe('gossip.max_mtu inside WireGuard', () => {
  test("wg-quick's 1420 leaves 1392 bytes of UDP payload over IPv4, 1372 over IPv6", () => {
    assert.equal(gossipMaxMtuForTunnel(1420).value, 1392)
    assert.equal(gossipMaxMtuForTunnel(1420, 'ipv6').value, 1372)
    assert.match(gossipMaxMtuForTunnel(1420).explanation.join('\n'), /1420 - inner IPv4 header 20 - UDP header 8 = 1392/)
  })

  test('never below the QUIC minimum Corrosion enforces', () => {
    assert.equal(gossipMaxMtuForTunnel(1228).value, QUIC_MIN_UDP_PAYLOAD)
    assert.throws(() => gossipMaxMtuForTunnel(1227), /below QUIC's minimum of 1200/)
    assert.throws(() => gossipMaxMtuForTunnel(1247, 'ipv6'), RangeError)
  })
})
