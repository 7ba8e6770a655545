// The proxy engine of one POP: a list of services (src/server/service.ts) assembled from a validated
// StartConfig and started in order: routing-store feed, proxy listeners, certificate watcher,
// affinity sweep, Auto-Discovery API, and whatever a feature adds. Everything that can be refused
// (certificate, GeoIP file, store, addresses) is checked before the first socket listens. It never
// exits the process: the CLI owns signals and exit codes; the engine exposes reload() and shutdown().
import {Router, routerOptionsOf} from './balancer/router.js'
import type {StartConfig} from './config/start-config.js'
import {corrosionAgentService} from './corrosion/agent-view-service.js'
import {ApiServer, type HealthReport} from './discovery/api-server.js'
import {DnsCounters} from './dns/dns-counters.js'
import {dnsService} from './dns/dns-service.js'
import {BackendService} from './discovery/backend-service.js'
import {openGeoResolver, type GeoResolver} from './geo/geo-resolver.js'
import {healthService} from './health/health-service.js'
import {Admission} from './admission/admission.js'
import {admissionService} from './admission/admission-service.js'
import {idleSweepService} from './proxy/idle-sweep.js'
import type {Logger} from './log/logger.js'
import {throttledWarning} from './log/throttle.js'
import {metricsServices} from './metrics/metrics-service.js'
import {formatHostPort, type HostPort} from './net/address.js'
import {defaultDial, type ConnectionContext, type Dial} from './proxy/connection.js'
import {OpenConnections} from './proxy/open-connections.js'
import {ListenerStats, ProxyStats} from './proxy/stats.js'
import {TlsCertificate} from './proxy/tls-certificate.js'
import {affinitySweepService, apiService, certificateService, listenersService, storeService, type ListenerSpec} from './server/core-services.js'
import {closeAll, startAll, type Service} from './server/service.js'
import type {BackendStore} from './store/backend-store.js'
import type {RoutingFeed} from './store/routing-feed.js'
import {SqliteBackendStore} from './store/sqlite-backend-store.js'
import {SqliteFeed} from './store/sqlite-feed.js'
import {PROXY_STORE_CONTEXT, SqliteRoutingStore} from './store/sqlite-store.js'
import {workersService} from './workers/workers-service.js'
import {effectiveWorkers, workersSetup} from './workers/control-plane.js'
import type {WorkerPool} from './workers/worker-pool.js'
import {uiService} from './ui/ui-service.js'

export interface EngineOptions {
  logger: Logger
  version: string
  dial?: Dial
  /** Stores other than the SQLite file of config.dbPath or the configured Corrosion agent (tests). */
  stores?: Stores
}

/** The read side (routing table feed) and write side (API, backend commands) of one routing store. */
export interface Stores {
  feed: RoutingFeed
  writer: BackendStore
  /** After a failed start-up: removes what opening the store created (a new routing.db), if anything. */
  discardCreated?: () => void
}

/** Opens the routing store the configuration names: the SQLite file, or the Corrosion agent. */
export async function openStores(config: StartConfig, logger: Logger): Promise<Stores> {
  if (config.corrosion) {
    // Loaded only in Corrosion mode: the SQLite-only proxy keeps a smaller heap.
    const corrosion = await import('./corrosion/index.js')
    const client = new corrosion.CorrosionClient({url: config.corrosion.apiUrl, token: config.corrosion.token})
    return {
      feed: new corrosion.CorrosionFeed({
        client,
        logger,
        pollMs: config.corrosion.pollMs,
        initialTimeoutMs: config.corrosion.startupWaitMs,
        stateFile: config.corrosion.stateFile,
      }),
      writer: new corrosion.CorrosionBackendStore(client, {ownsClient: true}),
    }
  }
  // One connection for routing and the API's writes: both always see the file at the path.
  const store = SqliteRoutingStore.open(config.dbPath, {create: true, context: PROXY_STORE_CONTEXT})
  return {
    feed: new SqliteFeed(store, config.dbReloadMs, logger),
    writer: new SqliteBackendStore(store),
    discardCreated: () => store.removeIfCreated(),
  }
}

export interface ShutdownResult {
  drained: number
  cut: number
}

