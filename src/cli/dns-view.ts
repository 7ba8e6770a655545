// The terminal view of `edgeproxy dns query`: a status line (rcode, flags, server, transport, time)
// and each section as aligned columns, close to dig's. Data goes to stdout.
import chalk from 'chalk'

import type {DnsQueryResult, DnsRecordJson} from '../dns/dns-client.js'

function dataText(r: DnsRecordJson): string {
  const d = r.data as Record<string, unknown>
  switch (r.type) {
    case 'SRV':
      return `${String(d.priority)} ${String(d.weight)} ${String(d.port)} ${String(d.target)}`
    case 'SOA':
      return `${String(d.mname)} ${String(d.rname)} ${String(d.serial)} ${String(d.refresh)} ${String(d.retry)} ${String(d.expire)} ${String(d.minimum)}`
    case 'TXT':
      return (r.data as string[]).map((s) => JSON.stringify(s)).join(' ')
    default:
      return String(r.data)
  }
}

function section(title: string, records: readonly DnsRecordJson[]): string[] {
  if (records.length === 0) return []
  const rows = records.map((r) => [r.name, String(r.ttl), r.type, dataText(r)])
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i].length)))
  return [chalk.bold(title), ...rows.map((row) => `  ${row.slice(0, 3).map((c, i) => c.padEnd(widths[i])).join('  ')}  ${row[3]}`)]
}

export function dnsQueryView(r: DnsQueryResult): string {
  const flags = Object.entries(r.flags)
    .filter(([, on]) => on)
    .map(([name]) => name)
    .join(' ')
  const rcode = r.rcode === 'NOERROR' ? chalk.green(r.rcode) : chalk.yellow(r.rcode)
  const lines = [`${r.name} ${r.type}: ${rcode} [${flags}] from ${r.server} over ${r.transport} in ${r.elapsed_ms} ms`]
  if (r.rcode === 'NOERROR' && r.answers.length === 0) {
    lines.push(`no ${r.type} record for this name${r.type === 'A' ? ' (try --type AAAA)' : r.type === 'AAAA' ? ' (try --type A)' : ''}`)
  }
  if (r.rcode === 'NXDOMAIN') lines.push('no such name (or the app has no routable backend)')
  if (r.rcode === 'REFUSED') lines.push('the server is not authoritative for this name (outside its domain)')
  lines.push(...section('answer', r.answers), ...section('authority', r.authorities), ...section('additional', r.additionals))
  return lines.join('\n')
}
