// The services every POP runs, as thin lifecycle adapters over parts that live in their own areas:
// the routing-store feed, the TCP/TLS proxy listeners, the certificate watcher, the affinity sweep
// and the Auto-Discovery API. New features add their own service in their own folder instead.
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
 */
export function storeService(feed: RoutingFeed, writer: BackendStore, router: Router): Service {
  let isClosed = false
  return {
    name: 'store',
    async start() {
      router.setBackends(await feed.start((backends) => router.setBackends(backends)))
    },
    reload() {
      feed.refresh()
      return {backends: router.snapshot.length}
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

/** The Auto-Discovery API's listener. */
export function apiService(api: ApiServer, address: HostPort, onBound: (address: HostPort) => void): Service {
  return {
    name: 'api',
    async start() {
      onBound(await api.listen(address))
    },
    stopAccepting() {
      void api.close()
    },
    close() {
      api.closeNow()
    },
  }
}