/** What a service factory gets to build its service from: the POP's shared parts. */
export interface EngineParts {
  readonly config: StartConfig
  readonly logger: Logger
  readonly version: string
  readonly router: Router
  readonly feed: RoutingFeed
  readonly writer: BackendStore
  readonly service: BackendService
  readonly geo: GeoResolver
  readonly stats: ProxyStats
  /** Connection and byte counters per proxy listener. */
  readonly listenerStats: {readonly tcp: ListenerStats; readonly tls: ListenerStats}
  readonly connections: OpenConnections
  /** The TLS listener's certificate; undefined without TLS. */
  readonly certificate?: TlsCertificate
  /** DNS queries by type and rcode (the DNS service counts, metrics read); all zero while DNS is off. */
  readonly dnsCounters: DnsCounters
  /** The API, to add endpoints to before it listens; undefined when the API is off. */
  readonly api?: ApiServer
  /** Per-client admission at accept (its counters: dryRunWouldRefuse, table.size/evicted); undefined when off. */
  readonly admission?: Admission
  /** The workers that accept and relay (undefined: this thread does, EDGEPROXY_WORKERS=1). */
  readonly pool?: WorkerPool
  /** Brings process-wide counters up to date (the workers' sums); call before reading stats. */
  refresh(): Promise<void>
  readonly startedAtMs: number
}

export class Engine implements EngineParts {
  readonly stats = new ProxyStats()
  readonly listenerStats = {tcp: new ListenerStats(), tls: new ListenerStats()}
  readonly connections = new OpenConnections()
  readonly dnsCounters = new DnsCounters()
  readonly startedAtMs = Date.now()
  readonly service: BackendService
  readonly api?: ApiServer
  readonly admission?: Admission
  pool?: WorkerPool
  private services: Service[] = []
  private shutdownPromise?: Promise<ShutdownResult>
  private forceCut?: () => void
  tcpAddress?: HostPort
  tlsAddress?: HostPort
  apiAddress?: HostPort

  private constructor(
    readonly config: StartConfig,
    readonly router: Router,
    readonly feed: RoutingFeed,
    readonly writer: BackendStore,
    readonly geo: GeoResolver,
    readonly certificate: TlsCertificate | undefined,
    readonly logger: Logger,
    readonly version: string,
  ) {
    this.service = new BackendService({store: writer, leaseMs: config.heartbeatTtlMs, view: router})
    if (config.limits.admission) this.admission = new Admission(config.limits.admission, logger)
    if (config.api) {
      this.api = new ApiServer({
        service: this.service,
        router,
        geo,
        logger,
        version,
        token: config.api.token,
        health: async () => {
          await this.refresh()
          return this.health()
        },
      })
    }
  }

  static async start(config: StartConfig, options: EngineOptions): Promise<Engine> {
    const {logger} = options
    const certificate = config.tls ? new TlsCertificate(config.tls.certPath, config.tls.keyPath, logger) : undefined
    const geo = await openGeoResolver(config.geoipPath)
    const workers = effectiveWorkers(config, logger)
    const stores = options.stores ?? (await openStores(config, logger))
    const {feed, writer} = stores
    const setup = workers > 1 ? workersSetup(config, logger, workers) : undefined
    const router = new Router({...routerOptionsOf(config), ...setup?.routerOptions})
    const engine = new Engine(config, router, feed, writer, geo, certificate, logger, options.version)
    if (setup) {
      engine.pool = setup.makePool({certificate, admissionBuffer: engine.admission?.table.buffer, stats: engine.stats, listenerStats: engine.listenerStats})
    }
    try {
      engine.services = engine.buildServices(options.dial ?? defaultDial)
      await startAll(engine.services)
    } catch (error) {
      // A start that fails leaves nothing behind: not even the routing.db it just created.
      stores.discardCreated?.()
      // The store service (first) owns the feed and writer even when it never started.
      await (engine.services[0] ?? storeService(feed, writer, router)).close()
      certificate?.close()
      throw error
    }
    logger.info('started', `edgeproxy ${options.version} listening`, {
      listen: formatHostPort(engine.tcpAddress!.host, engine.tcpAddress!.port),
      tls: engine.tlsAddress ? formatHostPort(engine.tlsAddress.host, engine.tlsAddress.port) : undefined,
      api: engine.apiAddress ? formatHostPort(engine.apiAddress.host, engine.apiAddress.port) : 'off',
      region: config.region,
      store: feed.describe(),
      backends: router.snapshot.length,
      workers,
      app: config.app,
      proxy_protocol: config.proxyProtocol ? config.proxyProtocol.trusted.text : undefined,
      geoip: geo.source,
      pid: process.pid,
    })
    if (engine.api && config.api?.isInsecure) {
      logger.warn(
        'api_insecure',
        `THE AUTO-DISCOVERY API LISTENS ON ${formatHostPort(engine.apiAddress!.host, engine.apiAddress!.port)} WITHOUT A TOKEN: anyone who can reach it can register, drain or remove backends. Set EDGEPROXY_API_TOKEN.`,
      )
    }
    return engine
  }

