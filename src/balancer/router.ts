// The routing state of one POP: the current backend snapshot, live connection counts, affinity
// bindings, and what this POP learnt of each backend's health (active checks, circuits, the cooldown
// after a failed connect: src/health/health-table.ts). Synchronous and free of I/O: a pick and its
// connection-count increment happen in one turn of the event loop, so a burst of connects can never
// push a backend past its hard limit.
import type {CheckThresholds} from '../health/check-state.js'
import type {CircuitOptions} from '../health/circuit.js'
import {HealthTable, type HealthSkip} from '../health/health-table.js'
import {AffinityTable} from './affinity.js'
import {backendState, type Backend, type BackendState} from './backend.js'
import {attachCounters, BackendCounters, countersOf} from './backend-counters.js'
import {regionForCountry} from './regions.js'
import {geoScore, rankBackends, selectBackend, skipReason, type ClientGeo, type Evaluation, type SelectContext} from './select.js'

export interface RouterOptions {
  localRegion: string
  /** Route only backends of this app; undefined routes every app's backends. */
  app?: string
  bindingTtlMs: number
  bindingMaxEntries: number
  /** How long a backend that refused or timed out a connect is left out of new picks (circuit breaker off). */
  failureCooldownMs: number
  /** Active checks on: their rise/fall thresholds (the checker itself is a service). */
  checks?: CheckThresholds
  /** Circuit breaker on: it replaces the cooldown. */
  circuit?: CircuitOptions
  random?: () => number
  /** Wall clock (unix ms): judges leases, which are stored as absolute times. */
  now?: () => number
  /** Monotonic clock (ms): binding ages and cooldowns. */
  monotonicNow?: () => number
}

export interface Pick {
  backend: Backend
  /** True when the pick came from an existing affinity binding. */
  isAffinity: boolean
  /** The backend's traffic counters (metrics); the connection bumps them. */
  counters: BackendCounters
}

/** Routing decisions are counted by how the backend matched the client: `decisions[tier index]`. */
export const ROUTING_TIERS = ['country', 'region', 'pop', 'other', 'affinity'] as const
const AFFINITY_TIER = 4

/**
 * How long a local write overrides tables from the store that do not show it: the local agent
 * releases it within its 600 ms tick. The bound only matters when the store never shows the row as
 * new (clock skew between POPs, a concurrent write elsewhere that won the merge); it is judged when
 * a table arrives, so a store read rarely (SQLite every EDGEPROXY_DB_RELOAD_SECS) loses nothing.
 */
const LOCAL_WRITE_HOLD_MS = 5000

export class Router {
  readonly localRegion: string
  readonly app?: string
  readonly affinity: AffinityTable
  /** Check states, circuits and cooldowns, in memory and local to this POP. */
  readonly health: HealthTable
  private backends: readonly Backend[] = []
  /** The last table from the store, before local writes. */
  private fromStore: readonly Backend[] = []
  /** Local writes not yet shown by the store's table: id → the row written (null: deleted). */
  private readonly localWrites = new Map<string, {backend: Backend | null; updatedAtMs: number; holdUntil: number}>()
  private byId = new Map<string, Backend>()
  private readonly active = new Map<string, number>()
  private readonly lastPickSeq = new Map<string, number>()
  private pickSeq = 0
  /** Picks per tier of ROUTING_TIERS (0-3 the geo score, 4 an affinity binding); read by metrics. */
  readonly decisions = new Float64Array(ROUTING_TIERS.length)
  private readonly listeners: ((backends: readonly Backend[]) => void)[] = []
  private readonly now: () => number
  private readonly monotonicNow: () => number
  private readonly activeOf = (id: string): number => this.active.get(id) ?? 0
  private readonly lastPickedOf = (id: string): number => this.lastPickSeq.get(id) ?? 0

  constructor(options: RouterOptions) {
    this.localRegion = options.localRegion
    this.app = options.app
    this.now = options.now ?? Date.now
    this.monotonicNow = options.monotonicNow ?? (() => performance.now())
    this.affinity = new AffinityTable({
      ttlMs: options.bindingTtlMs,
      maxEntries: options.bindingMaxEntries,
      now: this.monotonicNow,
    })
    this.health = new HealthTable({
      cooldownMs: options.failureCooldownMs,
      checks: options.checks,
      circuit: options.circuit,
      now: this.monotonicNow,
      random: options.random,
    })
  }

