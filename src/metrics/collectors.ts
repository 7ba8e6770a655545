// The Prometheus view of a POP: one prom-client Registry whose metrics copy, at scrape time, the
// plain-number counters the data path already keeps (ProxyStats, ListenerStats, the router's
// decisions and per-backend BackendCounters). Nothing here runs per connection. Backend series
// are rebuilt from the routing table on every scrape, so a deleted backend's series disappear.
// Never a client-address label: every label set is bounded by the listeners, the reasons and the
// routing table.
//
// Adding a metric is a few lines: a counter of ProxyStats is one row of CONNECTION_ERROR_REASONS
// (admission refusals: rate_limited, conn_limit, …); a per-backend figure is one entry in
// `backendGauges`; anything else is one `gauge(...)`/`counter(...)` call in createMetricsRegistry
// (active health checks: edgeproxy_health_checks_total{result} read from the checker's counters).
import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'

import {backendState, type Backend} from '../balancer/backend.js'
import {CONNECT_TIME_BUCKETS_MS, type BackendCounters} from '../balancer/backend-counters.js'
import {ROUTING_TIERS, type Router} from '../balancer/router.js'
import type {DnsCounters} from '../dns/dns-counters.js'
import type {ListenerStats, ProxyStats} from '../proxy/stats.js'
import type {FeedStatus} from '../store/routing-feed.js'

export interface MetricsSources {
  version: string
  region: string
  router: Router
  feed: {status(): FeedStatus}
  stats: ProxyStats
  /** The proxy listeners that run, by name (tcp, tls). */
  listeners: Readonly<Record<string, ListenerStats>>
  /** The TLS certificate's expiry (unix ms), read at scrape time; undefined without TLS. */
  certificateNotAfterMs?: () => number
  geoBuiltAtMs: number
  /** DNS query counters; undefined while DNS is off (no series then). */
  dns?: DnsCounters
  /** Wall clock (unix ms). */
  now?: () => number
}

/** edgeproxy_connection_errors_total{reason}: one row per error counter of ProxyStats. */
export const CONNECTION_ERROR_REASONS: ReadonlyArray<readonly [reason: string, read: (s: ProxyStats) => number]> = [
  ['no_backend', (s) => s.noBackend],
  ['connect_failed', (s) => s.connectFailures],
  ['gave_up', (s) => s.connectGaveUp],
  ['proxy_header_invalid', (s) => s.proxyHeaderInvalid],
  ['proxy_header_untrusted', (s) => s.proxyHeaderUntrusted],
  ['handshake_timeout', (s) => s.handshakeTimeouts],
  ['tls_handshake', (s) => s.tlsHandshakeFailures],
]

/** The states edgeproxy_store_backends always reports (0 when none), in the order operators read them. */
const BACKEND_STATES = ['healthy', 'draining', 'unhealthy', 'expired'] as const

type BackendLabel = 'backend' | 'app' | 'region'
const BACKEND_LABELS: BackendLabel[] = ['backend', 'app', 'region']

interface BackendRow {
  backend: Backend
  labels: Record<BackendLabel, string>
  counters: BackendCounters | undefined
}

/** The backends that get series: the routing table without soft-deleted rows. */
function backendRows(router: Router): BackendRow[] {
  const rows: BackendRow[] = []
  for (const b of router.snapshot) {
    if (b.isDeleted) continue
    rows.push({backend: b, labels: {backend: b.id, app: b.app, region: b.region}, counters: router.counters(b)})
  }
  return rows
}

/**
 * The connect-time histogram, exported from each backend's fixed bucket counts (observed by the
 * connection with a loop over the bounds, no label lookup) instead of prom-client's observe().
 */
const CONNECT_TIME = {
  name: 'edgeproxy_backend_connect_time_seconds',
  help: 'Time from dialling the backend to its accepting the connection (successful connects)',
}

