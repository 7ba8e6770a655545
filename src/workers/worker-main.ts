// One worker of a multi-worker process: its own TCP/TLS listeners on the shared addresses
// (SO_REUSEPORT: the kernel spreads new connections over the workers), its own connections, idle
// sweep and certificate copy, and a router whose counts, pick order, bindings and health live in
// the process's shared memory. The routing table, reloads and drains come from the control plane
// (src/workers/worker-pool.ts) as messages; it never reads the store or serves the API.
import type tls from 'node:tls'
import {parentPort, workerData} from 'node:worker_threads'

import {Admission} from '../admission/admission.js'
import {countersOf} from '../balancer/backend-counters.js'
import type {EdgeproxyError} from '../errors.js'
import {ROUTING_TIERS, Router, routerOptionsOf} from '../balancer/router.js'
import {openGeoResolver} from '../geo/geo-resolver.js'
import {createLogger} from '../log/logger.js'
import {throttledWarning} from '../log/throttle.js'
import {defaultDial, type ConnectionContext} from '../proxy/connection.js'
import {sweepIdle, sweepPeriodMs} from '../proxy/idle-sweep.js'
import {ProxyListener} from '../proxy/listener.js'
import {OpenConnections} from '../proxy/open-connections.js'
import {ListenerStats, ProxyStats} from '../proxy/stats.js'
import {TlsCertificate} from '../proxy/tls-certificate.js'
import {reviveConfig, type CounterSnapshot, type FromWorker, type ToWorker, type WorkerData} from './protocol.js'
import {H_CERTIFICATE, sharedNow, SharedMemory} from './shared-memory.js'
import {slotWordOf, WorkerRouterState, type TableMessage} from './shared-router-state.js'

const port = parentPort!
const data = workerData as WorkerData
const config = reviveConfig(data.config)
const post = (message: FromWorker) => port.postMessage(message)
const logger = createLogger({format: config.logFormat, isDebug: config.isDebug})
const memory = new SharedMemory(data.layout, data.buffer)

let state!: WorkerRouterState
const router = new Router({
  ...routerOptionsOf(config),
  monotonicNow: sharedNow,
  state: (health) =>
    (state = new WorkerRouterState({
      memory,
      worker: data.index,
      bindingTtlMs: config.bindingTtlMs,
      bindingMaxEntries: config.bindingMaxEntries,
      health,
      tiers: ROUTING_TIERS.length,
      cooldownMs: config.failureCooldownMs,
      isCircuitOn: config.health.circuit !== undefined,
      post,
    })),
})

function install(table: TableMessage): void {
  state.setWords(table)
  router.setBackends(table.backends)
  memory.installed(data.index, table.version)
}

const stats = new ProxyStats()
const listenerStats = {tcp: new ListenerStats(), tls: new ListenerStats()}
const connections = new OpenConnections()
// The control plane watches the files and logs renewals; a worker re-reads them at its first
// handshake after the control plane's count of renewals moved (one shared word read per TLS connection).
const certificateLogger = {...logger, info: () => {}}
const certificate = config.tls ? new TlsCertificate(config.tls.certPath, config.tls.keyPath, certificateLogger) : undefined
let certificateSeen = Atomics.load(memory.header, H_CERTIFICATE)
function currentContext(): tls.SecureContext {
  const seen = Atomics.load(memory.header, H_CERTIFICATE)
  if (seen !== certificateSeen) {
    certificateSeen = seen
    certificate!.reloadIfChanged()
  }
  return certificate!.context
}
// Admission counts in the control plane's client table: the limits are the process's, not this worker's.
const admission = config.limits.admission ? new Admission(config.limits.admission, logger, sharedNow, data.admissionBuffer) : undefined
const listeners: ProxyListener[] = []
let idleTimer: NodeJS.Timeout | undefined