  /** Called with every new snapshot (the health checker follows the backends this way). */
  onBackends(listener: (backends: readonly Backend[]) => void): void {
    this.listeners.push(listener)
  }

  /**
   * Swaps in a new table from the store. Counts, bindings and cooldowns are keyed by id and carry
   * over. Local writes the table does not show yet stay in force (see upsertBackend).
   */
  setBackends(all: readonly Backend[]): void {
    this.fromStore = all
    this.install(this.withLocalWrites(all, true))
  }

  /**
   * A local API write (register, renewal, drain, enable, disable, weight): routable at once, and
   * kept over tables from the store until one shows the row at least as new (its updated_at_ms).
   * A store table can predate the write: Corrosion releases subscription changes on a tick of up to
   * 600 ms, and any other row's change hands the feed a whole table still holding the old row.
   */
  upsertBackend(backend: Backend): void {
    if (this.app !== undefined && backend.app !== this.app) return
    this.localWrites.set(backend.id, {backend, updatedAtMs: backend.updatedAtMs, holdUntil: this.monotonicNow() + LOCAL_WRITE_HOLD_MS})
    this.install(this.withLocalWrites(this.fromStore, false))
  }

  /** A local deregistration (a DELETE): gone at once, and kept gone until the store's table agrees or shows a newer row. */
  removeBackend(id: string, atMs: number): void {
    this.localWrites.set(id, {backend: null, updatedAtMs: atMs, holdUntil: this.monotonicNow() + LOCAL_WRITE_HOLD_MS})
    this.install(this.withLocalWrites(this.fromStore, false))
  }

  /**
   * The store's table with the local writes it does not show yet; drops the writes it shows, and
   * (`isNewTable`: a table that arrived after the hold) the ones it never will.
   */
  private withLocalWrites(all: readonly Backend[], isNewTable: boolean): readonly Backend[] {
    if (this.localWrites.size === 0) return all
    const now = this.monotonicNow()
    const stored = new Map(all.map((b) => [b.id, b]))
    let out: Backend[] | undefined
    for (const [id, write] of this.localWrites) {
      const row = stored.get(id)
      const isCaughtUp = row === undefined ? write.backend === null : row.updatedAtMs >= write.updatedAtMs
      if (isCaughtUp || (isNewTable && now > write.holdUntil)) {
        this.localWrites.delete(id)
        continue
      }
      out ??= [...all]
      const at = row === undefined ? -1 : out.indexOf(row)
      if (write.backend === null) out.splice(at, 1)
      else if (at >= 0) out[at] = write.backend
      else out.push(write.backend)
    }
    return out ?? all
  }

  private install(all: readonly Backend[]): void {
    const mine = this.app === undefined ? all : all.filter((b) => b.app === this.app)
    const previous = this.byId
    attachCounters(mine, (id) => {
      const b = previous.get(id)
      return b === undefined ? undefined : countersOf(b)
    })
    this.backends = mine
    this.byId = new Map(mine.map((b) => [b.id, b]))
    this.health.setBackends(mine)
    for (const listener of this.listeners) listener(mine)
  }

  get snapshot(): readonly Backend[] {
    return this.backends
  }

  get(id: string): Backend | undefined {
    return this.byId.get(id)
  }

  clientGeo(country: string | null): ClientGeo {
    return {country, region: country === null ? null : regionForCountry(country)}
  }

  // One context object, refilled per pick: acquire() runs once per connection, so it allocates nothing.
  private tried?: ReadonlySet<string>
  private monotonicAtPick = 0
  private readonly isExcludedNow = (id: string): boolean => this.tried !== undefined && this.tried.has(id)
  private readonly healthSkipNow = (id: string) => this.health.skipReason(id, this.monotonicAtPick)
  private readonly pickContext: SelectContext = {
    client: {country: null, region: null},
    localRegion: '',
    nowMs: 0,
    activeConnections: this.activeOf,
    lastPicked: this.lastPickedOf,
    isExcluded: this.isExcludedNow,
    healthSkip: this.healthSkipNow,
  }

