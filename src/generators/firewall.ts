// Renders firewall.sh, a ufw script for one host: the proxy and TLS ports (TCP) and the tunnel's
// UDP port open to everyone; Corrosion gossip (QUIC, so UDP) and the HTTP APIs only on the private
// interface. SSH stays open so enabling ufw cannot lock the operator out. It runs nothing itself.
import type {FirewallModel, PortRule} from './host-model.js'

function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

function byPort(rules: readonly PortRule[]): PortRule[] {
  return [...rules].sort((a, b) => a.port - b.port)
}

export function renderFirewallScript(fw: FirewallModel, headerLines: readonly string[]): string {
  const out: string[] = ['#!/bin/sh\n', ...headerLines.map((l) => `# ${l}\n`)]
  out.push('# Review, then run as root. Re-running is safe: ufw skips rules it already has.\n')
  out.push('# Corrosion gossip is QUIC, i.e. UDP: a "4001/tcp" rule would not let it through.\n')
  out.push('set -eu\n\n')
  out.push('SSH_PORT="${SSH_PORT:-22}"\n\n')
  out.push('ufw default deny incoming\n')
  out.push('ufw default allow outgoing\n')
  out.push(`ufw limit "$SSH_PORT/tcp" comment ${quote('ssh')}\n`)
  out.push('\n# Open to the internet\n')
  for (const [rules, proto] of [
    [fw.publicTcp, 'tcp'],
    [fw.publicUdp, 'udp'],
  ] as const) {
    for (const rule of byPort(rules)) {
      const line = `ufw allow ${rule.port}/${proto} comment ${quote(rule.comment)}\n`
      // Only what listens is opened: a listener that is off gets its rule ready, commented out.
      out.push(rule.until ? `# Nothing listens on ${rule.port}/${proto} until ${rule.until}; then run:\n# ${line}` : line)
    }
  }
  out.push(`\n# Only over ${fw.privateInterface}${fw.privateSource ? `, from ${fw.privateSource}` : ''}\n`)
  const from = fw.privateSource ? ` from ${fw.privateSource}` : ''
  const to = fw.privateDestination ? ` to ${fw.privateDestination}` : ' to any'
  for (const [rules, proto] of [
    [fw.privateUdp, 'udp'],
    [fw.privateTcp, 'tcp'],
  ] as const) {
    for (const rule of byPort(rules)) {
      out.push(`ufw allow in on ${fw.privateInterface}${from}${to} port ${rule.port} proto ${proto} comment ${quote(rule.comment)}\n`)
    }
  }
  if (fw.sixpn) {
    const {source, destination} = fw.sixpn
    out.push(`\n# 6PN: other POPs reach the backends in this POP's ${destination} over ${fw.privateInterface} (WireGuard only\n`)
    out.push("# accepts each peer's own addresses as sources). route: for backends behind a bridge on this host.\n")
    out.push(`ufw allow in on ${fw.privateInterface} from ${source} to ${destination} comment ${quote('6PN backends at this POP')}\n`)
    out.push(`ufw route allow in on ${fw.privateInterface} from ${source} to ${destination} comment ${quote('6PN backends behind this POP')}\n`)
  }
  out.push('\nufw --force enable\n')
  out.push('ufw status verbose\n')
  return out.join('')
}
