// The router's state over shared memory, for a process with several workers (src/balancer/router-state.ts
// has the single-thread one). The control plane (the main thread: store feed, API, checks) assigns
// every backend of the table a slot, publishes health codes per slot, and takes the workers' connect
// outcomes as messages; each worker's router counts, picks and binds in the shared memory directly,
// so the hard limit, the load factors, the pick order and the bindings are the same for all of them.
import {attachCounters, BackendCounters, countersOf} from '../balancer/backend-counters.js'
import type {Backend} from '../balancer/backend.js'
import type {AffinityView, RouterState} from '../balancer/router-state.js'
import type {HealthSkip, HealthTable} from '../health/health-table.js'
import {SharedAffinity} from './shared-affinity.js'
import {HEALTH_DOWN, HEALTH_HALF_OPEN, HEALTH_OK, HEALTH_OPEN, sharedNow, type SharedMemory} from './shared-memory.js'

const kWord = Symbol('edgeproxy.slotWord')
type Slotted = Backend & {[kWord]?: number}

/** Slot and generation in one word (never 0): what affinity entries and messages carry. */
export function slotWord(slot: number, generation: number): number {
  return ((generation & 0x7fff) << 16) | (slot + 1)
}

export function slotOfWord(word: number): number {
  return (word & 0xffff) - 1
}

/** The slot word of a backend of the current table (0: it has no slot). */
export function slotWordOf(b: Backend): number {
  return (b as Slotted)[kWord] ?? 0
}
const wordOf = slotWordOf

function setWord(b: Backend, word: number): void {
  if ((b as Slotted)[kWord] === word) return
  Object.defineProperty(b, kWord, {value: word, enumerable: false, configurable: true})
}

/** A worker's report of a connect outcome on a slot (the control plane feeds its health table). */
export interface OutcomeMessage {
  type: 'outcome'
  kind: 'failed' | 'succeeded' | 'abandoned' | 'picked'
  word: number
  id: string
  why: string
  /** The connection was the slot's half-open trial. */
  isTrial: boolean
  /** When the worker saw it (shared clock, ms): a failure older than the backend's last passing check starts no cooldown. */
  atMs: number
}

/** The table a worker routes on: the backends with their slot words, in table order. */
export interface TableMessage {
  type: 'table'
  /** Counts up with every table the control plane sends (workers acknowledge it). */
  version: number
  backends: Backend[]
  words: number[]
}

/** Bindings seen by ids, over the shared table (what the API and metrics read). */
class SharedAffinityView implements AffinityView {
  constructor(
    readonly table: SharedAffinity,
    private readonly backendOf: (word: number) => Backend | undefined,
    private readonly wordOfId: (id: string) => number,
  ) {}

  get(clientIp: string): string | undefined {
    return this.backendOf(this.table.get(clientIp))?.id
  }

  peek(clientIp: string): string | undefined {
    return this.backendOf(this.table.peek(clientIp))?.id
  }

  set(clientIp: string, backendId: string): void {
    const word = this.wordOfId(backendId)
    if (word !== 0) this.table.set(clientIp, word, () => false, true)
  }

  delete(clientIp: string): void {
    this.table.delete(clientIp)
  }

  sweep(): number {
    return this.table.sweep((word) => this.backendOf(word) !== undefined)
  }

  get size(): number {
    return this.table.size
  }

  get evicted(): number {
    return this.table.evicted
  }
}

interface SharedStateOptions {
  memory: SharedMemory
  bindingTtlMs: number
  bindingMaxEntries: number
  health: HealthTable
  tiers: number
}

/** What both roles share: slot words on backends, counts and pick order read from shared memory. */
abstract class SharedStateBase {
  readonly health: HealthTable
  readonly affinity: SharedAffinityView
  readonly decisions: Float64Array
  protected readonly memory: SharedMemory
  protected readonly table: SharedAffinity
  /** The backend of each slot in the current table (undefined: free or not in it). */
  protected bySlot: (Backend | undefined)[] = []
  protected byId: ReadonlyMap<string, Backend> = new Map()