function snapshot(): CounterSnapshot {
  const backends: CounterSnapshot['backends'] = []
  for (const b of router.snapshot) {
    const c = countersOf(b)
    const word = slotWordOf(b)
    if (c === undefined || word === 0) continue
    backends.push([word, [c.connections, c.connectErrors, c.connectTimeCount, c.connectTimeSumMs, ...c.connectTimeBuckets]])
  }
  const l = (s: ListenerStats) => ({accepted: s.accepted, completed: s.completed, bytesFromClients: s.bytesFromClients, bytesToClients: s.bytesToClients})
  return {
    stats: stats.toJSON(),
    listeners: {tcp: l(listenerStats.tcp), tls: l(listenerStats.tls)},
    decisions: [...router.decisions],
    backends,
    open: connections.size,
  }
}

let cut: (() => void) | undefined

async function drain(timeoutMs: number): Promise<void> {
  for (const l of listeners) l.stopAccepting()
  const open = connections.size
  post({type: 'draining', open})
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    connections.whenEmpty(),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs)
      cut = resolve
    }),
  ])
  clearTimeout(timer)
  const remaining = connections.snapshot()
  for (const c of remaining) c.destroy('shutdown')
  if (idleTimer) clearInterval(idleTimer)
  certificate?.close()
  post({type: 'drained', drained: open - remaining.length, cut: remaining.length})
  port.close()
}

async function start(first: TableMessage): Promise<void> {
  install(first)
  const geo = await openGeoResolver(config.geoipPath)
  const base = {
    router,
    geo,
    logger,
    stats,
    connections,
    connectTimeoutMs: config.connectTimeoutMs,
    connectAttempts: config.connectAttempts,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    proxyProtocol: config.proxyProtocol,
    admission,
    maxConnections: config.limits.maxConnections,
    sharedOpen: config.limits.maxConnections > 0 ? memory.openCount(data.index) : undefined,
    dial: defaultDial,
    worker: data.index,
    warnNoBackend: throttledWarning(logger, 'no_backend', 10_000),
    warnBackendFailed: throttledWarning(logger, 'backend_connect_failed', 1_000),
    warnMaxConnections: throttledWarning(logger, 'max_connections_reached', 1_000),
  } satisfies Omit<ConnectionContext, 'listener' | 'listenerStats'>
  const tcp = new ProxyListener({...base, listener: 'tcp', listenerStats: listenerStats.tcp}, logger)
  listeners.push(tcp)
  const tcpBound = await tcp.listen(data.tcp, '--listen (EDGEPROXY_LISTEN_ADDR)', true)
  let tlsBound
  if (config.tls && certificate && data.tls) {
    const tlsListener = new ProxyListener({...base, listener: 'tls', listenerStats: listenerStats.tls, tlsContext: currentContext}, logger)
    listeners.push(tlsListener)
    tlsBound = await tlsListener.listen(data.tls, '--tls-listen (EDGEPROXY_TLS_LISTEN_ADDR)', true)
  }
  const idleMs = config.limits.idleTimeoutMs
  if (idleMs > 0) {
    idleTimer = setInterval(() => (stats.idleTimeouts += sweepIdle(connections, performance.now(), idleMs)), sweepPeriodMs(idleMs))
    idleTimer.unref()
  }
  post({type: 'ready', tcp: tcpBound, tls: tlsBound})
}

let started = false
port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'table':
      if (!started) {
        started = true
        void start(message).catch((error: unknown) => {
          // The control plane turns it back into the error the CLI prints (EP_LISTEN_FAILED …).
          const e = error as Partial<EdgeproxyError> & Error
          post({type: 'start_failed', code: e.code, message: e.message, exitCode: e.exitCode, suggestion: e.suggestion})
          port.close()
        })
      } else install(message)
      break
    case 'collect':
      post({type: 'counters', id: message.id, ...snapshot()})
      break
    case 'reload':
      certificate?.reloadIfChanged()
      break
    case 'drain':
      void drain(message.timeoutMs)
      break
    case 'cut':
      cut?.()
      break
    case 'crash':
      throw new Error(`fault drill: worker ${data.index} crashes`)
  }
})
