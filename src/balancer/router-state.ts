// Where the router keeps what changes with every connection: live counts per backend, the pick
// order, client affinity bindings, picks per tier and what this POP learnt of each backend's health.
// The router decides; a state only stores, and enforces the hard limit when it counts. One thread
// keeps them in plain Maps and fields (LocalRouterState, here); several workers keep them in shared
// memory (src/workers/shared-state.ts), so every worker's router sees every worker's connections.
import type {HealthSkip} from '../health/health-table.js'
import {HealthTable} from '../health/health-table.js'
import {AffinityTable} from './affinity.js'
import type {Backend} from './backend.js'
import {attachCounters, countersOf, type BackendCounters} from './backend-counters.js'

/** The bindings as the API, metrics and the affinity sweep see them (client IP → backend id). */
export interface AffinityView {
  /** The bound backend's id, refreshing the binding; undefined when none or expired. */
  get(clientIp: string): string | undefined
  /** The bound backend's id without refreshing the binding (for `route explain`). */
  peek(clientIp: string): string | undefined
  /** Binds the client to the backend of this id. */
  set(clientIp: string, backendId: string): void
  delete(clientIp: string): void
  /** Drops expired bindings; returns how many. */
  sweep(): number
  readonly size: number
  /** Bindings pushed out by the cap since start. */
  readonly evicted: number
}

export interface RouterState {
  /** Check states, circuits and cooldowns (the authority where checks run). */
  readonly health: HealthTable
  readonly affinity: AffinityView
  /** Picks per routing tier counted by this thread (ROUTING_TIERS order). */
  readonly decisions: Float64Array
  /** A new routing table (only this app's rows): counters and health follow it. */
  install(backends: readonly Backend[], byId: ReadonlyMap<string, Backend>): void
  activeOf(b: Backend): number
  /** Sequence number of the last pick of b; 0 when never picked. */
  lastPickedOf(b: Backend): number
  /**
   * Counts a new connection to b and makes b the latest pick. False, with nothing counted, when
   * another thread got there first: b reached its hard limit, or its half-open circuit's one trial
   * is taken. The caller has already checked both with what it read.
   */
  tryAcquire(b: Backend): boolean
  release(b: Backend): void
  /** The backend bound to the client, refreshing the binding; undefined when none (or it left the table). */
  boundBackend(clientIp: string): Backend | undefined
  /**
   * Binds the client to b; returns the backend it is bound to now (another thread may have bound
   * it first, to a backend still in the table). `isForced` replaces such a binding.
   */
  bind(clientIp: string, b: Backend, isForced?: boolean): Backend
  unbind(clientIp: string): void
  healthSkip(b: Backend, nowMs: number): HealthSkip | null
  connectFailed(b: Backend, why: string): void
  connectSucceeded(b: Backend): void
  /** A pick ended before its connect succeeded or failed. */
  abandoned(b: Backend): void
  isCooling(b: Backend): boolean
  counters(b: Backend): BackendCounters | undefined
}

export interface LocalStateOptions {
  bindingTtlMs: number
  bindingMaxEntries: number
  health: HealthTable
  /** Monotonic clock (ms). */
  now: () => number
  tiers: number
}

/** The single-thread state: Maps keyed by backend id, as the router always kept them. */
export class LocalRouterState implements RouterState {
  readonly health: HealthTable
  readonly affinity: AffinityTable
  readonly decisions: Float64Array
  private readonly active = new Map<string, number>()
  private readonly lastPickSeq = new Map<string, number>()
  private pickSeq = 0
  private byId: ReadonlyMap<string, Backend> = new Map()

  constructor(options: LocalStateOptions) {
    this.health = options.health
    this.affinity = new AffinityTable({ttlMs: options.bindingTtlMs, maxEntries: options.bindingMaxEntries, now: options.now})
    this.decisions = new Float64Array(options.tiers)
  }

  install(backends: readonly Backend[], byId: ReadonlyMap<string, Backend>): void {
    const previous = this.byId
    attachCounters(backends, (id) => {
      const b = previous.get(id)
      return b === undefined ? undefined : countersOf(b)
    })
    this.byId = byId
    this.health.setBackends(backends)
  }

  activeOf(b: Backend): number {
    return this.active.get(b.id) ?? 0
  }

  lastPickedOf(b: Backend): number {
    return this.lastPickSeq.get(b.id) ?? 0
  }

  tryAcquire(b: Backend): boolean {
    this.active.set(b.id, this.activeOf(b) + 1)
    this.lastPickSeq.set(b.id, ++this.pickSeq)
    this.health.picked(b.id)
    return true
  }

  release(b: Backend): void {
    const n = this.activeOf(b) - 1
    if (n > 0) this.active.set(b.id, n)
    else this.active.delete(b.id)
  }

  boundBackend(clientIp: string): Backend | undefined {
    const id = this.affinity.get(clientIp)
    return id === undefined ? undefined : this.byId.get(id)
  }

  bind(clientIp: string, b: Backend): Backend {
    this.affinity.set(clientIp, b.id)
    return b
  }

  unbind(clientIp: string): void {
    this.affinity.delete(clientIp)
  }

  healthSkip(b: Backend, nowMs: number): HealthSkip | null {
    return this.health.skipReason(b.id, nowMs)
  }

  connectFailed(b: Backend, why: string): void {
    this.health.connectFailed(b.id, b.app, b.region, why)
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

  counters(b: Backend): BackendCounters | undefined {
    return countersOf(b)
  }
}