  constructor(options: SharedStateOptions) {
    this.memory = options.memory
    this.health = options.health
    this.decisions = new Float64Array(options.tiers)
    this.table = new SharedAffinity(options.memory, {ttlMs: options.bindingTtlMs, maxEntries: options.bindingMaxEntries})
    this.affinity = new SharedAffinityView(
      this.table,
      (word) => this.backendOfWord(word),
      (id) => {
        const b = this.byId.get(id)
        return b === undefined ? 0 : wordOf(b)
      },
    )
  }

  protected backendOfWord(word: number): Backend | undefined {
    if (word === 0) return undefined
    const b = this.bySlot[slotOfWord(word)]
    return b !== undefined && wordOf(b) === word ? b : undefined
  }

  protected readonly isLiveWord = (word: number): boolean => this.backendOfWord(word) !== undefined

  activeOf(b: Backend): number {
    const word = wordOf(b)
    return word === 0 ? 0 : Atomics.load(this.memory.active, slotOfWord(word))
  }

  lastPickedOf(b: Backend): number {
    const word = wordOf(b)
    return word === 0 ? 0 : this.memory.lastPick[slotOfWord(word)]
  }

  boundBackend(clientIp: string): Backend | undefined {
    return this.backendOfWord(this.table.get(clientIp))
  }

  bind(clientIp: string, b: Backend, isForced = false): Backend {
    const word = wordOf(b)
    if (word === 0) return b
    const bound = this.table.set(clientIp, word, this.isLiveWord, isForced)
    return bound === word ? b : (this.backendOfWord(bound) ?? b)
  }

  unbind(clientIp: string): void {
    this.table.delete(clientIp)
  }

  counters(b: Backend): BackendCounters | undefined {
    return countersOf(b)
  }
}

export interface WorkerStateOptions extends SharedStateOptions {
  /** This worker's index (its held counts and trial marks). */
  worker: number
  /** Passive cooldown after a failed connect (circuit breaker off). */
  cooldownMs: number
  isCircuitOn: boolean
  /** Sends an outcome to the control plane. */
  post: (message: OutcomeMessage) => void
  now?: () => number
}

/** A worker's state: picks and counts in shared memory, health as the control plane publishes it. */
export class WorkerRouterState extends SharedStateBase implements RouterState {
  private readonly worker: number
  private readonly heldBase: number
  private readonly cooldownMs: number
  private readonly isCircuitOn: boolean
  private readonly post: (message: OutcomeMessage) => void
  private readonly now: () => number
  /** Slots whose half-open trial this worker holds. */
  private readonly myTrials: Uint8Array
  private wordById = new Map<string, number>()

  constructor(options: WorkerStateOptions) {
    super(options)
    this.worker = options.worker
    this.heldBase = options.worker * options.memory.layout.slots
    this.cooldownMs = options.cooldownMs
    this.isCircuitOn = options.isCircuitOn
    this.post = options.post
    this.now = options.now ?? sharedNow
    this.myTrials = new Uint8Array(options.memory.layout.slots)
  }

  /** The slot words of the next table (called right before the router installs it). */
  setWords(table: TableMessage): void {
    const words = new Map<string, number>()
    for (let i = 0; i < table.backends.length; i++) words.set(table.backends[i].id, table.words[i])
    this.wordById = words
  }

  install(backends: readonly Backend[], byId: ReadonlyMap<string, Backend>): void {
    const previous = this.byId
    attachCounters(backends, (id) => {
      const b = previous.get(id)
      return b === undefined ? undefined : countersOf(b)
    })
    const bySlot: (Backend | undefined)[] = []
    for (const b of backends) {
      const word = this.wordById.get(b.id) ?? 0
      setWord(b, word)
      if (word !== 0) bySlot[slotOfWord(word)] = b
    }
    this.bySlot = bySlot
    this.byId = byId
  }

  healthSkip(b: Backend, nowMs: number): HealthSkip | null {
    const word = wordOf(b)
    // A backend without a slot (the table outgrew the slots) is never routed by a worker.
    if (word === 0) return 'down'
    const m = this.memory
    const s = slotOfWord(word)
    const code = m.health[s]
    if (code !== HEALTH_OK) {
      if (code === HEALTH_DOWN) return 'down'
      if (code === HEALTH_OPEN && nowMs < m.openUntil[s]) return 'circuit_open'
      // Half-open (or open past its time): one trial at a time over all workers.
      if (m.trial[s] !== 0) return 'circuit_half_open'
    }
    if (m.coolingUntil[s] > nowMs) return 'cooling_down'
    return null
  }

