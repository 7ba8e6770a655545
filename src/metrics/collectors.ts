// The Prometheus view of a POP: one prom-client Registry whose metrics copy, at scrape time, the
// plain-number counters the data path already keeps (ProxyStats, ListenerStats, the router's
// decisions and per-backend BackendCounters). Nothing here runs per connection. Backend series
// are rebuilt from the routing table on every scrape, so a deleted backend's series disappear.
// Never a client-address label: every label set is bounded by the listeners, the reasons and the
// routing table.
//
// Adding a metric is a line or two. A new error counter of ProxyStats (e.g. a health-check refusal)
// is one row of CONNECTION_ERROR_REASONS (in src/proxy/stats.ts, which the status page's charts
// read too). A
// per-backend figure (check state, circuit open) is one `metric(..., perBackend(read))` call. Anything
// else is one `metric(...)` call in createMetricsRegistry, e.g. edgeproxy_health_checks_total{result}
// reading the checker's counters, which the checker passes in through MetricsSources.
import {collectDefaultMetrics, Registry} from 'prom-client'

import {backendState, type Backend} from '../balancer/backend.js'
import {CONNECT_TIME_BUCKETS_MS, type BackendCounters} from '../balancer/backend-counters.js'
import {ROUTING_TIERS, type Router} from '../balancer/router.js'
import type {Admission} from '../admission/admission.js'
import type {DnsCounters} from '../dns/dns-counters.js'
import {CONNECTION_ERROR_REASONS, type ListenerStats, type ProxyStats} from '../proxy/stats.js'
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
  /** Per-client admission; undefined while it is off (no series then). */
  admission?: Admission
  /** Whether active checks run (their series exist only then). */
  isCheckingHealth?: boolean
  /** Wall clock (unix ms). */
  now?: () => number
}

/** The states edgeproxy_store_backends always reports (0 when none), in the order operators read them. */
const BACKEND_STATES = ['healthy', 'draining', 'unhealthy', 'expired'] as const
/** The states edgeproxy_backends always reports: up, the store's reasons, then this POP's own. */
const ROUTING_STATES = ['up', 'draining', 'unhealthy', 'expired', 'down', 'circuit_open', 'circuit_half_open', 'cooling_down'] as const

type Labels = Record<string, string>

/** One sample: its value, its own labels, and labels shared by a backend's samples (formatted once). */
interface Row {
  value: number
  labels?: Record<string, string | number>
  shared?: Labels
  /** `_bucket`, `_sum`, `_count` of a histogram. */
  suffix?: string
}

/**
 * A metric whose samples are read when the registry renders them; registered in prom-client's
 * Registry next to its default metrics. Compared with prom-client's Gauge (reset + set per label
 * set at every scrape), it skips the label hashing, and a backend's labels are one object kept
 * for as long as the backend row is, whose formatted text prom-client caches: a scrape with 100
 * backends costs a tenth of what the Gauge/Histogram route did.
 */
class ScrapeTimeMetric {
  readonly aggregator = 'sum'

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'gauge' | 'counter' | 'histogram',
    private readonly read: () => Iterable<Row>,
  ) {}

  /** What the registry renders as text: backend labels stay shared (cached formatting). */
  async getForPromString() {
    const values = []
    for (const r of this.read()) {
      values.push({value: r.value, labels: r.labels ?? {}, sharedLabels: r.shared, metricName: r.suffix === undefined ? undefined : this.name + r.suffix})
    }
    return {name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values}
  }

  /** prom-client's JSON form (getMetricsAsJSON): every label on the sample. */
  async get() {
    const data = await this.getForPromString()
    return {...data, values: data.values.map(({sharedLabels, ...v}) => ({...v, labels: {...sharedLabels, ...v.labels}}))}
  }

  reset(): void {}
}

interface BackendRow {
  backend: Backend
  labels: Labels
  counters: BackendCounters | undefined
}

