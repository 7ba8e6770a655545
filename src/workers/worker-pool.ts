// The control plane's side of the workers: it starts them (the first binds the configured addresses,
// port 0 included, and the others join the port it got), hands every new routing table to each,
// feeds their connect outcomes to the health table, sums their counters when something reads them,
// drains them together on shutdown, and replaces one that dies without touching the others.
import {Worker} from 'node:worker_threads'

import {BackendCounters} from '../balancer/backend-counters.js'
import type {StartConfig} from '../config/start-config.js'
import {EdgeproxyError, type ExitCode} from '../errors.js'
import type {Logger} from '../log/logger.js'
import type {HostPort} from '../net/address.js'
import type {ListenerStats, ProxyStats} from '../proxy/stats.js'
import type {ShutdownResult} from '../engine.js'
import {cloneableConfig, type CounterSnapshot, type FromWorker, type ToWorker, type WorkerData} from './protocol.js'
import type {SharedMemory} from './shared-memory.js'
import type {ControlRouterState, TableMessage} from './shared-router-state.js'

export interface WorkerPoolOptions {
  count: number
  memory: SharedMemory
  /** The per-client admission table every worker counts in (undefined: admission is off). */
  admissionBuffer?: SharedArrayBuffer
  config: StartConfig
  logger: Logger
  state: () => ControlRouterState
  /** Where the process-wide sums go (what /health and metrics read). */
  stats: ProxyStats
  listenerStats: {tcp: ListenerStats; tls: ListenerStats}
  /** The worker script (tests running TypeScript sources point at the built one). */
  script?: URL
}

interface Slot {
  worker: Worker
  index: number
  isReady: boolean
  last?: CounterSnapshot
}

const COLLECT_TIMEOUT_MS = 1000
/** Longest the control plane blocks for the workers to take a new table (they take it in microseconds). */
const TABLE_WAIT_MS = 200

function emptySnapshot(): CounterSnapshot {
  const l = {accepted: 0, completed: 0, bytesFromClients: 0, bytesToClients: 0}
  return {stats: {}, listeners: {tcp: {...l}, tls: {...l}}, decisions: [], backends: [], open: 0}
}

function addSnapshot(from: CounterSnapshot, to: CounterSnapshot): void {
  for (const [k, v] of Object.entries(from.stats)) to.stats[k] = (to.stats[k] ?? 0) + v
  for (const name of ['tcp', 'tls'] as const) {
    const a = from.listeners[name]
    const b = to.listeners[name]
    b.accepted += a.accepted
    b.completed += a.completed
    b.bytesFromClients += a.bytesFromClients
    b.bytesToClients += a.bytesToClients
  }
  for (let i = 0; i < from.decisions.length; i++) to.decisions[i] = (to.decisions[i] ?? 0) + from.decisions[i]
  to.backends.push(...from.backends)
  to.open += from.open
}

export class WorkerPool {
  readonly count: number
  tcp?: HostPort
  tls?: HostPort
  /** Workers replaced after a crash since start. */
  replaced = 0
  private readonly slots: (Slot | undefined)[] = []
  private table?: TableMessage
  private isStopping = false
  private tableVersion = 0
  private collectId = 0
  private readonly pending = new Map<number, {want: Set<number>; done: () => void}>()
  /** The counters of workers that died: kept so process-wide totals never go back. */
  private readonly retired = emptySnapshot()
  private readonly script: URL
  private draining?: {open: number; opened: number; onOpen: () => void; done: number; result: ShutdownResult; onDone: () => void}

  constructor(private readonly options: WorkerPoolOptions) {
    this.count = options.count
    this.script = options.script ?? new URL('./worker-main.js', import.meta.url)
  }

  /** Backend slots of the shared memory (EDGEPROXY_WORKERS_BACKEND_SLOTS). */
  get backendSlots(): number {
    return this.options.memory.layout.slots
  }

  /** Bytes of shared memory the workers use (routing state and bindings; the admission table apart). */
  get sharedBytes(): number {
    return this.options.memory.buffer.byteLength
  }

  /** The control plane's router state (slots, health codes, the sums). */
  get control(): ControlRouterState {
    return this.options.state()
  }