  tryAcquire(b: Backend): boolean {
    const m = this.memory
    const s = slotOfWord(wordOf(b))
    const code = m.health[s]
    const isTrial = code === HEALTH_OPEN || code === HEALTH_HALF_OPEN
    if (isTrial && Atomics.compareExchange(m.trial, s, 0, this.worker + 1) !== 0) return false
    if (!m.tryCount(s, b.hardLimit)) {
      if (isTrial) Atomics.store(m.trial, s, 0)
      return false
    }
    m.held[this.heldBase + s]++
    m.lastPick[s] = m.nextPick()
    if (isTrial) {
      this.myTrials[s] = 1
      this.tell('picked', b, '', false)
    }
    return true
  }

  release(b: Backend): void {
    const word = wordOf(b)
    if (word === 0) return
    const s = slotOfWord(word)
    this.memory.held[this.heldBase + s]--
    Atomics.sub(this.memory.active, s, 1)
  }

  private tell(kind: OutcomeMessage['kind'], b: Backend, why: string, isTrial: boolean): void {
    this.post({type: 'outcome', kind, word: wordOf(b), id: b.id, why, isTrial, atMs: this.now()})
  }

  /** Whether the control plane wants this outcome: it ends a trial, or the slot's circuit is counting. */
  private takeTrial(s: number): boolean {
    const isTrial = this.myTrials[s] === 1
    this.myTrials[s] = 0
    return isTrial
  }

  connectFailed(b: Backend, why: string): void {
    const s = slotOfWord(wordOf(b))
    if (s < 0) return
    if (!this.isCircuitOn) this.memory.coolingUntil[s] = this.now() + this.cooldownMs
    this.tell('failed', b, why, this.takeTrial(s))
  }

  connectSucceeded(b: Backend): void {
    const s = slotOfWord(wordOf(b))
    if (s < 0) return
    const isTrial = this.takeTrial(s)
    if (isTrial || this.memory.attention[s] !== 0) this.tell('succeeded', b, '', isTrial)
  }

  abandoned(b: Backend): void {
    const s = slotOfWord(wordOf(b))
    if (s < 0) return
    const isTrial = this.takeTrial(s)
    if (isTrial || this.memory.attention[s] !== 0) this.tell('abandoned', b, '', isTrial)
  }

  isCooling(b: Backend): boolean {
    const s = slotOfWord(wordOf(b))
    return s >= 0 && this.memory.coolingUntil[s] > this.now()
  }
}

export interface ControlStateOptions extends SharedStateOptions {
  /** Called with every new table and its slot words (the pool sends it to every worker). */
  onTable: (table: TableMessage) => void
  /** Backends of a new table left out because every slot is taken (the caller logs them; called per table while any is). */
  onNoSlots?: (ids: string[]) => void
  now?: () => number
  /** How long a slot whose backend left stays unused (workers may still route on the old table). */
  quarantineMs?: number
}

/**
 * The control plane's state: it assigns slots, keeps the health table (checks, circuits, cooldowns
 * are decided here and published per slot), and reports process-wide counts. Counters and routing
 * decisions are the sum of the workers', filled in by the pool before they are read.
 */
export class ControlRouterState extends SharedStateBase implements RouterState {
  private readonly onTable: (table: TableMessage) => void
  private readonly onNoSlots?: (ids: string[]) => void
  /** Backends of the current table without a slot: no worker routes them (EDGEPROXY_WORKERS_BACKEND_SLOTS). */
  unslotted = 0
  private readonly now: () => number
  private readonly quarantineMs: number
  private readonly slotById = new Map<string, number>()
  private readonly free: number[] = []
  /** Slots whose backend left the table: when (shared-clock ms). */
  private readonly leaving = new Map<number, number>()
  /** When each backend last passed an active check (shared clock, ms). */
  private readonly passedAt = new Map<string, number>()
  private current: readonly Backend[] = []

  constructor(options: ControlStateOptions) {
    super(options)
    this.onTable = options.onTable
    this.onNoSlots = options.onNoSlots
    this.now = options.now ?? sharedNow
    this.quarantineMs = options.quarantineMs ?? 5000
    for (let s = options.memory.layout.slots - 1; s >= 0; s--) this.free.push(s)
    this.health.onCheckPassed = (id) => this.checkPassed(id)
  }