  private context(country: string | null, tried?: ReadonlySet<string>): SelectContext {
    const ctx = this.pickContext
    ctx.client.country = country
    ctx.client.region = country === null ? null : regionForCountry(country)
    ctx.localRegion = this.localRegion
    ctx.nowMs = this.now()
    this.tried = tried
    this.monotonicAtPick = this.monotonicNow()
    return ctx
  }

  /**
   * Chooses a backend for a new connection and counts it as active at once; the caller must
   * call release(). Reuses the client's binding while its backend can still take connections.
   */
  acquire(clientIp: string, country: string | null, tried?: ReadonlySet<string>): Pick | null {
    const ctx = this.context(country, tried)
    const boundId = this.affinity.get(clientIp)
    let backend: Backend | null = null
    let isAffinity = false
    if (boundId !== undefined) {
      const bound = this.byId.get(boundId)
      if (bound !== undefined && skipReason(bound, ctx, this.activeOf(bound.id)) === null) {
        backend = bound
        isAffinity = true
      }
    }
    if (backend === null) {
      backend = selectBackend(this.backends, ctx)
      if (backend === null) {
        if (boundId !== undefined) this.affinity.delete(clientIp)
        return null
      }
      this.affinity.set(clientIp, backend.id)
    }
    this.active.set(backend.id, this.activeOf(backend.id) + 1)
    this.lastPickSeq.set(backend.id, ++this.pickSeq)
    this.decisions[isAffinity ? AFFINITY_TIER : geoScore(backend, ctx.client, ctx.localRegion)]++
    this.health.picked(backend.id)
    const counters = countersOf(backend)!
    counters.connections++
    return {backend, isAffinity, counters}
  }

  /** The traffic counters of a backend of the current table (undefined once it left the table). */
  counters(backend: Backend): BackendCounters | undefined {
    return countersOf(backend)
  }

  release(id: string): void {
    const n = this.activeOf(id) - 1
    if (n > 0) this.active.set(id, n)
    else this.active.delete(id)
  }

  /**
   * A connect to this backend failed (`why`: ECONNREFUSED, timeout …): a failed sample for its
   * checks, and a failure for its circuit, or with the breaker off, the cooldown.
   */
  markFailed(id: string, why = 'failed'): void {
    const b = this.byId.get(id)
    this.health.connectFailed(id, b?.app ?? '', b?.region ?? '', why)
  }

  /** A connect to this backend succeeded (closes a half-open circuit after enough of them). */
  markConnected(id: string): void {
    this.health.connectSucceeded(id)
  }

  /** A pick ended before its connect succeeded or failed (the client left first). */
  abandonConnect(id: string): void {
    this.health.abandoned(id)
  }

  activeConnections(id: string): number {
    return this.activeOf(id)
  }

  /** Every backend with its score for a client, for `route explain`. Changes nothing. */
  explain(country: string | null): Evaluation[] {
    return rankBackends(this.backends, this.context(country))
  }

  isCooling(id: string): boolean {
    return this.health.isCooling(id)
  }

  /**
   * Whether this POP would send new traffic to the backend at all (healthy, not draining, deleted
   * or expired, not DOWN by active check, circuit not open, not cooling down), load aside. DNS
   * answers and `/health`'s routable count use it. A half-open circuit counts as routable: it takes
   * trial connections.
   */
  isRoutable(backend: Backend): boolean {
    if (backendState(backend, this.now()) !== 'healthy') return false
    const skip = this.health.skipReason(backend.id, this.monotonicNow())
    return skip === null || skip === 'circuit_half_open'
  }

  /**
   * This POP's view of a backend, for metrics and `edgeproxy status`: 'up', or the store state that
   * keeps it out (draining, unhealthy, expired, deleted), or what this POP learnt (down by active
   * check, circuit open or half-open, cooling down). Half-open is routable (isRoutable).
   */
  routingState(backend: Backend): Exclude<BackendState, 'healthy'> | HealthSkip | 'up' {
    const state = backendState(backend, this.now())
    if (state !== 'healthy') return state
    return this.health.skipReason(backend.id, this.monotonicNow()) ?? 'up'
  }
}
