// The proxy engine of one POP, assembled from a validated StartConfig: routing store feed, geo,
// router, TCP and TLS listeners, timers. Everything that can be refused (certificate, GeoIP file,
// store, addresses) is checked before the first socket listens. It never exits the process:
// the CLI owns signals and exit codes, the engine exposes reload() and shutdown().
import {Router} from './balancer/router.js'
import type {StartConfig} from './config/start-config.js'
import {ApiServer} from './discovery/api-server.js'
import {BackendService} from './discovery/backend-service.js'
import {openGeoResolver, type GeoResolver} from './geo/geo-resolver.js'
import type {Logger} from './log/logger.js'
import {throttledWarning} from './log/throttle.js'
import {formatHostPort, type HostPort} from './net/address.js'
import {defaultDial, type ConnectionContext, type Dial} from './proxy/connection.js'
import {ProxyListener} from './proxy/listener.js'
import {OpenConnections} from './proxy/open-connections.js'
import {ProxyStats} from './proxy/stats.js'
import {TlsCertificate} from './proxy/tls-certificate.js'
import type {BackendStore} from './store/backend-store.js'
import type {RoutingFeed} from './store/routing-feed.js'
import {SqliteBackendStore} from './store/sqlite-backend-store.js'
import {SqliteFeed} from './store/sqlite-feed.js'
import {SqliteRoutingStore} from './store/sqlite-store.js'

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
}

/** Opens the routing store the configuration names: the SQLite file, or the Corrosion agent. */
export async function openStores(config: StartConfig, logger: Logger): Promise<Stores> {
  if (config.corrosion) {
    // Loaded only in Corrosion mode: the SQLite-only proxy keeps a smaller heap.
    const corrosion = await import('./corrosion/index.js')
    const client = new corrosion.CorrosionClient({url: config.corrosion.apiUrl, token: config.corrosion.token})
    return {
      feed: new corrosion.CorrosionFeed({client, logger, pollMs: config.corrosion.pollMs}),
      writer: new corrosion.CorrosionBackendStore(client, {ownsClient: true}),
    }
  }
  const reader = SqliteRoutingStore.open(config.dbPath, {create: true})
  return {feed: new SqliteFeed(reader, config.dbReloadMs, logger), writer: new SqliteBackendStore(config.dbPath, {create: false, isSchemaReady: true})}
}

export interface ShutdownResult {
  drained: number
  cut: number
}