  /** The services of this POP, in start order. A feature adds its factory call here. */
  private buildServices(dial: Dial): Service[] {
    const c = this.config
    const services: Service[] = [storeService(this.feed, this.writer, this.router, this.logger)]
    const admission = this.admission
    const base = {
      router: this.router,
      geo: this.geo,
      logger: this.logger,
      stats: this.stats,
      connections: this.connections,
      connectTimeoutMs: c.connectTimeoutMs,
      connectAttempts: c.connectAttempts,
      handshakeTimeoutMs: c.handshakeTimeoutMs,
      proxyProtocol: c.proxyProtocol,
      admission,
      maxConnections: c.limits.maxConnections,
      dial,
      warnNoBackend: throttledWarning(this.logger, 'no_backend', 10_000),
      warnBackendFailed: throttledWarning(this.logger, 'backend_connect_failed', 1_000),
      warnMaxConnections: throttledWarning(this.logger, 'max_connections_reached', 1_000),
    } satisfies Omit<ConnectionContext, 'listener' | 'listenerStats'>
    const listeners: ListenerSpec[] = [
      {listener: 'tcp', address: c.listen, setting: '--listen (EDGEPROXY_LISTEN_ADDR)', stats: this.listenerStats.tcp, onBound: (a) => (this.tcpAddress = a)},
    ]
    if (c.tls && this.certificate) {
      const certificate = this.certificate
      listeners.push({
        listener: 'tls',
        address: c.tls.listen,
        setting: '--tls-listen (EDGEPROXY_TLS_LISTEN_ADDR)',
        stats: this.listenerStats.tls,
        onBound: (a) => (this.tlsAddress = a),
        tlsContext: () => certificate.context,
      })
    }
    if (this.pool) services.push(workersService(this.pool, this.logger, (a) => (this.tcpAddress = a), (a) => (this.tlsAddress = a)))
    else services.push(listenersService(base, listeners, this.logger))
    if (c.tls && this.certificate) services.push(certificateService(this.certificate, c.tls.reloadMs))
    services.push(affinitySweepService(this.router, c.bindingGcIntervalMs, this.logger))
    services.push(...metricsServices(this))
    if (c.dns) services.push(dnsService(this, c.dns))
    services.push(healthService(this))
    services.push(admissionService(this, admission, c.limits))
    // With workers, each sweeps its own connections.
    if (!this.pool) services.push(idleSweepService(this.connections, this.stats, c.limits.idleTimeoutMs))
    if (c.corrosion) services.push(corrosionAgentService(this))
    if (this.api && c.ui.isEnabled) services.push(uiService(this))
    if (this.api && c.api) services.push(apiService(this.api, c.api.listen, (a) => (this.apiAddress = a)))
    return services
  }

