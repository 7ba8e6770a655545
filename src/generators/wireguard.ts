// Renders wg0.conf for one POP of a full WireGuard mesh: its [Interface] and one [Peer] per other
// POP (sorted by name), in wg-quick's format. Keys come in the model; this file never makes them.
import type {WireguardModel} from './host-model.js'

export function renderWireguardConf(wg: WireguardModel, header: readonly string[]): string {
  const out: string[] = header.map((l) => `# ${l}\n`)
  out.push(`# Install as /etc/wireguard/${wg.interface}.conf (mode 0600: it holds this POP's private key), then: systemctl enable --now wg-quick@${wg.interface}\n`)
  out.push(`# This POP's public key: ${wg.publicKey}\n`)
  out.push('\n[Interface]\n')
  out.push(`Address = ${wg.address}\n`)
  out.push(`ListenPort = ${wg.listenPort}\n`)
  out.push(`PrivateKey = ${wg.privateKey}\n`)
  out.push(`MTU = ${wg.mtu}\n`)
  const peers = [...wg.peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const peer of peers) {
    out.push(`\n# POP ${peer.name} (region ${peer.region})\n`)
    out.push('[Peer]\n')
    out.push(`PublicKey = ${peer.publicKey}\n`)
    out.push(`Endpoint = ${peer.endpoint}\n`)
    out.push(`AllowedIPs = ${peer.allowedIp}\n`)
    if (wg.persistentKeepaliveSecs > 0) out.push(`PersistentKeepalive = ${wg.persistentKeepaliveSecs}\n`)
  }
  return out.join('')
}