  /**
   * A passing check ends the backend's cooldown for every worker at once (the health table ended
   * its own): the shared end time goes to 0, and failures workers saw before now, still on their
   * way as messages, will not start it again.
   */
  private checkPassed(id: string): void {
    const b = this.byId.get(id)
    const word = b === undefined ? 0 : wordOf(b)
    if (word === 0) return
    this.passedAt.set(id, this.now())
    this.memory.coolingUntil[slotOfWord(word)] = 0
    // An open circuit turned half-open: the workers may try it now, not at the next 100 ms publish.
    this.publishOne(b!)
  }

  install(backends: readonly Backend[], byId: ReadonlyMap<string, Backend>): void {
    const previous = this.byId
    attachCounters(backends, (id) => {
      const b = previous.get(id)
      return b === undefined ? undefined : countersOf(b)
    })
    const m = this.memory
    const now = this.now()
    this.reclaim(now)
    const bySlot: (Backend | undefined)[] = []
    const words: number[] = []
    const noSlot: string[] = []
    for (const b of backends) {
      let s = this.slotById.get(b.id)
      if (s === undefined) {
        s = this.free.pop()
        if (s === undefined) {
          noSlot.push(b.id)
          setWord(b, 0)
          words.push(0)
          continue
        }
        m.generation[s] = (m.generation[s] + 1) & 0x7fff
        m.health[s] = HEALTH_OK
        m.coolingUntil[s] = 0
        m.attention[s] = 0
        m.trial[s] = 0
        m.lastPick[s] = 0
        this.slotById.set(b.id, s)
        this.leaving.delete(s)
      }
      const word = slotWord(s, m.generation[s])
      setWord(b, word)
      bySlot[s] = b
      words.push(word)
    }
    for (const [id, s] of this.slotById) {
      if (byId.has(id)) continue
      this.slotById.delete(id)
      this.passedAt.delete(id)
      this.leaving.set(s, now)
    }
    this.bySlot = bySlot
    this.byId = byId
    this.current = backends
    this.unslotted = noSlot.length
    if (noSlot.length > 0) this.onNoSlots?.(noSlot)
    this.health.setBackends(backends)
    this.publishAll()
    this.onTable({type: 'table', version: 0, backends: [...backends], words})
  }

  /** Slots that left the table long enough ago and hold no connection go back to the free list. */
  private reclaim(now: number): void {
    for (const [s, since] of this.leaving) {
      if (now - since < this.quarantineMs || Atomics.load(this.memory.active, s) !== 0) continue
      this.leaving.delete(s)
      this.free.push(s)
    }
  }

  /**
   * Writes every backend's health code for the workers (after events, and on a short timer for
   * time-driven changes); backends left without a slot get one as soon as a slot is free again
   * (the table is handed out anew), not only at the next table change.
   */
  publish(): void {
    if (this.unslotted > 0 && this.hasReclaimable(this.now())) {
      this.install(this.current, this.byId)
      return
    }
    this.publishAll()
  }

  private publishAll(): void {
    for (const b of this.current) this.publishOne(b)
  }

  private hasReclaimable(now: number): boolean {
    if (this.free.length > 0) return true
    for (const [s, since] of this.leaving) if (now - since >= this.quarantineMs && Atomics.load(this.memory.active, s) === 0) return true
    return false
  }

  private publishOne(b: Backend): void {
    const word = wordOf(b)
    if (word === 0) return
    const m = this.memory
    const s = slotOfWord(word)
    const health = this.health
    const circuits = health.circuits
    let code = HEALTH_OK
    if (health.downCount > 0 && !health.isUp(b.id)) code = HEALTH_DOWN
    else if (circuits !== undefined && circuits.size > 0) {
      const phase = circuits.phase(b.id)
      if (phase === 'open') {
        code = HEALTH_OPEN
        m.openUntil[s] = circuits.get(b.id)!.openUntilMs
      } else if (phase === 'half_open') code = HEALTH_HALF_OPEN
    }
    m.attention[s] = circuits?.get(b.id) !== undefined ? 1 : 0
    Atomics.store(m.health, s, code)
  }

