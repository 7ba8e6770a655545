// Renders wg0.conf for one POP of a full WireGuard mesh: its [Interface] and one [Peer] per other
// POP (sorted by name), in wg-quick's format. Keys come in the model; this file never makes them.
import type {WireguardModel} from './host-model.js'

export function renderWireguardConf(wg: WireguardModel, header: readonly string[]): string {
  const out: string[] = header.map((l) => `# ${l}\n`)
  out.push(`# Install as /etc/wireguard/${wg.interface}.conf (mode 0600: it holds this POP's private key), then: systemctl enable --now wg-quick@${wg.interface}\n`)
  out.push(`# This POP's public key: ${wg.publicKey}\n`)
  if (wg.ipv6Address) {
    out.push(`# Dual-stack mesh: Address holds the IPv4 address and the 6PN address (${wg.ipv6Address}); each peer's AllowedIPs hold\n`)
    out.push("# its IPv4 /32 and its 6PN /64, and wg-quick routes each of them here, so whatever sits in a POP's /64 is reachable.\n")
  }
  if (wg.loopbackAddresses?.length) {
    out.push(`# ${wg.loopbackAddresses.join(', ')}: this POP's internal DNS address, put on lo while ${wg.interface} is up. Peers reach it\n`)
    out.push(`# through this POP's /64; on lo, the kernel never uses it as the source of this POP's own connections.\n`)
  }
  out.push('\n[Interface]\n')
  out.push(`Address = ${[wg.address, wg.ipv6Address].filter(Boolean).join(', ')}\n`)
  out.push(`ListenPort = ${wg.listenPort}\n`)
  out.push(`PrivateKey = ${wg.privateKey}\n`)
  out.push(`MTU = ${wg.mtu}\n`)
  for (const address of wg.loopbackAddresses ?? []) {
    out.push(`PostUp = ip -6 address replace ${address} dev lo nodad\n`)
    out.push(`PostDown = ip -6 address del ${address} dev lo || true\n`)
  }
  const peers = [...wg.peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const peer of peers) {
    out.push(`\n# POP ${peer.name} (region ${peer.region})\n`)
    out.push('[Peer]\n')
    out.push(`PublicKey = ${peer.publicKey}\n`)
    out.push(`Endpoint = ${peer.endpoint}\n`)
    out.push(`AllowedIPs = ${[peer.allowedIp, peer.allowedIpv6].filter(Boolean).join(', ')}\n`)
    if (wg.persistentKeepaliveSecs > 0) out.push(`PersistentKeepalive = ${wg.persistentKeepaliveSecs}\n`)
  }
  return out.join('')
}
