// `edgeproxy status`: one sample of a running POP from its API, GET /health (state, warnings, store)
// and GET /metrics (traffic, backends, expiry dates), over node:http with no keep-alive, so the
// command loads neither the engine, SQLite nor undici and exits as soon as it has printed. The
// figures are turned into a StatusResult (the --json output) by summarise(); rates come from two
// samples (the previous one under --watch, else the process start).

import {ConfigError, InvalidInputError, UnavailableError} from '../errors.js'
import {parseExposition, type Sample} from '../metrics/exposition.js'
import {httpExchange, type HttpReply} from '../net/http-exchange.js'

export const STATUS_DEFAULT_API_URL = 'http://127.0.0.1:8081'
/** How many backends the view lists, busiest first. */
export const TOP_BACKENDS = 5

/** What GET /health says that status uses (snake_case, as the API sends it). */
export interface HealthBody {
  status: 'ok' | 'degraded'
  degraded_reasons?: string[]
  warnings?: string[]
  version: string
  region: string
  uptime_secs: number
  store: {kind: string; target: string; current: boolean; last_sync_age_secs: number | null}
}

export interface PopSample {
  /** When the sample was taken (unix ms, this machine). */
  atMs: number
  health: HealthBody
  /** Null when the proxy serves no metrics (EDGEPROXY_METRICS_ENABLED=false). */
  metrics: Sample[] | null
}

export interface BackendSummary {
  id: string
  app: string
  region: string
  active: number
  connections_total: number
  connect_errors_total: number
  up: boolean
}

export interface StatusResult {
  api_url: string
  status: 'ok' | 'degraded'
  degraded_reasons: string[]
  warnings: string[]
  version: string
  region: string
  uptime_secs: number
  store: {kind: string; target: string; current: boolean; last_sync_age_secs: number | null; subscription: string | null}
  /** Null without metrics. */
  backends: {total: number; up: number; by_state: Record<string, number>; top: BackendSummary[]} | null
  connections: {
    active: number
    total: number
    errors_total: number
    errors_by_reason: Record<string, number>
    bytes_sent_total: number
    bytes_received_total: number
  } | null
  /** Per second over `interval_secs`: since the previous sample (--watch) or since the proxy started. */
  rates: {since: 'start' | 'last_sample'; interval_secs: number; connections_per_sec: number; errors_per_sec: number; bytes_sent_per_sec: number; bytes_received_per_sec: number} | null
  tls_certificate: {expires_at: string; days_left: number} | null
  geoip: {built_at: string; age_days: number} | null
}

function get(url: URL, token: string | undefined, timeoutMs: number): Promise<HttpReply> {
  return httpExchange(url, {method: 'GET', headers: token === undefined ? {} : {authorization: `Bearer ${token}`}, timeoutMs})
}

/** The API URL checked: an http(s) URL without trailing slashes, else exit 3 naming the flag. */
export function statusApiUrl(text: string | undefined): string {
  const value = text ?? STATUS_DEFAULT_API_URL
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`--api-url ${JSON.stringify(value)} is not an http(s) URL`, {
      field: '--api-url',
      suggestion: `pass a URL such as --api-url ${STATUS_DEFAULT_API_URL} (EDGEPROXY_API_URL)`,
    })
  }
  return value.replace(/\/+$/, '')
}

/** Reads /health and /metrics once. Unreachable: exit 4; a refused token: exit 3. */
export async function takeSample(apiUrl: string, token: string | undefined, timeoutMs = 5000, now: () => number = Date.now): Promise<PopSample> {
  const fetchPath = async (path: string): Promise<HttpReply> => {
    try {
      return await get(new URL(apiUrl + path), token, timeoutMs)
    } catch (error) {
      const code = (error as {code?: string}).code ?? (error as Error).message
      throw new UnavailableError('EP_API_UNAVAILABLE', `cannot reach the edgeproxy API at ${apiUrl} (${code})`, {
        suggestion: 'check that the proxy runs (edgeproxy start) and that --api-url / EDGEPROXY_API_URL points at its API (EDGEPROXY_API_LISTEN_ADDR)',
        cause: error,
      })
    }
  }
  const [health, metrics] = await Promise.all([fetchPath('/health'), fetchPath('/metrics')])
  let body: HealthBody
  try {
    body = JSON.parse(health.text) as HealthBody
  } catch {
    body = undefined as never
  }
  if (health.status !== 200 || typeof body !== 'object' || body === null || typeof body.status !== 'string') {
    throw new UnavailableError('EP_API_BAD_RESPONSE', `${apiUrl}/health answered ${health.status} without edgeproxy's health object`, {
      suggestion: "check that --api-url points at edgeproxy's API (EDGEPROXY_API_LISTEN_ADDR, 127.0.0.1:8081 by default), not another service",
    })
  }
  if (metrics.status === 401) {
    throw new InvalidInputError('EP_API_UNAUTHORIZED', `the API at ${apiUrl} refused GET /metrics: missing or wrong token`, {
      suggestion: 'pass the token with --token or EDGEPROXY_API_TOKEN (the value of EDGEPROXY_API_TOKEN on the proxy)',
    })
  }
  let samples: Sample[] | null = null
  if (metrics.status === 200) {
    try {
      samples = parseExposition(metrics.text)
    } catch (error) {
      throw new UnavailableError('EP_API_BAD_RESPONSE', `${apiUrl}/metrics is not in the Prometheus text format: ${(error as Error).message}`)
    }
  }
  return {atMs: now(), health: body, metrics: samples}
}

