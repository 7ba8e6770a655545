// Human views of backends for the terminal: the list table (src/cli/table.ts, states in colour), the
// one-backend detail and the route explanation. Data goes to stdout; colour follows chalk (NO_COLOR turns it off).
import chalk from 'chalk'

import type {LimitsJson} from '../admission/admission-service.js'
import type {BackendJson} from '../discovery/backend-json.js'
import type {CheckNowResult, RouteExplanation} from '../discovery/backend-client.js'
import type {CheckJson, CircuitJson} from '../health/health-json.js'
import {renderFields, renderTable, type Cell, type Column} from './table.js'

const STATE_COLOUR: Record<string, (s: string) => string> = {
  healthy: chalk.green,
  expired: chalk.yellow,
  unhealthy: chalk.red,
  draining: chalk.cyan,
}

export function colourState(state: string): string {
  return (STATE_COLOUR[state] ?? ((s: string) => s))(state)
}

function stateCell(state: string): Cell {
  return {text: state, style: STATE_COLOUR[state]}
}

export function age(secs: number | null): string {
  if (secs === null) return '-'
  if (secs < 60) return `${Math.round(secs)}s ago`
  if (secs < 3600) return `${Math.floor(secs / 60)}m${Math.round(secs % 60)}s ago`
  return `${Math.floor(secs / 3600)}h${Math.floor((secs % 3600) / 60)}m ago`
}

export function address(b: {ip: string; port: number}): string {
  return b.ip.includes(':') ? `[${b.ip}]:${b.port}` : `${b.ip}:${b.port}`
}

/** `UP`, `UP 1/3↓`, `DOWN 2/2↑`; `-` when not checked (checks off, `none`, or no running proxy). */
export function checkCell(check: CheckJson | null | undefined): Cell {
  if (!check) return '-'
  return {text: check.label, style: check.state === 'UP' ? (check.label === 'UP' ? chalk.green : chalk.yellow) : chalk.red}
}

/** `closed`, `open 27s`, `half-open 1/3`, `cooling 7s`; `-` when read from the store. */
export function circuitCell(circuit: CircuitJson | null | undefined): Cell {
  if (!circuit) return '-'
  if (circuit.state === 'closed') return circuit.label
  return {text: circuit.label, style: circuit.state === 'half_open' ? chalk.yellow : chalk.red}
}

const styled = (cell: Cell) => (typeof cell === 'string' ? cell : cell.style ? cell.style(cell.text) : cell.text)

export function backendTable(backends: readonly BackendJson[]): string {
  const columns: Column[] = [
    {header: 'ID'},
    {header: 'APP'},
    {header: 'REGION', short: 'RG', canShrink: false},
    {header: 'COUNTRY', short: 'CC', canShrink: false},
    {header: 'ADDRESS'},
    {header: 'STATE', canShrink: false},
    {header: 'CHECK', short: 'CHK', canShrink: false},
    {header: 'CIRCUIT', short: 'CIRC', canShrink: false},
    {header: 'WEIGHT', short: 'W', canShrink: false, align: 'right'},
    {header: 'CONN/SOFT/HARD', short: 'CONN', canShrink: false},
    {header: 'HEARTBEAT', short: 'BEAT', canShrink: false},
  ]
  return renderTable(
    columns,
    backends.map((b) => [
      b.id,
      b.app || '-',
      b.region,
      b.country || '-',
      address(b),
      stateCell(b.state),
      checkCell(b.check),
      circuitCell(b.circuit),
      String(b.weight),
      `${b.connections ?? '-'}/${b.soft_limit}/${b.hard_limit === 0 ? '∞' : b.hard_limit}`,
      age(b.heartbeat_age_secs),
    ]),
  )
}

export function backendDetail(b: BackendJson): string {
  return renderFields([
    ['id', b.id],
    ['app', b.app],
    ['region', b.region],
    ['country', b.country || '-'],
    ['address', address(b)],
    ...(b.ip6 ? [['IPv6 (DNS)', b.ip6] as [string, string]] : []),
    ['state', stateCell(b.state)],
    ['weight', String(b.weight)],
    ['connections', b.connections === null ? '- (read from the store, not a running proxy)' : String(b.connections)],
    ['soft / hard limit', `${b.soft_limit} / ${b.hard_limit === 0 ? 'no limit' : b.hard_limit}`],
    ['check', b.check ? `${styled(checkCell(b.check))} (${b.check.type} port ${b.check.port}${b.check.path ?? ''})` : '- (not checked by the proxy that answered)'],
    ['last check', b.check?.last_check ? `${b.check.last_check}, ${b.check.latency_ms} ms${b.check.last_error ? `, ${b.check.last_error}` : ''}` : '-'],
    ['circuit', circuitCell(b.circuit)],
    ['lease expires', b.lease_expires_at ?? 'never (no lease)'],
    ['last heartbeat', age(b.heartbeat_age_secs)],
    ['registered', b.registered_at ?? '- (inserted by SQL)'],
    ['registered by', b.registered_by ?? "- (not through a POP's API)"],
    ['updated', b.updated_at ?? '-'],
  ])
}