  /** A worker's connect outcome: the health table learns it as if the connection were local. */
  outcome(message: OutcomeMessage): void {
    const b = this.backendOfWord(message.word)
    const health = this.health
    if (b !== undefined && b.id === message.id) {
      if (message.kind === 'failed') {
        health.connectFailed(b.id, b.app, b.region, message.why)
        const s = slotOfWord(message.word)
        if (message.atMs <= (this.passedAt.get(b.id) ?? -Infinity)) {
          // A check passed after this failure (the message came late): as on one thread, the pass ended
          // the cooldown. The shared end time stays as it is: 0 since the pass, or a newer failure's.
          if (this.memory.coolingUntil[s] === 0) health.endCooldown(b.id)
        } else {
          const until = health.coolingUntilMs(b.id)
          if (until > this.memory.coolingUntil[s]) this.memory.coolingUntil[s] = until
        }
      } else if (message.kind === 'succeeded') health.connectSucceeded(b.id)
      else if (message.kind === 'abandoned') health.abandoned(b.id)
      else {
        health.skipReason(b.id, this.now())
        health.picked(b.id)
      }
      this.publishOne(b)
    }
    if (message.isTrial && message.kind !== 'picked') Atomics.store(this.memory.trial, slotOfWord(message.word), 0)
  }

  healthSkip(b: Backend, nowMs: number): HealthSkip | null {
    // No slot: no worker routes it (their healthSkip says down), so neither do DNS, /health and the API.
    // By id: the API and DNS may ask with their own copy of the backend, which carries no slot word.
    if (this.unslotted > 0 && !this.slotById.has(b.id) && this.byId.has(b.id)) return 'down'
    return this.health.skipReason(b.id, nowMs)
  }

  tryAcquire(b: Backend): boolean {
    const word = wordOf(b)
    if (word === 0 || !this.memory.tryCount(slotOfWord(word), b.hardLimit)) return false
    this.memory.lastPick[slotOfWord(word)] = this.memory.nextPick()
    return true
  }

  release(b: Backend): void {
    const word = wordOf(b)
    if (word !== 0) Atomics.sub(this.memory.active, slotOfWord(word), 1)
  }

  connectFailed(b: Backend, why: string): void {
    this.health.connectFailed(b.id, b.app, b.region, why)
    this.publishOne(b)
  }

  connectSucceeded(b: Backend): void {
    this.health.connectSucceeded(b.id)
  }

  abandoned(b: Backend): void {
    this.health.abandoned(b.id)
  }

  isCooling(b: Backend): boolean {
    return this.health.isCooling(b.id)
  }

  /** The backend of a slot word in the current table. */
  backendAt(word: number): Backend | undefined {
    return this.backendOfWord(word)
  }

  /** Sums the workers' figures into this state's: decisions per tier and per-backend counters (by slot word). */
  fill(sums: {decisions: Float64Array; backends: Map<number, BackendCounters>}): void {
    this.decisions.set(sums.decisions)
    for (const b of this.current) {
      const mine = countersOf(b)
      if (mine === undefined) continue
      const sum = sums.backends.get(wordOf(b))
      copyCounters(sum, mine)
    }
  }
}

/** Overwrites `to` with `from` (zero when absent). */
export function copyCounters(from: BackendCounters | undefined, to: BackendCounters): void {
  to.connections = from?.connections ?? 0
  to.connectErrors = from?.connectErrors ?? 0
  to.connectTimeCount = from?.connectTimeCount ?? 0
  to.connectTimeSumMs = from?.connectTimeSumMs ?? 0
  if (from === undefined) to.connectTimeBuckets.fill(0)
  else to.connectTimeBuckets.set(from.connectTimeBuckets)
}

/** Adds `from` into `to`. */
export function addCounters(from: BackendCounters, to: BackendCounters): void {
  to.connections += from.connections
  to.connectErrors += from.connectErrors
  to.connectTimeCount += from.connectTimeCount
  to.connectTimeSumMs += from.connectTimeSumMs
  for (let i = 0; i < to.connectTimeBuckets.length; i++) to.connectTimeBuckets[i] += from.connectTimeBuckets[i]
}

export {BackendCounters}