  /**
   * What GET /health reports: `ok`, `degraded` (a part is not current, or no routing table was ever
   * loaded) or `draining` (a graceful stop is under way). HTTP 503 while draining or without any
   * table, so a load balancer stops sending; 200 otherwise, degraded included (it still routes).
   */
  health(): HealthReport {
    const store = this.feed.status()
    const now = Date.now()
    const routable = this.router.explain(null).filter((r) => r.skipped === null).length
    const hasTable = store.lastSyncAtMs > 0
    const degraded: string[] = store.isCurrent ? [] : [`store: ${store.error ?? 'not current'}`]
    if (!hasTable) degraded.push('store: no routing table loaded yet')
    const warnings: string[] = []
    const sections: Record<string, unknown> = {}
    for (const s of this.services) {
      const h = s.health?.()
      if (h === undefined) continue
      if (h.degraded) degraded.push(...h.degraded.map((r) => `${s.name}: ${r}`))
      if (h.warnings) warnings.push(...h.warnings)
      if (h.fields) sections[s.name] = h.fields
    }
    const isDraining = this.shutdownPromise !== undefined
    const body = {
      status: isDraining ? 'draining' : degraded.length === 0 ? 'ok' : 'degraded',
      ...(degraded.length > 0 ? {degraded_reasons: degraded} : {}),
      ...(warnings.length > 0 ? {warnings} : {}),
      region: this.config.region,
      backends: this.router.snapshot.length,
      routable,
      uptime_secs: Math.round(now - this.startedAtMs) / 1000,
      store: {
        kind: store.kind,
        target: store.target,
        current: store.isCurrent,
        last_sync_age_secs: store.lastSyncAtMs > 0 ? Math.round((now - store.lastSyncAtMs) / 100) / 10 : null,
        ...(store.error ? {error: store.error} : {}),
        ...(store.subscription ? {subscription: store.subscription} : {}),
        writes: this.service.writes,
      },
      connections: {active: this.pool ? this.listenerStats.tcp.active + this.listenerStats.tls.active : this.connections.size, ...this.stats.toJSON()},
      ...(this.pool ? {workers: {count: this.pool.count, replaced: this.pool.replaced, behind: this.pool.behind, backend_slots: this.config.workersBackendSlots, unslotted: this.pool.control.unslotted}} : {}),
      ...sections,
    } as const
    return {httpStatus: isDraining || !hasTable ? 503 : 200, body}
  }

  /** Process-wide counters: with workers, their sums (each answers within a second); nothing to do with one thread. */
  async refresh(): Promise<void> {
    if (this.pool) await this.pool.collect()
  }

  /** SIGHUP: every service re-reads what it reads (the routing store, the certificate, …) now. */
  reload(): void {
    const done: Record<string, string | number | boolean | null> = {}
    for (const s of this.services) Object.assign(done, s.reload?.() ?? {})
    this.logger.info('reloaded', 'SIGHUP: reloaded', done)
  }

  /**
   * Graceful stop: no new connections, open ones get up to `timeoutMs` to finish, the rest are cut.
   * Calling it again returns the same promise; cutNow() ends the wait early (a second signal).
   */
  shutdown(timeoutMs = this.config.shutdownTimeoutMs): Promise<ShutdownResult> {
    this.shutdownPromise ??= this.drain(timeoutMs)
    return this.shutdownPromise
  }

  cutNow(): void {
    this.forceCut?.()
  }

  private async drain(timeoutMs: number): Promise<ShutdownResult> {
    for (const s of this.services) s.stopAccepting?.()
    if (this.pool) return this.drainWorkers(this.pool, timeoutMs)
    const open = this.connections.size
    this.logger.info('shutdown_started', 'no longer accepting connections; waiting for open ones to finish', {
      open,
      timeout_secs: timeoutMs / 1000,
    })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.connections.whenEmpty(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs)
        this.forceCut = resolve
      }),
    ])
    clearTimeout(timer)
    const remaining = this.connections.snapshot()
    for (const connection of remaining) connection.destroy('shutdown')
    await closeAll(this.services)
    this.certificate?.close()
    const result = {drained: open - remaining.length, cut: remaining.length}
    this.logger.info('shutdown_complete', 'stopped', {...result})
    return result
  }

  /** The same drain over every worker: one shutdown_started with the open connections of all, one result summed. */
  private async drainWorkers(pool: WorkerPool, timeoutMs: number): Promise<ShutdownResult> {
    this.forceCut = () => pool.cutNow()
    const result = await pool.drain(timeoutMs, (open) =>
      this.logger.info('shutdown_started', 'no longer accepting connections; waiting for open ones to finish', {open, timeout_secs: timeoutMs / 1000, workers: pool.count}),
    )
    await closeAll(this.services)
    this.certificate?.close()
    this.logger.info('shutdown_complete', 'stopped', {...result})
    return result
  }
}
