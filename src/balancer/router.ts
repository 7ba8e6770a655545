// The routing state of one POP: the current backend snapshot, live connection counts, affinity
// bindings and the short "avoid" list of backends that just failed a connect. Synchronous and
// free of I/O: a pick and its connection-count increment happen in one turn of the event loop,
// so a burst of connects can never push a backend past its hard limit.
import {AffinityTable} from './affinity.js'
import {backendState, type Backend} from './backend.js'
import {attachCounters, BackendCounters, countersOf} from './backend-counters.js'
import {regionForCountry} from './regions.js'
import {geoScore, rankBackends, selectBackend, skipReason, type ClientGeo, type Evaluation, type SelectContext} from './select.js'

export interface RouterOptions {
  localRegion: string
  /** Route only backends of this app; undefined routes every app's backends. */
  app?: string
  bindingTtlMs: number
  bindingMaxEntries: number
  /** How long a backend that refused or timed out a connect is left out of new picks. */
  failureCooldownMs: number
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
  private backends: readonly Backend[] = []
  /** The last table from the store, before local writes. */
  private fromStore: readonly Backend[] = []
  /** Local writes not yet shown by the store's table: id → the row written (null: deleted). */
  private readonly localWrites = new Map<string, {backend: Backend | null; updatedAtMs: number; holdUntil: number}>()
  private byId = new Map<string, Backend>()
  private readonly active = new Map<string, number>()
  private readonly lastPickSeq = new Map<string, number>()
  private readonly coolingUntil = new Map<string, number>()
  private pickSeq = 0
  /** Picks per tier of ROUTING_TIERS (0-3 the geo score, 4 an affinity binding); read by metrics. */
  readonly decisions = new Float64Array(ROUTING_TIERS.length)
  private readonly failureCooldownMs: number
  private readonly now: () => number
  private readonly monotonicNow: () => number
  private readonly activeOf = (id: string): number => this.active.get(id) ?? 0
  private readonly lastPickedOf = (id: string): number => this.lastPickSeq.get(id) ?? 0

  constructor(options: RouterOptions) {
    this.localRegion = options.localRegion
    this.app = options.app
    this.failureCooldownMs = options.failureCooldownMs
    this.now = options.now ?? Date.now
    this.monotonicNow = options.monotonicNow ?? (() => performance.now())
    this.affinity = new AffinityTable({
      ttlMs: options.bindingTtlMs,
      maxEntries: options.bindingMaxEntries,
      now: this.monotonicNow,
    })
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
  private readonly isExcludedNow = (id: string): boolean =>
    (this.tried !== undefined && this.tried.has(id)) || (this.coolingUntil.size > 0 && this.isCoolingDown(id, this.monotonicAtPick))
  private readonly pickContext: SelectContext = {
    client: {country: null, region: null},
    localRegion: '',
    nowMs: 0,
    activeConnections: this.activeOf,
    lastPicked: this.lastPickedOf,
    isExcluded: this.isExcludedNow,
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

  private isCoolingDown(id: string, now: number): boolean {
    const until = this.coolingUntil.get(id)
    if (until === undefined) return false
    if (until > now) return true
    this.coolingUntil.delete(id)
    return false
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

  /** A connect to this backend failed: leave it out of new picks for the cooldown. */
  markFailed(id: string): void {
    this.coolingUntil.set(id, this.monotonicNow() + this.failureCooldownMs)
  }

  activeConnections(id: string): number {
    return this.activeOf(id)
  }

  /** Every backend with its score for a client, for `route explain`. Changes nothing. */
  explain(country: string | null): Evaluation[] {
    return rankBackends(this.backends, this.context(country))
  }

  isCooling(id: string): boolean {
    return this.isCoolingDown(id, this.monotonicNow())
  }

  /**
   * Whether this POP would send new traffic to the backend at all (healthy, not draining, deleted
   * or expired, not cooling down), load aside. DNS answers and `/health`'s routable count use it;
   * every new signal (active checks, circuits) belongs here too, so there is one answer.
   */
  isRoutable(backend: Backend): boolean {
    return backendState(backend, this.now()) === 'healthy' && !this.isCooling(backend.id)
  }
}