export function routeTable(r: RouteExplanation): string {
  const lines = [
    `client ${r.ip}: country ${r.country ?? 'none (private, reserved or unknown address)'}, region ${r.client_region ?? 'none'}; this POP is in ${r.pop_region}`,
    ...(r.limits ? [admissionLine(r.limits)] : []),
    r.binding ? `affinity: bound to ${r.binding}` : 'affinity: no binding',
    r.chosen ? `${chalk.bold('→ ' + r.chosen)} (${r.reason})` : chalk.red(`→ no backend: ${r.reason}; the connection would be closed`),
  ]
  if (r.candidates.length === 0) return [...lines, '(no backends in the routing table)', dnsLines(r)].join('\n')
  const columns: Column[] = [
    {header: 'ID'},
    {header: 'REGION', short: 'RG', canShrink: false},
    {header: 'COUNTRY', short: 'CC', canShrink: false},
    {header: 'STATE', canShrink: false},
    {header: 'GEO', canShrink: false, align: 'right'},
    {header: 'LOAD', canShrink: false, align: 'right'},
    {header: 'WEIGHT', short: 'W', canShrink: false, align: 'right'},
    {header: 'SCORE', canShrink: false, align: 'right'},
    {header: 'CONN/HARD', short: 'CONN', canShrink: false},
    {header: 'RESULT'},
  ]
  const rows = r.candidates.map((c) => [
    c.id,
    c.region,
    c.country || '-',
    stateCell(c.state),
    String(c.geo_score),
    c.load_factor.toFixed(3),
    String(c.weight),
    c.score.toFixed(3),
    `${c.connections}/${c.hard_limit === 0 ? '∞' : c.hard_limit}`,
    c.id === r.chosen
      ? {text: 'picked', style: chalk.green}
      : c.skipped === null
        ? 'eligible'
        : {text: `skipped: ${c.skipped_detail ?? c.skipped.replace(/_/g, ' ')}`, style: chalk.yellow},
  ])
  return lines.join('\n') + '\n' + renderTable(columns, rows) + '\n' + dnsLines(r)
}

/** "DNS would answer": each app's name and its nearest name, as this client would get them. */
function dnsLines(r: RouteExplanation): string {
  if (r.dns === undefined) return 'DNS would answer: nothing, DNS is off on this POP (--dns / EDGEPROXY_DNS_ENABLED)'
  if (r.dns.apps.length === 0) return `DNS would answer: NXDOMAIN for every <app>.${r.dns.domain} (no app in the routing table)`
  const rows: [string, string][] = []
  for (const app of r.dns.apps) {
    if (app.rcode !== 'NOERROR') {
      rows.push([app.name, chalk.yellow(`${app.rcode} (no routable backend)`)])
      continue
    }
    rows.push([app.name, app.addresses.join(', ')])
    rows.push([app.nearest_name, app.nearest.join(', ')])
  }
  const width = Math.max(...rows.map(([name]) => name.length))
  return ['DNS would answer (this client asking this POP):', ...rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`)].join('\n')
}

/** `admission: key 2001:db8:1:2::/64: 7.5/10 tokens (refill 100/s), 1/2 connections open` */
export function admissionLine(l: LimitsJson): string {
  const c = l.client
  if (!c.enabled) return 'admission: no per-client limits (EDGEPROXY_RATE_LIMIT_ENABLED and EDGEPROXY_MAX_CONNS_PER_IP are off)'
  if (c.exempt) return `admission: ${c.ip} is exempt (EDGEPROXY_RATE_LIMIT_EXEMPT)`
  const parts = [
    c.tokens === null ? 'no rate limit' : `${c.tokens}/${c.burst} tokens (refill ${c.refill_per_sec}/s)`,
    `${c.connections}${c.max_connections === null ? '' : `/${c.max_connections}`} connections open`,
  ]
  return `admission: key ${c.key}: ${parts.join(', ')}${c.dry_run ? ' (dry run: nothing is refused)' : ''}`
}

export function checkNowLine(r: CheckNowResult): string {
  const what = `${r.type} check of ${r.id} at ${r.address}${r.path ?? ''}`
  const outcome = r.passed ? chalk.green(`passed in ${r.latency_ms} ms`) : chalk.red(`failed after ${r.latency_ms} ms: ${r.error}`)
  const state = r.state === null ? 'scheduled checks: off for this backend' : `scheduled checks: ${r.state}`
  return `${what} ${outcome}\n${state}${r.opted_out ? ' (the backend opts out with check type none; this one check used the global type)' : ''}`
}
