// The routing state of one POP: the current backend snapshot, live connection counts, affinity
// bindings, and what this POP learnt of each backend's health (active checks, circuits, the cooldown
// after a failed connect: src/health/health-table.ts). Synchronous and free of I/O: a pick and its
// connection-count increment happen in one turn of the event loop, so a burst of connects can never
// push a backend past its hard limit.
import type {CheckThresholds} from '../health/check-state.js'
import type {CircuitOptions} from '../health/circuit.js'
import {HealthTable, type HealthSkip} from '../health/health-table.js'
import {backendState, type Backend, type BackendState} from './backend.js'
import type {BackendCounters} from './backend-counters.js'
import {regionForCountry} from './regions.js'
import {LocalRouterState, type AffinityView, type RouterState} from './router-state.js'
import {geoScore, rankBackends, selectBackend, skipReason, type ClientGeo, type Evaluation, type SelectContext} from './select.js'

/** The part of the start configuration the Router reads (StartConfig fits it). */
export interface RouterSettings {
  region: string
  app?: string
  bindingTtlMs: number
  bindingMaxEntries: number
  failureCooldownMs: number
  health: {isEnabled: boolean; thresholds: CheckThresholds; circuit?: CircuitOptions}
}

/** RouterOptions from the configuration: one place for the engine and every worker thread. */
export function routerOptionsOf(config: RouterSettings): RouterOptions {
  return {
    localRegion: config.region,
    app: config.app,
    bindingTtlMs: config.bindingTtlMs,
    bindingMaxEntries: config.bindingMaxEntries,
    failureCooldownMs: config.failureCooldownMs,
    checks: config.health.isEnabled ? config.health.thresholds : undefined,
    circuit: config.health.circuit,
  }
}

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
  /**
   * Where counts, bindings and health live (default: this thread's Maps). Several workers pass one
   * over shared memory (src/workers/shared-state.ts); it gets the HealthTable built from these options.
   */
  state?: (health: HealthTable) => RouterState
  /** Workers that share the state (undefined: this thread alone routes). */
  workers?: number
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

/** This POP's one word for a backend: `up`, or why it takes no new connection (see routingState). */
export type RoutingState = Exclude<BackendState, 'healthy'> | HealthSkip | 'up'

export class Router {
  readonly localRegion: string
  readonly app?: string
  readonly workers?: number
  readonly affinity: AffinityView
  /** Check states, circuits and cooldowns, in memory and local to this POP. */
  readonly health: HealthTable
  private readonly state: RouterState
  private backends: readonly Backend[] = []
  /** The last table from the store, before local writes. */
  private fromStore: readonly Backend[] = []
  /** Local writes not yet shown by the store's table: id → the row written (null: deleted). */
  private readonly localWrites = new Map<string, {backend: Backend | null; updatedAtMs: number; holdUntil: number}>()
  private byId = new Map<string, Backend>()
  /** Picks per tier of ROUTING_TIERS (0-3 the geo score, 4 an affinity binding) by this thread. */
  readonly decisions: Float64Array
  private readonly listeners: ((backends: readonly Backend[]) => void)[] = []
  private readonly now: () => number
  private readonly monotonicNow: () => number
  private readonly activeOf = (b: Backend): number => this.state.activeOf(b)
  private readonly lastPickedOf = (b: Backend): number => this.state.lastPickedOf(b)