export class Engine {
  readonly stats = new ProxyStats()
  readonly connections = new OpenConnections()
  readonly startedAtMs = Date.now()
  private readonly listeners: ProxyListener[] = []
  private api?: ApiServer
  readonly service: BackendService
  private gcTimer?: NodeJS.Timeout
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
    private readonly certificate: TlsCertificate | undefined,
    private readonly logger: Logger,
    readonly version: string,
  ) {
    this.service = new BackendService({store: writer, leaseMs: config.heartbeatTtlMs, view: router})
  }

  static async start(config: StartConfig, options: EngineOptions): Promise<Engine> {
    const {logger} = options
    const certificate = config.tls ? new TlsCertificate(config.tls.certPath, config.tls.keyPath, logger) : undefined
    const geo = await openGeoResolver(config.geoipPath)
    const {feed, writer} = options.stores ?? (await openStores(config, logger))
    const router = new Router({
      localRegion: config.region,
      app: config.app,
      bindingTtlMs: config.bindingTtlMs,
      bindingMaxEntries: config.bindingMaxEntries,
      failureCooldownMs: config.failureCooldownMs,
    })
    const engine = new Engine(config, router, feed, writer, geo, certificate, logger, options.version)
    try {
      const initial = await feed.start((backends) => engine.router.setBackends(backends))
      router.setBackends(initial)
      await engine.listen(options.dial ?? defaultDial)
      await engine.listenApi()
    } catch (error) {
      await engine.closeResources()
      throw error
    }
    engine.gcTimer = setInterval(() => {
      const removed = router.affinity.sweep()
      if (removed > 0) logger.debug('bindings_swept', 'expired bindings removed', {removed, remaining: router.affinity.size})
    }, config.bindingGcIntervalMs)
    engine.gcTimer.unref()
    if (certificate && config.tls) certificate.watch(config.tls.reloadMs)
    logger.info('started', `edgeproxy ${options.version} listening`, {
      listen: formatHostPort(engine.tcpAddress!.host, engine.tcpAddress!.port),
      tls: engine.tlsAddress ? formatHostPort(engine.tlsAddress.host, engine.tlsAddress.port) : undefined,
      api: engine.apiAddress ? formatHostPort(engine.apiAddress.host, engine.apiAddress.port) : 'off',
      region: config.region,
      store: feed.describe(),
      backends: router.snapshot.length,
      app: config.app,
      proxy_protocol: config.proxyProtocol ? config.proxyProtocol.trusted.text : undefined,
      geoip: geo.source,
    })
    return engine
  }

  private async listen(dial: Dial): Promise<void> {
    const c = this.config
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
      dial,
      warnNoBackend: throttledWarning(this.logger, 'no_backend', 10_000),
      warnBackendFailed: throttledWarning(this.logger, 'backend_connect_failed', 1_000),
    } satisfies Omit<ConnectionContext, 'listener'>
    const tcp = new ProxyListener({...base, listener: 'tcp'}, this.logger)
    this.listeners.push(tcp)
    this.tcpAddress = await tcp.listen(c.listen, '--listen (EDGEPROXY_LISTEN_ADDR)')
    if (c.tls && this.certificate) {
      const certificate = this.certificate
      const secure = new ProxyListener({...base, listener: 'tls', tlsContext: () => certificate.context}, this.logger)
      this.listeners.push(secure)
      this.tlsAddress = await secure.listen(c.tls.listen, '--tls-listen (EDGEPROXY_TLS_LISTEN_ADDR)')
    }
  }

  private async listenApi(): Promise<void> {
    const api = this.config.api
    if (api === undefined) return
    this.api = new ApiServer({
      service: this.service,
      router: this.router,
      geo: this.geo,
      logger: this.logger,
      version: this.version,
      token: api.token,
      health: () => this.health(),
    })
    this.apiAddress = await this.api.listen(api.listen)
    if (api.isInsecure) {
      this.logger.warn(
        'api_insecure',
        `THE AUTO-DISCOVERY API LISTENS ON ${formatHostPort(this.apiAddress.host, this.apiAddress.port)} WITHOUT A TOKEN: anyone who can reach it can register, drain or remove backends. Set EDGEPROXY_API_TOKEN.`,
      )
    }
  }

  /** What GET /health reports. */
  health(): Record<string, unknown> & {status: 'ok' | 'degraded'} {
    const store = this.feed.status()
    const now = Date.now()
    const live = this.router.snapshot.filter((b) => !b.isDeleted)
    const routable = this.router.explain(null).filter((r) => r.skipped === null).length
    return {
      status: store.isCurrent ? 'ok' : 'degraded',
      region: this.config.region,
      backends: live.length,
      routable,
      uptime_secs: Math.round((now - this.startedAtMs) / 1000),
      store: {
        kind: store.kind,
        target: store.target,
        current: store.isCurrent,
        last_sync_age_secs: store.lastSyncAtMs > 0 ? Math.round((now - store.lastSyncAtMs) / 100) / 10 : null,
        ...(store.error ? {error: store.error} : {}),
        writes: this.service.writes,
      },
      connections: {active: this.connections.size, ...this.stats.toJSON()},
    }
  }

  /** SIGHUP: re-read the routing store and the certificate now. */
  reload(): void {
    this.feed.refresh()
    this.certificate?.reloadIfChanged()
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
    for (const listener of this.listeners) listener.stopAccepting()
    void this.api?.close()
    if (this.gcTimer) clearInterval(this.gcTimer)
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
    await this.closeResources()
    const result = {drained: open - remaining.length, cut: remaining.length}
    this.logger.info('shutdown_complete', 'stopped', {...result})
    return result
  }

  private async closeResources(): Promise<void> {
    for (const listener of this.listeners) listener.stopAccepting()
    this.api?.closeNow()
    this.certificate?.close()
    await this.feed.close()
    await this.writer.close()
  }
}
