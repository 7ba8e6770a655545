// The arithmetic behind gossip.max_mtu when Corrosion gossips inside a WireGuard tunnel, with the
// explanation that goes into the TOML. It knows the tunnel's MTU, not which tunnel it is.

// Corrosion hands max_mtu to quinn as both initial_mtu and min_mtu and switches MTU discovery off
// (corro-agent api/peer/mod.rs), and quinn's "MTU" is the UDP payload size. So max_mtu must be the
// largest UDP payload that fits in one packet of the tunnel interface: wg MTU − inner IP header −
// UDP header. wg-quick's default MTU of 1420 already leaves room for WireGuard's own overhead over
// IPv6 (1500 − 40 IPv6 − 8 UDP − 32 WireGuard), so it holds whichever family the endpoints use.
// Corrosion refuses values below 1200 (QUIC's minimum, RFC 9000).

export const QUIC_MIN_UDP_PAYLOAD = 1200
const UDP_HEADER = 8
const INNER_IP_HEADER = {ipv4: 20, ipv6: 40} as const

export interface GossipMaxMtu {
  value: number
  /** Comment lines for the TOML, saying where the number comes from. */
  explanation: string[]
}

/** max_mtu for gossip carried over a tunnel of `tunnelMtu` with `family` inner addresses. */
export function gossipMaxMtuForTunnel(tunnelMtu: number, family: 'ipv4' | 'ipv6' = 'ipv4'): GossipMaxMtu {
  const ipHeader = INNER_IP_HEADER[family]
  const value = tunnelMtu - ipHeader - UDP_HEADER
  if (value < QUIC_MIN_UDP_PAYLOAD) {
    throw new RangeError(`a tunnel MTU of ${tunnelMtu} leaves ${value} bytes of UDP payload, below QUIC's minimum of ${QUIC_MIN_UDP_PAYLOAD}`)
  }
  return {
    value,
    explanation: [
      'max_mtu is the largest UDP payload QUIC sends (quinn initial_mtu = min_mtu; discovery off).',
      `WireGuard MTU ${tunnelMtu} - inner ${family === 'ipv4' ? 'IPv4' : 'IPv6'} header ${ipHeader} - UDP header ${UDP_HEADER} = ${value} (QUIC needs >= ${QUIC_MIN_UDP_PAYLOAD}).`,
    ],
  }
}
