// Backend lifecycle over any BackendStore: register, coalesced heartbeats, drain/enable/disable,
// weight, deregister, and reads. Inside `edgeproxy start` it is given the POP's routing view, so a
// write is routable at once (no wait for the next reload) and reads carry live connection counts.
// Lease renewals are coalesced: a heartbeat writes only when less than two thirds of the TTL is
// left, about three writes per TTL per backend whatever the heartbeat rate, which matters when
// every write is replicated to every POP.
import type {Backend, BackendState} from '../balancer/backend.js'
import {backendState} from '../balancer/backend.js'
import type {BackendStore, RegisterInput, RegisterResult, StateChange} from '../store/backend-store.js'

/** What the service needs of a running POP's routing table. */
export interface RoutingView {
  get(id: string): Backend | undefined
  upsertBackend(backend: Backend): void
  /** `atMs`: when it was deleted; a store table holding the row updated after that brings it back. */
  removeBackend(id: string, atMs: number): void
  activeConnections(id: string): number
}

export interface BackendServiceOptions {
  store: BackendStore
  leaseMs: number
  now?: () => number
  view?: RoutingView
}

export interface HeartbeatResult {
  backend: Backend
  /** True when this heartbeat wrote a renewed lease; false when coalesced (or the row has no lease). */
  stored: boolean
}

export interface ListFilter {
  app?: string
  region?: string
  state?: BackendState
}

export class BackendService {
  readonly store: BackendStore
  readonly leaseMs: number
  /** Store writes made through this service (register, renewals, changes, deregistrations). */
  writes = 0
  private readonly now: () => number
  private readonly view?: RoutingView
  /** Leases decided but maybe not yet visible in the view: concurrent heartbeats must not all write. */
  private readonly pendingLease = new Map<string, number>()

  constructor(options: BackendServiceOptions) {
    this.store = options.store
    this.leaseMs = options.leaseMs
    this.now = options.now ?? Date.now
    this.view = options.view
  }

  private applied(backend: Backend): Backend {
    this.view?.upsertBackend(backend)
    return backend
  }

  async register(input: RegisterInput): Promise<RegisterResult> {
    const now = this.now()
    this.pendingLease.set(input.id, now + this.leaseMs)
    try {
      const result = await this.store.register(input, now, this.leaseMs)
      this.writes++
      this.applied(result.backend)
      return result
    } finally {
      this.pendingLease.delete(input.id)
    }
  }

  async heartbeat(id: string): Promise<HeartbeatResult | undefined> {
    const now = this.now()
    const current = this.view?.get(id) ?? (await this.store.get(id))
    if (current === undefined) return undefined
    if (current.leaseExpiresAtMs === 0) return {backend: current, stored: false}
    const lease = Math.max(current.leaseExpiresAtMs, this.pendingLease.get(id) ?? 0)
    if (lease - now >= (this.leaseMs * 2) / 3) return {backend: current, stored: false}
    const next = now + this.leaseMs
    this.pendingLease.set(id, next)
    try {
      const renewed = await this.store.renewLease(id, now, this.leaseMs)
      this.writes++
      return renewed === undefined ? undefined : {backend: this.applied(renewed), stored: true}
    } finally {
      if (this.pendingLease.get(id) === next) this.pendingLease.delete(id)
    }
  }

  async change(id: string, change: StateChange): Promise<Backend | undefined> {
    const changed = await this.store.change(id, change, this.now())
    if (changed === undefined) return undefined
    this.writes++
    return this.applied(changed)
  }

  /** Deletes the backend; returns it as it was (undefined when unknown). It leaves routing at once. */
  async deregister(id: string): Promise<Backend | undefined> {
    const now = this.now()
    const gone = await this.store.deregister(id)
    if (gone === undefined) return undefined
    this.writes++
    this.view?.removeBackend(id, now)
    return gone
  }

  get(id: string): Promise<Backend | undefined> {
    return this.store.get(id)
  }

  async list(filter: ListFilter = {}): Promise<Backend[]> {
    const now = this.now()
    return (await this.store.list()).filter(
      (b) =>
        (filter.app === undefined || b.app === filter.app) &&
        (filter.region === undefined || b.region === filter.region) &&
        (filter.state === undefined || backendState(b, now) === filter.state),
    )
  }

  /** Live connections on this POP, or null when there is no running proxy (direct store access). */
  connections(id: string): number | null {
    return this.view ? this.view.activeConnections(id) : null
  }

  nowMs(): number {
    return this.now()
  }
}