export function createMetricsRegistry(s: MetricsSources): Registry {
  const registry = new Registry()
  const now = s.now ?? Date.now
  collectDefaultMetrics({register: registry})
  // Gauges named *_total break the exposition rules (promtool check metrics refuses them); their
  // by-type siblings (nodejs_active_handles{type} …) carry the same figures.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name)

  const metric = (type: ScrapeTimeMetric['type'], name: string, help: string, read: () => Iterable<Row>) =>
    registry.registerMetric(new ScrapeTimeMetric(name, help, type, read) as never)
  const one = (value: number): Row[] => [{value}]

  metric('gauge', 'edgeproxy_build_info', 'Always 1; the labels say which edgeproxy runs where, on which store', () => [
    {value: 1, labels: {version: s.version, region: s.region, store: s.feed.status().kind}},
  ])

  // ---- listeners -------------------------------------------------------------------------------
  const perListener = (read: (l: ListenerStats) => number) => () => Object.entries(s.listeners).map(([listener, l]) => ({value: read(l), labels: {listener}}))
  metric('counter', 'edgeproxy_connections_total', 'Client connections accepted', perListener((l) => l.accepted))
  metric('gauge', 'edgeproxy_connections_active', 'Client connections open now', perListener((l) => l.active))
  metric('counter', 'edgeproxy_bytes_sent_total', 'Bytes written to backends (from clients), counted when a connection closes', perListener((l) => l.bytesFromClients))
  metric('counter', 'edgeproxy_bytes_received_total', 'Bytes read from backends (to clients), counted when a connection closes', perListener((l) => l.bytesToClients))
  metric('counter', 'edgeproxy_connection_errors_total', 'Client connections refused or failed, and failed backend connects, by reason', () =>
    CONNECTION_ERROR_REASONS.map(([reason, read]) => ({value: read(s.stats), labels: {reason}})),
  )
  metric('counter', 'edgeproxy_failovers_total', 'Connects retried on the next best backend after a failed one', () => one(s.stats.failovers))
  metric('counter', 'edgeproxy_idle_timeouts_total', 'Connections closed after EDGEPROXY_IDLE_TIMEOUT_SECS without a byte either way', () => one(s.stats.idleTimeouts))

  // ---- health: active checks, passive failures, circuits ---------------------------------------
  const health = s.router.health
  if (s.isCheckingHealth) {
    metric('counter', 'edgeproxy_health_checks_total', 'Active health checks by result', () => [
      {value: health.checksPassed, labels: {result: 'pass'}},
      {value: health.checksFailed, labels: {result: 'fail'}},
    ])
  }
  metric('counter', 'edgeproxy_health_passive_failures_total', 'Failed connects to backends seen by the data path (they feed cooldowns and circuits)', () => one(health.passiveFailures))
  metric('counter', 'edgeproxy_health_transitions_total', 'Backends that changed state here: to down (active checks failed) or up (recovered)', () => [
    {value: health.transitionsDown, labels: {to: 'down'}},
    {value: health.transitionsUp, labels: {to: 'up'}},
  ])
  const circuits = health.circuits
  if (circuits) {
    metric('counter', 'edgeproxy_circuit_transitions_total', 'Circuit breakers opened (backend ejected) and closed (back in rotation)', () => [
      {value: circuits.opened, labels: {to: 'open'}},
      {value: circuits.closed, labels: {to: 'closed'}},
    ])
    metric('counter', 'edgeproxy_circuit_ejections_refused_total', 'Circuits left closed because EDGEPROXY_CIRCUIT_BREAKER_MAX_EJECTION_PERCENT of the app was already out', () =>
      one(circuits.ejectionsRefused),
    )
  }

  // ---- admission -------------------------------------------------------------------------------
  const admission = s.admission
  if (admission) {
    metric('gauge', 'edgeproxy_admission_clients', 'Client keys (an IPv4 address, an IPv6 /64) the admission table holds', () => one(admission.table.size))
    metric('counter', 'edgeproxy_admission_evictions_total', 'Client keys without open connections dropped from the full admission table to make room, least recently seen first', () => one(admission.table.evicted))
    metric('counter', 'edgeproxy_admission_dry_run_refusals_total', 'Connections EDGEPROXY_RATE_LIMIT_DRY_RUN let through that admission would have refused', () => one(admission.dryRunWouldRefuse))
  }

  // ---- routing ---------------------------------------------------------------------------------
  metric('counter', 'edgeproxy_routing_decisions_total', 'Backend picks by how the backend matched the client: same country, region, the POP region, other, or an affinity binding', () =>
    ROUTING_TIERS.map((tier, i) => ({value: s.router.decisions[i], labels: {tier}})),
  )
  metric('gauge', 'edgeproxy_affinity_bindings', 'Client addresses bound to a backend', () => one(s.router.affinity.size))

  // ---- backends --------------------------------------------------------------------------------
  // One labels object per backend row (a new row object after a change gets a new one), so the
  // registry formats each backend's labels once, not once per sample.
  const labelsOf = new WeakMap<Backend, Labels>()
  const rows = (): BackendRow[] => {
    const out: BackendRow[] = []
    for (const b of s.router.snapshot) {
      let labels = labelsOf.get(b)
      if (labels === undefined) labelsOf.set(b, (labels = {backend: b.id, app: b.app, region: b.region}))
      out.push({backend: b, labels, counters: s.router.counters(b)})
    }
    return out
  }
  const perBackend = (read: (r: BackendRow) => number) => () => rows().map((r) => ({value: read(r), shared: r.labels}))
  metric('counter', 'edgeproxy_backend_connections_total', 'Connections handed to the backend (failover attempts included)', perBackend((r) => r.counters?.connections ?? 0))
  metric('gauge', 'edgeproxy_backend_connections_active', 'Connections to the backend open now (this POP)', perBackend((r) => s.router.activeConnections(r.backend.id)))
  metric('counter', 'edgeproxy_backend_connect_errors_total', 'Connects to the backend that were refused, reset or timed out', perBackend((r) => r.counters?.connectErrors ?? 0))
  const bucketLabels = [...CONNECT_TIME_BUCKETS_MS.map((ms) => ({le: ms / 1000})), {le: '+Inf'}]
  metric('histogram', 'edgeproxy_backend_connect_time_seconds', 'Time from dialling the backend to its accepting the connection (successful connects)', function* () {
    for (const {labels, counters} of rows()) {
      let cumulative = 0
      for (let i = 0; i < bucketLabels.length; i++) {
        cumulative += counters?.connectTimeBuckets[i] ?? 0
        yield {value: cumulative, labels: bucketLabels[i], shared: labels, suffix: '_bucket'}
      }
      yield {value: (counters?.connectTimeSumMs ?? 0) / 1000, shared: labels, suffix: '_sum'}
      yield {value: counters?.connectTimeCount ?? 0, shared: labels, suffix: '_count'}
    }
  })
  metric('gauge', 'edgeproxy_backend_up', '1 when this POP would send new connections to the backend (healthy, leased, not draining or cooling down)', perBackend((r) => (s.router.isRoutable(r.backend) ? 1 : 0)))
  metric('gauge', 'edgeproxy_backend_weight', 'Weight of the backend (higher takes more load)', perBackend((r) => r.backend.weight))
  const soft = {kind: 'soft'}
  const hard = {kind: 'hard'}
  metric('gauge', 'edgeproxy_backend_limit', 'Connection limits of the backend: soft (load factor 1) and hard (no more); 0 = none', () =>
    rows().flatMap((r) => [
      {value: r.backend.softLimit, labels: soft, shared: r.labels},
      {value: r.backend.hardLimit, labels: hard, shared: r.labels},
    ]),
  )

  // ---- store -----------------------------------------------------------------------------------
  metric('gauge', 'edgeproxy_store_backends', 'Backends of the routing table by state', () => {
    const counts = new Map<string, number>(BACKEND_STATES.map((state) => [state, 0]))
    const t = now()
    for (const b of s.router.snapshot) {
      const state = backendState(b, t)
      counts.set(state, (counts.get(state) ?? 0) + 1)
    }
    return [...counts].map(([state, n]) => ({value: n, labels: {state}}))
  })
  metric('gauge', 'edgeproxy_backends', "Backends by this POP's view: up, or why it sends them no new connections (draining, unhealthy, expired in the store; down by active check, circuit_open, circuit_half_open (routable, on trial), cooling_down here)", () => {
    const counts = new Map<string, number>(ROUTING_STATES.map((state) => [state, 0]))
    for (const b of s.router.snapshot) {
      const state = s.router.routingState(b)
      counts.set(state, (counts.get(state) ?? 0) + 1)
    }
    return [...counts].map(([state, n]) => ({value: n, labels: {state}}))
  })
  metric('gauge', 'edgeproxy_store_current', '1 while the routing table is current, 0 while the last read failed (routing runs on the last good table)', () =>
    one(s.feed.status().isCurrent ? 1 : 0),
  )
  metric('gauge', 'edgeproxy_store_last_sync_age_seconds', 'Seconds since the routing table was last read successfully', () => {
    const {lastSyncAtMs} = s.feed.status()
    return lastSyncAtMs > 0 ? one(Math.max(0, now() - lastSyncAtMs) / 1000) : []
  })
  metric('gauge', 'edgeproxy_store_subscription_state', "Corrosion mode: 1 for the subscription's current state (connected, resyncing, down, …)", () => {
    const {subscription} = s.feed.status()
    return subscription === undefined ? [] : [{value: 1, labels: {state: subscription}}]
  })

  // ---- expiry ----------------------------------------------------------------------------------
  const notAfter = s.certificateNotAfterMs
  if (notAfter) metric('gauge', 'edgeproxy_tls_certificate_expiry_timestamp_seconds', 'When the served TLS certificate expires (unix seconds)', () => one(notAfter() / 1000))
  metric('gauge', 'edgeproxy_geoip_build_timestamp_seconds', 'When the GeoIP database was built (unix seconds)', () => one(s.geoBuiltAtMs / 1000))

  // ---- internal DNS ----------------------------------------------------------------------------
  const dns = s.dns
  if (dns) {
    metric('counter', 'edgeproxy_dns_queries_total', 'DNS queries by type (A, AAAA, SRV, …, OTHER) and rcode (NOERROR, NXDOMAIN, …; DROPPED when unanswered)', () =>
      [...dns.entries()].map(({qtype, rcode, queries}) => ({value: queries, labels: {qtype, rcode}})),
    )
    metric('counter', 'edgeproxy_dns_truncated_total', 'UDP DNS replies cut to fit the client (TC set; it retries over TCP)', () => one(dns.truncated))
  }
  return registry
}