  /** Starts every worker and resolves when all listen. */
  async start(): Promise<void> {
    const c = this.options.config
    const first = await this.spawn(0, c.listen, c.tls?.listen)
    this.tcp = first.tcp
    this.tls = first.tls
    await Promise.all(Array.from({length: this.count - 1}, (_, i) => this.spawn(i + 1, this.tcp!, this.tls)))
  }

  private spawn(index: number, tcp: HostPort, tls: HostPort | undefined): Promise<{tcp: HostPort; tls?: HostPort}> {
    const {memory, config} = this.options
    const data: WorkerData = {
      index,
      buffer: memory.buffer as SharedArrayBuffer,
      layout: memory.layout,
      admissionBuffer: this.options.admissionBuffer,
      config: cloneableConfig(config),
      tcp,
      tls,
    }
    const worker = new Worker(this.script, {workerData: data, stdout: false, stderr: false})
    const slot: Slot = {worker, index, isReady: false}
    this.slots[index] = slot
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'start_failed') {
          reject(
            message.code?.startsWith('EP_') && message.exitCode !== undefined
              ? new EdgeproxyError(message.code, message.message, message.exitCode as ExitCode, {suggestion: message.suggestion})
              : new Error(`worker ${index} could not start: ${message.message}`),
          )
          return
        }
        if (message.type === 'ready') {
          slot.isReady = true
          resolve({tcp: message.tcp, tls: message.tls})
          return
        }
        this.onMessage(slot, message)
      })
      worker.on('error', (error) => {
        if (!slot.isReady) reject(error)
        else this.options.logger.error('worker_error', `worker ${index} threw: ${error.message}`, {worker: index, error: error.message})
      })
      worker.on('exit', (code) => {
        if (!slot.isReady) reject(new Error(`worker ${index} exited with code ${code} before it listened`))
        this.onExit(slot, code)
      })
      if (this.table) worker.postMessage(this.table)
    })
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    switch (message.type) {
      case 'outcome':
        this.options.state().outcome(message)
        break
      case 'counters': {
        const {type: _t, id, ...snapshot} = message
        slot.last = snapshot
        const p = this.pending.get(id)
        if (p === undefined) break
        p.want.delete(slot.index)
        if (p.want.size === 0) p.done()
        break
      }
      case 'draining':
        if (this.draining) {
          this.draining.open += message.open
          if (++this.draining.opened === this.live().length) this.draining.onOpen()
        }
        break
      case 'drained':
        if (this.draining) {
          this.draining.result.drained += message.drained
          this.draining.result.cut += message.cut
          if (++this.draining.done === this.live().length) this.draining.onDone()
        }
        break
    }
  }

  private live(): Slot[] {
    return this.slots.filter((s): s is Slot => s !== undefined)
  }

  /** A worker that exits outside a shutdown crashed: its counts go back, its last counters are kept, and a new one takes its place. */
  private onExit(slot: Slot, code: number): void {
    if (this.isStopping || this.slots[slot.index] !== slot) return
    const {logger, memory} = this.options
    this.slots[slot.index] = undefined
    // One that never listened failed to start: start() reports it (its spawn promise rejected).
    if (!slot.isReady) return
    const released = memory.releaseWorker(slot.index)
    if (slot.last) {
      // Its open connections were lost with it: they count as completed, so open = accepted - completed stays true.
      const last = slot.last
      const listeners = {tcp: {...last.listeners.tcp, completed: last.listeners.tcp.accepted}, tls: {...last.listeners.tls, completed: last.listeners.tls.accepted}}
      addSnapshot({...last, stats: {...last.stats, completed: last.stats.accepted ?? 0}, listeners, open: 0}, this.retired)
    }
    for (const [id, p] of this.pending) {
      if (p.want.delete(slot.index) && p.want.size === 0) {
        p.done()
        this.pending.delete(id)
      }
    }
    this.options.state().publish()
    logger.error('worker_crashed', `worker ${slot.index} exited (code ${code}); its connections are lost, starting a new one`, {
      worker: slot.index,
      code,
      released,
    })
    this.spawn(slot.index, this.tcp!, this.tls).then(
      () => {
        this.replaced++
        logger.info('worker_replaced', `worker ${slot.index} replaced`, {worker: slot.index, workers: this.live().length})
      },
      (error: Error) => logger.error('worker_replace_failed', `worker ${slot.index} could not be replaced: ${error.message}`, {worker: slot.index}),
    )
  }

  /** Every worker routes on this table from now on. */
  broadcast(table: TableMessage): void {
    table.version = ++this.tableVersion
    this.table = table
    const ready = this.live().filter((s) => s.isReady)
    for (const s of this.live()) s.worker.postMessage(table)
    const behind = this.options.memory.waitInstalled(
      ready.map((s) => s.index),
      table.version,
      TABLE_WAIT_MS,
    )
    if (behind > 0) this.options.logger.warn('workers_table_late', `${behind} worker(s) did not take the new routing table within ${TABLE_WAIT_MS} ms; they will shortly`, {behind})
  }

  private post(message: ToWorker): void {
    for (const s of this.live()) s.worker.postMessage(message)
  }

  reload(): void {
    this.post({type: 'reload'})
  }

  /** Workers not yet routing on the latest table (it reaches them within a message hop). */
  get behind(): number {
    const versions = this.options.memory.tableVersion
    return this.live().filter((s) => Atomics.load(versions, s.index) < this.tableVersion).length
  }

  /** Fault drill: worker `index` throws. */
  crash(index: number): void {
    this.slots[index]?.worker.postMessage({type: 'crash'} satisfies ToWorker)
  }

  /**
   * Asks every worker for its counters and writes the process-wide sums into the stats objects and
   * the control state (what /health and metrics then read). A worker that does not answer within a
   * second counts with its last answer.
   */
  async collect(): Promise<CounterSnapshot> {
    const id = ++this.collectId
    const live = this.live().filter((s) => s.isReady)
    if (live.length > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, COLLECT_TIMEOUT_MS)
        this.pending.set(id, {
          want: new Set(live.map((s) => s.index)),
          done: () => {
            clearTimeout(timer)
            resolve()
          },
        })
        for (const s of live) s.worker.postMessage({type: 'collect', id} satisfies ToWorker)
      })
      this.pending.delete(id)
    }
    const sum = emptySnapshot()
    addSnapshot(this.retired, sum)
    for (const s of this.live()) if (s.last) addSnapshot(s.last, sum)
    this.fill(sum)
    return sum
  }

  private fill(sum: CounterSnapshot): void {
    const {stats, listenerStats} = this.options
    const target = stats as unknown as Record<string, number>
    for (const k of Object.keys(stats.toJSON())) target[k] = sum.stats[k] ?? 0
    for (const name of ['tcp', 'tls'] as const) Object.assign(listenerStats[name], sum.listeners[name])
    const backends = new Map<number, BackendCounters>()
    for (const [word, f] of sum.backends) {
      let c = backends.get(word)
      if (c === undefined) backends.set(word, (c = new BackendCounters()))
      c.connections += f[0]
      c.connectErrors += f[1]
      c.connectTimeCount += f[2]
      c.connectTimeSumMs += f[3]
      for (let i = 0; i < c.connectTimeBuckets.length; i++) c.connectTimeBuckets[i] += f[4 + i]
    }
    this.options.state().fill({decisions: Float64Array.from(sum.decisions), backends})
  }

  /**
   * Drains every worker: each stops accepting at once and gives its open connections up to
   * `timeoutMs`. `onOpen` gets the connections open when the drain began (summed); the result sums
   * what finished and what was cut.
   */
  async drain(timeoutMs: number, onOpen: (open: number) => void): Promise<ShutdownResult> {
    this.isStopping = true
    const live = this.live()
    if (live.length === 0) return {drained: 0, cut: 0}
    const result = {drained: 0, cut: 0}
    await new Promise<void>((resolveDone) => {
      this.draining = {open: 0, opened: 0, onOpen: () => onOpen(this.draining!.open), done: 0, result, onDone: resolveDone}
      this.post({type: 'drain', timeoutMs})
    })
    await Promise.all(live.map((s) => s.worker.terminate()))
    return result
  }

  /** A second stop signal: every worker cuts its connections now. */
  cutNow(): void {
    this.post({type: 'cut'})
  }

  /** Stops every worker at once (start-up failed). */
  async terminate(): Promise<void> {
    this.isStopping = true
    await Promise.all(this.live().map((s) => s.worker.terminate()))
  }
}
