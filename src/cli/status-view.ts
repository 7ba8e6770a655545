// The human view of `edgeproxy status`: one screen, key lines first (version, uptime, store, backends
// by state, traffic and rates, certificate and GeoIP dates), then the busiest backends, then what is
// wrong (degraded reasons) and what is coming (warnings). Colour follows chalk (NO_COLOR).
import chalk from 'chalk'

import type {StatusResult} from './pop-status.js'
import {renderTable, type Cell} from './table.js'

const STATE_ORDER = ['healthy', 'draining', 'unhealthy', 'expired']
const STATE_COLOUR: Record<string, (s: string) => string> = {healthy: chalk.green, draining: chalk.cyan, unhealthy: chalk.red, expired: chalk.yellow}

export function duration(secs: number): string {
  const s = Math.max(0, Math.round(secs))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`
}

export function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let i = 0
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000
    i++
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`
}

/**
 * 1234567 → "1,234,567" (decimals kept as they are). Not toLocaleString: its first call loads ICU's
 * number formatting, about 10 ms of a command that takes ~100 ms in all.
 */
export function count(n: number): string {
  const [whole = '', fraction] = String(n).split('.')
  const grouped = whole.replace(/\B(?=(\d{3})+$)/g, ',')
  return fraction === undefined ? grouped : `${grouped}.${fraction}`
}
const rate = (n: number) => (n >= 100 ? count(Math.round(n)) : String(n))

export function renderStatus(r: StatusResult): string {
  const lines: string[] = []
  const state = r.status === 'ok' ? chalk.green('ok') : chalk.red.bold('DEGRADED')
  lines.push(`${chalk.bold(`edgeproxy ${r.version}`)}   region ${r.region}   up ${duration(r.uptime_secs)}   ${state}   ${chalk.dim(r.api_url)}`)
  const fields: [string, string][] = []
  const sync = r.store.last_sync_age_secs === null ? 'never synced' : `synced ${duration(r.store.last_sync_age_secs)} ago`
  const current = r.store.current ? sync : chalk.red(`NOT CURRENT (routing on the last good table), ${sync}`)
  fields.push(['store', `${r.store.target}   ${current}${r.store.subscription ? `   subscription ${r.store.subscription === 'connected' ? r.store.subscription : chalk.yellow(r.store.subscription)}` : ''}`])
  if (r.backends) {
    const states = [...STATE_ORDER, ...Object.keys(r.backends.by_state).filter((s) => !STATE_ORDER.includes(s))]
      .filter((s) => (r.backends!.by_state[s] ?? 0) > 0)
      .map((s) => `${r.backends!.by_state[s]} ${(STATE_COLOUR[s] ?? ((x: string) => x))(s)}`)
    fields.push(['backends', `${r.backends.total} (${r.backends.up} up)${states.length > 0 ? `: ${states.join(', ')}` : ''}`])
  }
  if (r.connections) {
    const c = r.connections
    const per = r.rates ? (n: number) => ` (${rate(n)}/s)` : () => ''
    fields.push(['connections', `${count(c.active)} open   ${count(c.total)} total${per(r.rates?.connections_per_sec ?? 0)}   ${c.errors_total > 0 ? chalk.yellow(`${count(c.errors_total)} failed`) : '0 failed'}${per(r.rates?.errors_per_sec ?? 0)}`])
    fields.push(['bytes', `to backends ${bytes(c.bytes_sent_total)}${r.rates ? ` (${bytes(r.rates.bytes_sent_per_sec)}/s)` : ''}   from backends ${bytes(c.bytes_received_total)}${r.rates ? ` (${bytes(r.rates.bytes_received_per_sec)}/s)` : ''}`])
    if (r.rates) fields.push(['rates', r.rates.since === 'start' ? `per second since the proxy started (${duration(r.rates.interval_secs)})` : `per second over the last ${r.rates.interval_secs}s`])
    const reasons = Object.entries(c.errors_by_reason).filter(([, n]) => n > 0)
    if (reasons.length > 0) fields.push(['errors', reasons.map(([reason, n]) => `${reason} ${count(n)}`).join(', ')])
  } else {
    fields.push(['metrics', chalk.yellow('off on this proxy (EDGEPROXY_METRICS_ENABLED=false): no traffic figures')])
  }
  if (r.tls_certificate) {
    const t = r.tls_certificate
    const text = `certificate expires ${t.expires_at.slice(0, 10)} (${t.days_left <= 0 ? 'EXPIRED' : `in ${t.days_left} days`})`
    fields.push(['tls', t.days_left <= 0 ? chalk.red(text) : r.warnings.some((w) => w.includes('TLS certificate')) ? chalk.yellow(text) : text])
  }
  if (r.geoip) {
    const text = `database built ${r.geoip.built_at.slice(0, 10)} (${r.geoip.age_days} days ago)`
    fields.push(['geoip', r.warnings.some((w) => w.includes('GeoIP')) ? chalk.yellow(text) : text])
  }
  const width = Math.max(...fields.map(([k]) => k.length))
  for (const [k, v] of fields) lines.push(`${chalk.bold(k.padEnd(width))}   ${v}`)
  if (r.backends && r.backends.top.length > 0) {
    lines.push('')
    const rows: Cell[][] = r.backends.top.map((b) => [
      b.id,
      b.app,
      b.region,
      count(b.active),
      count(b.connections_total),
      b.connect_errors_total > 0 ? {text: count(b.connect_errors_total), style: chalk.yellow} : '0',
      b.up ? 'yes' : {text: 'no', style: chalk.red},
    ])
    const more = r.backends.total - r.backends.top.length
    const number = {canShrink: false, align: 'right'} as const
    lines.push(
      renderTable(
        [{header: 'BACKEND'}, {header: 'APP'}, {header: 'REGION', canShrink: false}, {header: 'ACTIVE', ...number}, {header: 'TOTAL', ...number}, {header: 'CONNECT ERRORS', ...number}, {header: 'UP', canShrink: false}],
        rows,
      ),
    )
    if (more > 0) lines.push(chalk.dim(`… and ${more} more (edgeproxy backend list)`))
  }
  if (r.degraded_reasons.length > 0) {
    lines.push('', chalk.red.bold('degraded:'))
    for (const reason of r.degraded_reasons) lines.push(`  - ${reason}`)
  }
  if (r.warnings.length > 0) {
    lines.push('', chalk.yellow.bold('warnings:'))
    for (const warning of r.warnings) lines.push(`  - ${warning}`)
  }
  return lines.join('\n')
}
