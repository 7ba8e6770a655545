// Renders the systemd-resolved drop-in of a POP: names under the internal DNS domain go to the POP's
// edgeproxy DNS listener, every other name keeps the host's usual servers. Text only.
import {formatSocketAddress, type DnsModel} from './host-model.js'

/** The file in the POP's folder, and where it is installed. */
export const RESOLVED_DROPIN_FILE = 'resolved-internal.conf'
export const RESOLVED_DROPIN_PATH = '/etc/systemd/resolved.conf.d/edgeproxy-internal.conf'

export function renderResolvedDropin(dns: DnsModel, headerLines: readonly string[]): string {
  const out: string[] = headerLines.map((l) => `# ${l}\n`)
  out.push(`# Install as ${RESOLVED_DROPIN_PATH} on this POP's host, and on any host that reaches\n`)
  out.push(`# ${dns.resolver.host} (backends of this POP), then: systemctl restart systemd-resolved\n`)
  out.push(`# Names under .${dns.domain} go to this POP's edgeproxy DNS (routing-only domain: no search suffix);\n`)
  out.push(`# other names are still answered by the host's usual servers. A port in DNS= needs systemd 246 or later.\n`)
  out.push(`# Check: resolvectl query _apps.${dns.domain} --type=TXT\n`)
  out.push('\n[Resolve]\n')
  out.push(`DNS=${formatSocketAddress(dns.resolver)}\n`)
  out.push(`Domains=~${dns.domain}\n`)
  return out.join('')
}
