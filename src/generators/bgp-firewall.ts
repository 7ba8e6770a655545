// Renders firewall-bgp.sh: BGP (179/tcp) open to this POP's listed peers only, as ufw rules added
// after firewall.sh (which sets the defaults and enables ufw). BIRD's own connections out to the
// peers need no rule (outgoing is allowed). It runs nothing itself.
import type {AnycastHostModel} from './anycast-model.js'

export function renderBgpFirewallScript(anycast: AnycastHostModel, headerLines: readonly string[]): string {
  const out: string[] = ['#!/bin/sh\n', ...headerLines.map((l) => `# ${l}\n`)]
  out.push('# BGP sessions: 179/tcp from the listed peers only. Run as root after firewall.sh; re-running is safe.\n')
  out.push('set -eu\n\n')
  for (const peer of anycast.bird.peers) {
    out.push(`ufw allow proto tcp from ${peer.address} to any port 179 comment 'BGP peer ${peer.address} AS${peer.asn}'\n`)
  }
  out.push('ufw status verbose\n')
  return out.join('')
}