class ConnectTimeHistogram extends Histogram<BackendLabel> {
  constructor(
    registry: Registry,
    private readonly rows: () => BackendRow[],
  ) {
    super({
      name: CONNECT_TIME.name,
      help: CONNECT_TIME.help,
      labelNames: BACKEND_LABELS,
      buckets: CONNECT_TIME_BUCKETS_MS.map((ms) => ms / 1000),
      registers: [registry],
    })
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<BackendLabel>['get']>>> {
    const values: {value: number; labels: Record<string, string | number>; metricName: string}[] = []
    for (const {labels, counters} of this.rows()) {
      const buckets = counters?.connectTimeBuckets
      let cumulative = 0
      for (let i = 0; i < CONNECT_TIME_BUCKETS_MS.length; i++) {
        cumulative += buckets?.[i] ?? 0
        values.push({value: cumulative, labels: {...labels, le: CONNECT_TIME_BUCKETS_MS[i] / 1000}, metricName: `${CONNECT_TIME.name}_bucket`})
      }
      const count = counters?.connectTimeCount ?? 0
      values.push({value: count, labels: {...labels, le: '+Inf'}, metricName: `${CONNECT_TIME.name}_bucket`})
      values.push({value: (counters?.connectTimeSumMs ?? 0) / 1000, labels, metricName: `${CONNECT_TIME.name}_sum`})
      values.push({value: count, labels, metricName: `${CONNECT_TIME.name}_count`})
    }
    return {...CONNECT_TIME, type: 'histogram', aggregator: 'sum', values} as never
  }

  /** The registry prefers this to get() when present; the base class's would read prom-client's own buckets. */
  getForPromString(): ReturnType<ConnectTimeHistogram['get']> {
    return this.get()
  }

}

export function createMetricsRegistry(s: MetricsSources): Registry {
  const registry = new Registry()
  const now = s.now ?? Date.now
  collectDefaultMetrics({register: registry})
  // Gauges named *_total break the exposition rules (promtool check metrics refuses them); their
  // by-type siblings (nodejs_active_handles{type} …) carry the same figures.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name)

  // Each helper builds a metric whose collect() resets it and copies the current values in.
  function gauge<L extends string>(name: string, help: string, labelNames: L[], read: (set: (labels: Record<L, string>, value: number) => void) => void): void {
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset()
        read((labels, value) => this.set(labels as never, value))
      },
    })
  }
  function counter<L extends string>(name: string, help: string, labelNames: L[], read: (inc: (labels: Record<L, string>, value: number) => void) => void): void {
    new Counter<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset()
        read((labels, value) => this.inc(labels as never, value))
      },
    })
  }

  gauge('edgeproxy_build_info', 'Always 1; the labels say which edgeproxy runs where, on which store', ['version', 'region', 'store'], (set) =>
    set({version: s.version, region: s.region, store: s.feed.status().kind}, 1),
  )

  // ---- listeners -------------------------------------------------------------------------------
  const perListener = (read: (l: ListenerStats) => number) => (set: (labels: {listener: string}, value: number) => void) => {
    for (const [listener, stats] of Object.entries(s.listeners)) set({listener}, read(stats))
  }
  counter('edgeproxy_connections_total', 'Client connections accepted', ['listener'], perListener((l) => l.accepted))
  gauge('edgeproxy_connections_active', 'Client connections open now', ['listener'], perListener((l) => l.active))
  counter('edgeproxy_bytes_sent_total', 'Bytes written to backends (from clients), counted when a connection closes', ['listener'], perListener((l) => l.bytesFromClients))
  counter('edgeproxy_bytes_received_total', 'Bytes read from backends (to clients), counted when a connection closes', ['listener'], perListener((l) => l.bytesToClients))
  counter('edgeproxy_connection_errors_total', 'Client connections refused or failed, and failed backend connects, by reason', ['reason'], (inc) => {
    for (const [reason, read] of CONNECTION_ERROR_REASONS) inc({reason}, read(s.stats))
  })
  counter('edgeproxy_failovers_total', 'Connects retried on the next best backend after a failed one', [], (inc) => inc({}, s.stats.failovers))

  // ---- routing ---------------------------------------------------------------------------------
  counter('edgeproxy_routing_decisions_total', 'Backend picks by how the backend matched the client: same country, region, the POP region, other, or an affinity binding', ['tier'], (inc) => {
    ROUTING_TIERS.forEach((tier, i) => inc({tier}, s.router.decisions[i]))
  })
  gauge('edgeproxy_affinity_bindings', 'Client addresses bound to a backend', [], (set) => set({}, s.router.affinity.size))

  // ---- backends --------------------------------------------------------------------------------
  const rows = () => backendRows(s.router)
  const perBackend = (read: (r: BackendRow) => number) => (set: (labels: Record<BackendLabel, string>, value: number) => void) => {
    for (const r of rows()) set(r.labels, read(r))
  }
  counter('edgeproxy_backend_connections_total', 'Connections handed to the backend (failover attempts included)', BACKEND_LABELS, perBackend((r) => r.counters?.connections ?? 0))
  gauge('edgeproxy_backend_connections_active', 'Connections to the backend open now (this POP)', BACKEND_LABELS, perBackend((r) => s.router.activeConnections(r.backend.id)))
  counter('edgeproxy_backend_connect_errors_total', 'Connects to the backend that were refused, reset or timed out', BACKEND_LABELS, perBackend((r) => r.counters?.connectErrors ?? 0))
  new ConnectTimeHistogram(registry, rows)
  gauge('edgeproxy_backend_up', '1 when this POP would send new connections to the backend (healthy, leased, not draining or cooling down)', BACKEND_LABELS, perBackend((r) => (s.router.isRoutable(r.backend) ? 1 : 0)))
  gauge('edgeproxy_backend_weight', 'Weight of the backend (higher takes more load)', BACKEND_LABELS, perBackend((r) => r.backend.weight))
  gauge('edgeproxy_backend_limit', 'Connection limits of the backend: soft (load factor 1) and hard (no more); 0 = none', [...BACKEND_LABELS, 'kind'], (set) => {
    for (const r of rows()) {
      set({...r.labels, kind: 'soft'}, r.backend.softLimit)
      set({...r.labels, kind: 'hard'}, r.backend.hardLimit)
    }
  })

  // ---- store -----------------------------------------------------------------------------------
  gauge('edgeproxy_store_backends', 'Backends of the routing table by state (soft-deleted rows left out)', ['state'], (set) => {
    const counts = new Map<string, number>(BACKEND_STATES.map((state) => [state, 0]))
    const t = now()
    for (const b of s.router.snapshot) {
      if (b.isDeleted) continue
      const state = backendState(b, t)
      counts.set(state, (counts.get(state) ?? 0) + 1)
    }
    for (const [state, n] of counts) set({state}, n)
  })
  gauge('edgeproxy_store_current', '1 while the routing table is current, 0 while the last read failed (routing runs on the last good table)', [], (set) =>
    set({}, s.feed.status().isCurrent ? 1 : 0),
  )
  gauge('edgeproxy_store_last_sync_age_seconds', 'Seconds since the routing table was last read successfully', [], (set) => {
    const {lastSyncAtMs} = s.feed.status()
    set({}, lastSyncAtMs > 0 ? Math.max(0, now() - lastSyncAtMs) / 1000 : Number.NaN)
  })
  gauge('edgeproxy_store_subscription_state', "Corrosion mode: 1 for the subscription's current state (connected, resyncing, down, …)", ['state'], (set) => {
    const {subscription} = s.feed.status()
    if (subscription !== undefined) set({state: subscription}, 1)
  })

  // ---- expiry ----------------------------------------------------------------------------------
  if (s.certificateNotAfterMs) {
    const notAfter = s.certificateNotAfterMs
    gauge('edgeproxy_tls_certificate_expiry_timestamp_seconds', 'When the served TLS certificate expires (unix seconds)', [], (set) => set({}, notAfter() / 1000))
  }
  gauge('edgeproxy_geoip_build_timestamp_seconds', 'When the GeoIP database was built (unix seconds)', [], (set) => set({}, s.geoBuiltAtMs / 1000))

  // ---- internal DNS ----------------------------------------------------------------------------
  if (s.dns) {
    const dns = s.dns
    counter('edgeproxy_dns_queries_total', 'DNS queries by type (A, AAAA, SRV, …, OTHER) and rcode (NOERROR, NXDOMAIN, …; DROPPED when unanswered)', ['qtype', 'rcode'], (inc) => {
      for (const {qtype, rcode, queries} of dns.entries()) inc({qtype, rcode}, queries)
    })
    counter('edgeproxy_dns_truncated_total', 'UDP DNS replies cut to fit the client (TC set; it retries over TCP)', [], (inc) => inc({}, dns.truncated))
  }
  return registry
}