  constructor(options: RouterOptions) {
    this.localRegion = options.localRegion
    this.app = options.app
    this.workers = options.workers
    this.now = options.now ?? Date.now
    this.monotonicNow = options.monotonicNow ?? (() => performance.now())
    this.health = new HealthTable({
      cooldownMs: options.failureCooldownMs,
      checks: options.checks,
      circuit: options.circuit,
      now: this.monotonicNow,
      random: options.random,
    })
    this.state =
      options.state?.(this.health) ??
      new LocalRouterState({
        bindingTtlMs: options.bindingTtlMs,
        bindingMaxEntries: options.bindingMaxEntries,
        health: this.health,
        now: this.monotonicNow,
        tiers: ROUTING_TIERS.length,
      })
    this.affinity = this.state.affinity
    this.decisions = this.state.decisions
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
    const byId = new Map(mine.map((b) => [b.id, b]))
    this.state.install(mine, byId)
    this.backends = mine
    this.byId = byId
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
  private readonly isExcludedNow = (b: Backend): boolean => this.tried !== undefined && this.tried.has(b.id)
  private readonly healthSkipNow = (b: Backend) => this.state.healthSkip(b, this.monotonicAtPick)
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
    const state = this.state
    let backend: Backend | null = state.boundBackend(clientIp) ?? null
    let isAffinity = false
    if (backend !== null && skipReason(backend, ctx, state.activeOf(backend)) === null && state.tryAcquire(backend)) {
      isAffinity = true
    } else {
      // With several workers another one may take the last connection below a hard limit (or a
      // half-open circuit's trial) between the choice and the count: then choose again.
      for (let attempt = 0; ; attempt++) {
        backend = selectBackend(this.backends, ctx)
        if (backend === null || attempt > this.backends.length) {
          state.unbind(clientIp)
          return null
        }
        const bound = state.bind(clientIp, backend)
        if (bound !== backend) {
          if (skipReason(bound, ctx, state.activeOf(bound)) === null) {
            // Another worker bound this client first: follow its binding.
            backend = bound
            isAffinity = true
          } else state.bind(clientIp, backend, true)
        }
        if (state.tryAcquire(backend)) break
        isAffinity = false
      }
    }
    this.decisions[isAffinity ? AFFINITY_TIER : geoScore(backend, ctx.client, ctx.localRegion)]++
    const counters = state.counters(backend)!
    counters.connections++
    return {backend, isAffinity, counters}
  }

  /** The traffic counters of a backend of the current table (undefined once it left the table). */
  counters(backend: Backend): BackendCounters | undefined {
    return this.state.counters(backend)
  }

  /** Ends a pick's count (the backend as acquire() returned it; its id when the object is not at hand). */
  release(backend: Backend | string): void {
    const b = typeof backend === 'string' ? this.byId.get(backend) : backend
    if (b !== undefined) this.state.release(b)
  }

  /**
   * A connect to this backend failed (`why`: ECONNREFUSED, timeout …): a failed sample for its
   * checks, and a failure for its circuit, or with the breaker off, the cooldown.
   */
  markFailed(backend: Backend | string, why = 'failed'): void {
    const b = typeof backend === 'string' ? this.byId.get(backend) : backend
    if (b !== undefined) this.state.connectFailed(b, why)
    else this.health.connectFailed(backend as string, '', '', why)
  }

  /** A connect to this backend succeeded (closes a half-open circuit after enough of them). */
  markConnected(backend: Backend | string): void {
    const b = typeof backend === 'string' ? this.byId.get(backend) : backend
    if (b !== undefined) this.state.connectSucceeded(b)
  }

  /** A pick ended before its connect succeeded or failed (the client left first). */
  abandonConnect(backend: Backend | string): void {
    const b = typeof backend === 'string' ? this.byId.get(backend) : backend
    if (b !== undefined) this.state.abandoned(b)
  }

  activeConnections(id: string): number {
    const b = this.byId.get(id)
    return b === undefined ? 0 : this.state.activeOf(b)
  }

  /** Every backend with its score for a client, for `route explain`. Changes nothing. */
  explain(country: string | null): Evaluation[] {
    return rankBackends(this.backends, this.context(country))
  }

  isCooling(backend: Backend | string): boolean {
    const b = typeof backend === 'string' ? this.byId.get(backend) : backend
    return b === undefined ? this.health.isCooling(backend as string) : this.state.isCooling(b)
  }

  /**
   * Whether this POP would send new traffic to the backend at all (healthy, not draining, deleted
   * or expired, not DOWN by active check, circuit not open, not cooling down), load aside. DNS
   * answers and `/health`'s routable count use it. A half-open circuit counts as routable: it takes
   * trial connections.
   */
  isRoutable(backend: Backend): boolean {
    if (backendState(backend, this.now()) !== 'healthy') return false
    const skip = this.state.healthSkip(backend, this.monotonicNow())
    return skip === null || skip === 'circuit_half_open'
  }

  /**
   * This POP's view of a backend, for metrics and `edgeproxy status`: 'up', or the store state that
   * keeps it out (draining, unhealthy, expired, deleted), or what this POP learnt (down by active
   * check, circuit open or half-open, cooling down). Half-open is routable (isRoutable).
   */
  routingState(backend: Backend): RoutingState {
    const state = backendState(backend, this.now())
    if (state !== 'healthy') return state
    return this.state.healthSkip(backend, this.monotonicNow()) ?? 'up'
  }
}
