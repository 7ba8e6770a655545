// The services every POP runs, as thin lifecycle adapters over parts that live in their own areas:
// the routing-store feed, the TCP/TLS proxy listeners, the certificate watcher, the affinity sweep
// and the Auto-Discovery API. New features add their own service in their own folder instead.
import type {Backend} from '../balancer/backend.js'
import type {Router} from '../balancer/router.js'
import type {ApiServer} from '../discovery/api-server.js'
import type {Logger} from '../log/logger.js'
import type {HostPort} from '../net/address.js'
import type {ConnectionContext} from '../proxy/connection.js'
import {ProxyListener} from '../proxy/listener.js'
import type {TlsCertificate} from '../proxy/tls-certificate.js'
import type {BackendStore} from '../store/backend-store.js'
import type {RoutingFeed} from '../store/routing-feed.js'
import type {Service} from './service.js'

/**
 * Follows the routing store into the router; SIGHUP reads it at once. It owns the feed and the
 * writer from the moment it is built, so close() releases them even when start() never ran.
 * Without EDGEPROXY_APP a table holding several apps routes them all together: it says so at
 * start and whenever the set of apps changes.
 */
export function storeService(feed: RoutingFeed, writer: BackendStore, router: Router, logger?: Logger): Service {
  let isClosed = false
  const checkApps = logger === undefined || router.app !== undefined ? () => {} : mixedAppsWarning(logger)
  const apply = (backends: Backend[]) => {
    router.setBackends(backends)
    checkApps(backends)
  }
  return {
    name: 'store',
    async start() {
      apply(await feed.start(apply))
    },
    reload() {
      const before = router.snapshot
      feed.refresh()
      const status = feed.status()
      // The SQLite feed reads synchronously; Corrosion's resync answers later, through the feed.
      const store = feed.kind === 'sqlite' ? (!status.isCurrent ? 'unreadable' : router.snapshot !== before ? 'changed' : 'unchanged') : 'resync requested'
      return {store, backends: router.snapshot.length, ...(status.error ? {store_error: status.error} : {})}
    },
    async close() {
      if (isClosed) return
      isClosed = true
      await feed.close()
      await writer.close()
    },
  }
}

export interface ListenerSpec {
  listener: ConnectionContext['listener']
  address: HostPort
  /** The setting to name when the address cannot be bound. */
  setting: string
  /** Receives the bound address (port 0 becomes the real port). */
  onBound: (address: HostPort) => void
  /** This listener's connection and byte counters. */
  stats: ConnectionContext['listenerStats']
  /** TLS listeners: the certificate to serve (read per handshake, so a renewal applies at once). */
  tlsContext?: ConnectionContext['tlsContext']
}

/** The proxy's accepting sockets. Draining stops them; open connections belong to OpenConnections. */
export function listenersService(base: Omit<ConnectionContext, 'listener' | 'listenerStats'>, specs: readonly ListenerSpec[], logger: Logger): Service {
  const listeners: ProxyListener[] = []
  const stop = () => {
    for (const l of listeners) l.stopAccepting()
  }
  return {
    name: 'listeners',
    async start() {
      for (const spec of specs) {
        const listener = new ProxyListener({...base, listener: spec.listener, listenerStats: spec.stats, tlsContext: spec.tlsContext}, logger)
        listeners.push(listener)
        spec.onBound(await listener.listen(spec.address, spec.setting))
      }
    },
    stopAccepting: stop,
    close: stop,
  }
}

/** Watches the certificate files for a renewal; SIGHUP checks at once. */
export function certificateService(certificate: TlsCertificate, reloadMs: number): Service {
  return {
    name: 'tls',
    async start() {
      certificate.watch(reloadMs)
    },
    reload() {
      return {certificate: certificate.reloadIfChanged() ? 'changed' : 'unchanged'}
    },
    close() {
      certificate.close()
    },
  }
}

/** Sweeps expired affinity bindings. */
export function affinitySweepService(router: Router, intervalMs: number, logger: Logger): Service {
  let timer: NodeJS.Timeout | undefined
  return {
    name: 'affinity',
    async start() {
      timer = setInterval(() => {
        const removed = router.affinity.sweep()
        if (removed > 0) logger.debug('bindings_swept', 'expired bindings removed', {removed, remaining: router.affinity.size})
      }, intervalMs)
      timer.unref()
    },
    close() {
      if (timer) clearInterval(timer)
    },
  }
}

/**
 * The Auto-Discovery API's listener. It keeps answering while the POP drains (/health says
 * `draining` with a 503, lists and writes still work) and closes only at the very end.
 */
export function apiService(api: ApiServer, address: HostPort, onBound: (address: HostPort) => void): Service {
  return {
    name: 'api',
    async start() {
      onBound(await api.listen(address))
    },
    close() {
      api.closeNow()
    },
  }
}

/** Warns when the set of apps in the table changes and holds more than one (EDGEPROXY_APP unset). */
export function mixedAppsWarning(logger: Logger): (backends: readonly Backend[]) => void {
  let last = ''
  return (backends) => {
    const apps = [...new Set(backends.map((b) => b.app))].sort()
    const key = apps.join('\n')
    if (key === last) return
    last = key
    if (apps.length < 2) return
    logger.warn(
      'apps_mixed',
      `the routing table holds backends of ${apps.length} apps and EDGEPROXY_APP is unset: a client may be sent to any app's backend; set EDGEPROXY_APP (--app) to route one app`,
      {apps: apps.map((a) => JSON.stringify(a)).join(',')},
    )
  }
}