const DAY_MS = 86_400_000
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits

/** The status of one sample; `previous` (an earlier sample of the same process) gives the rates. */
export function summarise(apiUrl: string, sample: PopSample, previous?: PopSample): StatusResult {
  const h = sample.health
  const m = sample.metrics
  const sum = (samples: Sample[] | null, name: string, where: (s: Sample) => boolean = () => true) =>
    (samples ?? []).filter((s) => s.name === name && where(s)).reduce((total, s) => total + s.value, 0)
  const one = (name: string) => m?.find((s) => s.name === name)?.value
  let backends: StatusResult['backends'] = null
  let connections: StatusResult['connections'] = null
  let rates: StatusResult['rates'] = null
  if (m !== null) {
    const byState: Record<string, number> = {}
    for (const s of m) if (s.name === 'edgeproxy_store_backends') byState[s.labels.state] = s.value
    const rows = new Map<string, BackendSummary>()
    const row = (s: Sample) => {
      const key = JSON.stringify([s.labels.backend, s.labels.app, s.labels.region])
      let r = rows.get(key)
      if (r === undefined) {
        r = {id: s.labels.backend, app: s.labels.app, region: s.labels.region, active: 0, connections_total: 0, connect_errors_total: 0, up: false}
        rows.set(key, r)
      }
      return r
    }
    for (const s of m) {
      if (s.name === 'edgeproxy_backend_connections_active') row(s).active = s.value
      else if (s.name === 'edgeproxy_backend_connections_total') row(s).connections_total = s.value
      else if (s.name === 'edgeproxy_backend_connect_errors_total') row(s).connect_errors_total = s.value
      else if (s.name === 'edgeproxy_backend_up') row(s).up = s.value === 1
    }
    const all = [...rows.values()]
    all.sort((a, b) => b.active - a.active || b.connections_total - a.connections_total || (a.id < b.id ? -1 : 1))
    backends = {total: all.length, up: all.filter((b) => b.up).length, by_state: byState, top: all.slice(0, TOP_BACKENDS)}
    const errorsByReason: Record<string, number> = {}
    for (const s of m) if (s.name === 'edgeproxy_connection_errors_total') errorsByReason[s.labels.reason] = s.value
    const totals = (samples: Sample[] | null) => ({
      connections: sum(samples, 'edgeproxy_connections_total'),
      // Client connections that ended in an error: a refused connect that failed over is not one.
      errors: sum(samples, 'edgeproxy_connection_errors_total', (s) => s.labels.reason !== 'connect_failed'),
      sent: sum(samples, 'edgeproxy_bytes_sent_total'),
      received: sum(samples, 'edgeproxy_bytes_received_total'),
    })
    const now = totals(m)
    connections = {
      active: sum(m, 'edgeproxy_connections_active'),
      total: now.connections,
      errors_total: now.errors,
      errors_by_reason: errorsByReason,
      bytes_sent_total: now.sent,
      bytes_received_total: now.received,
    }
    // The previous sample counts only when it saw the same process (a restart resets the counters).
    const isSameProcess = previous?.metrics != null && previous.health.uptime_secs <= h.uptime_secs
    const before = isSameProcess ? totals(previous!.metrics) : {connections: 0, errors: 0, sent: 0, received: 0}
    const intervalSecs = isSameProcess ? (sample.atMs - previous!.atMs) / 1000 : h.uptime_secs
    if (intervalSecs > 0) {
      const per = (a: number, b: number) => round(Math.max(0, a - b) / intervalSecs, 2)
      rates = {
        since: isSameProcess ? 'last_sample' : 'start',
        interval_secs: round(intervalSecs),
        connections_per_sec: per(now.connections, before.connections),
        errors_per_sec: per(now.errors, before.errors),
        bytes_sent_per_sec: per(now.sent, before.sent),
        bytes_received_per_sec: per(now.received, before.received),
      }
    }
  }
  const subscription = m?.find((s) => s.name === 'edgeproxy_store_subscription_state' && s.value === 1)?.labels.state ?? null
  const certSecs = one('edgeproxy_tls_certificate_expiry_timestamp_seconds')
  const geoSecs = one('edgeproxy_geoip_build_timestamp_seconds')
  return {
    api_url: apiUrl,
    status: h.status,
    degraded_reasons: h.degraded_reasons ?? [],
    warnings: h.warnings ?? [],
    version: h.version,
    region: h.region,
    uptime_secs: h.uptime_secs,
    store: {kind: h.store.kind, target: h.store.target, current: h.store.current, last_sync_age_secs: h.store.last_sync_age_secs, subscription},
    backends,
    connections,
    rates,
    tls_certificate: certSecs === undefined ? null : {expires_at: new Date(certSecs * 1000).toISOString(), days_left: round((certSecs * 1000 - sample.atMs) / DAY_MS)},
    geoip: geoSecs === undefined ? null : {built_at: new Date(geoSecs * 1000).toISOString(), age_days: Math.floor((sample.atMs - geoSecs * 1000) / DAY_MS)},
  }
}

/** The exit code of a status: 0 healthy, 1 degraded (unreachable is an error, exit 4). */
export function statusExitCode(result: StatusResult): 0 | 1 {
  return result.status === 'ok' ? 0 : 1
}
