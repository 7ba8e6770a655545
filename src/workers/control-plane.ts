// What the engine needs to run several workers, made in one place: how many run on this Node
// (effectiveWorkers), the shared memory, the Router options that keep the control plane's routing
// state in it (ControlRouterState), and, once the engine's counters and admission table exist, the
// pool of worker threads. Engine.start calls workersSetup() only when more than one worker runs.
import {ROUTING_TIERS, type RouterOptions} from '../balancer/router.js'
import type {StartConfig} from '../config/start-config.js'
import type {Logger} from '../log/logger.js'
import type {ListenerStats, ProxyStats} from '../proxy/stats.js'
import type {TlsCertificate} from '../proxy/tls-certificate.js'
import {H_CERTIFICATE, layoutFor, sharedNow, SharedMemory} from './shared-memory.js'
import {ControlRouterState} from './shared-router-state.js'
import {supportsReusePort} from './settings.js'
import {WorkerPool} from './worker-pool.js'

/**
 * How many workers this process runs: EDGEPROXY_WORKERS, or 1 (with a warning saying why) on a Node
 * without SO_REUSEPORT listeners.
 */
export function effectiveWorkers(config: StartConfig, logger: Logger, nodeVersion = process.versions.node): number {
  const asked = config.workers
  if (asked <= 1) return 1
  if (!supportsReusePort(nodeVersion)) {
    logger.warn('workers_unsupported', `EDGEPROXY_WORKERS asks for ${asked} workers, but Node ${nodeVersion} cannot share a listening address between threads (reusePort needs Node 22.12 or later): running one worker`, {
      workers: asked,
      node: nodeVersion,
    })
    return 1
  }
  return asked
}

export interface WorkersSetup {
  /** Spread into the Router's options: its state lives in the workers' shared memory. */
  routerOptions: Partial<RouterOptions>
  /** The worker threads (started by the workers service), made once the engine's parts exist. */
  makePool(parts: {
    certificate?: TlsCertificate
    admissionBuffer?: SharedArrayBuffer
    stats: ProxyStats
    listenerStats: {tcp: ListenerStats; tls: ListenerStats}
  }): WorkerPool
}

export function workersSetup(config: StartConfig, logger: Logger, workers: number): WorkersSetup {
  const memory = new SharedMemory(layoutFor(workers, config.bindingMaxEntries, config.workersBackendSlots))
  let pool: WorkerPool | undefined
  let control: ControlRouterState | undefined
  return {
    routerOptions: {
      monotonicNow: sharedNow,
      workers,
      state: (health) =>
        (control = new ControlRouterState({
          memory,
          bindingTtlMs: config.bindingTtlMs,
          bindingMaxEntries: config.bindingMaxEntries,
          health,
          tiers: ROUTING_TIERS.length,
          onTable: (table) => pool?.broadcast(table),
          onNoSlots: (ids) =>
            logger.error(
              'backend_no_slot',
              `${ids.length} backend(s) get no traffic: the workers' shared memory has room for ${config.workersBackendSlots} backends and every slot is taken (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}); raise EDGEPROXY_WORKERS_BACKEND_SLOTS and restart`,
              {backends: ids.length, ids: ids.slice(0, 100).join(','), slots: config.workersBackendSlots},
            ),
        })),
    },
    makePool({certificate, admissionBuffer, stats, listenerStats}) {
      // A renewed certificate: workers re-read the files at their next handshake, so none serves the old one after the log says renewed.
      if (certificate) certificate.onChange = () => Atomics.add(memory.header, H_CERTIFICATE, 1)
      // The table the store service installs before the workers start reaches them at spawn.
      pool = new WorkerPool({count: workers, memory, admissionBuffer, config, logger, state: () => control!, stats, listenerStats})
      return pool
    },
  }
}
