// The proxy engine of one POP, assembled from a validated StartConfig: routing store feed, geo,
// router, TCP and TLS listeners, timers. Everything that can be refused (certificate, GeoIP file,
// store, addresses) is checked before the first socket listens. It never exits the process:
// the CLI owns signals and exit codes, the engine exposes reload() and shutdown().
import type {Backend} from './balancer/backend.js'
import {Router} from './balancer/router.js'
import type {StartConfig} from './config/start-config.js'
import {openGeoResolver, type GeoResolver} from './geo/geo-resolver.js'
import type {Logger} from './log/logger.js'
import {throttledWarning} from './log/throttle.js'
import {formatHostPort, type HostPort} from './net/address.js'
import {defaultDial, type ConnectionContext, type Dial} from './proxy/connection.js'
import {ProxyListener} from './proxy/listener.js'
import {OpenConnections} from './proxy/open-connections.js'
import {ProxyStats} from './proxy/stats.js'
import {TlsCertificate} from './proxy/tls-certificate.js'
import type {FeedStatus, RoutingFeed} from './store/routing-feed.js'
import {SqliteFeed} from './store/sqlite-feed.js'
import {SqliteRoutingStore} from './store/sqlite-store.js'

export interface EngineOptions {
  logger: Logger
  version: string
  dial?: Dial
  /** A feed other than the SQLite file of config.dbPath (the Corrosion feed, tests). */
  feed?: RoutingFeed
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
  private gcTimer?: NodeJS.Timeout
  private shutdownPromise?: Promise<ShutdownResult>
  private forceCut?: () => void
  tcpAddress?: HostPort
  tlsAddress?: HostPort

  private constructor(
    readonly config: StartConfig,
    readonly router: Router,
    readonly feed: RoutingFeed,
    readonly geo: GeoResolver,
    private readonly certificate: TlsCertificate | undefined,
    private readonly logger: Logger,
    readonly version: string,
  ) {}

  static async start(config: StartConfig, options: EngineOptions): Promise<Engine> {
    const {logger} = options
    const certificate = config.tls ? new TlsCertificate(config.tls.certPath, config.tls.keyPath, logger) : undefined
    const geo = await openGeoResolver(config.geoipPath)
    const feed = options.feed ?? new SqliteFeed(SqliteRoutingStore.open(config.dbPath, {create: true}), config.dbReloadMs, logger)
    const router = new Router({
      localRegion: config.region,
      app: config.app,
      bindingTtlMs: config.bindingTtlMs,
      bindingMaxEntries: config.bindingMaxEntries,
      failureCooldownMs: config.failureCooldownMs,
    })
    const engine = new Engine(config, router, feed, geo, certificate, logger, options.version)
    try {
      const initial = await feed.start((backends) => engine.router.setBackends(backends))
      router.setBackends(initial)
      await engine.listen(options.dial ?? defaultDial)
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

  /** SIGHUP: re-read the routing store and the certificate now. */
  reload(): void {
    this.feed.refresh()
    this.certificate?.reloadIfChanged()
  }

  /** Applies a write made in this process (the API) at once, without waiting for the next read. */
  applyLocalWrite(backend: Backend): void {
    this.router.upsertBackend(backend)
  }

  storeStatus(): FeedStatus {
    return this.feed.status()
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
    this.certificate?.close()
    await this.feed.close()
  }
}
