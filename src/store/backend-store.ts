// The write side of a routing store, as the Auto-Discovery API and the `backend` commands use it.
// SQLite and Corrosion implement it with the same statements (backend-sql.ts); neither knows about
// leases policy (coalescing lives in the service) or HTTP.
import type {Backend} from '../balancer/backend.js'

export interface RegisterInput {
  id: string
  app: string
  region: string
  country: string
  /** The address the proxy dials; stored in `wg_ip`. */
  ip: string
  /** A second, IPv6 address of a dual-stack backend, for DNS AAAA answers; stored in `wg_ip6`. '' or absent = none. */
  ip6?: string
  port: number
  weight: number
  softLimit: number
  hardLimit: number
  /** Active check overrides (absent = '' / 0 / '': the POP's global settings); a register sets all three. */
  checkType?: string
  checkPort?: number
  checkPath?: string
  /**
   * The POP whose Auto-Discovery API serves this register (its EDGEPROXY_REGION), stored in
   * `registered_by`; absent (a backend command's --db/--corrosion-url) keeps the stored value.
   */
  registeredBy?: string
}

export type StateChange = {kind: 'drain'} | {kind: 'enable'} | {kind: 'disable'} | {kind: 'weight'; weight: number}

export interface RegisterResult {
  backend: Backend
  /** False when a backend with this id existed and was updated. */
  created: boolean
}

export interface BackendStore {
  readonly kind: 'sqlite' | 'corrosion'
  describe(): string
  /** Creates the backend or updates it in one write; operator state (disabled, draining) survives a re-register. */
  register(input: RegisterInput, nowMs: number, leaseMs: number): Promise<RegisterResult>
  /** Sets the lease to now + leaseMs; undefined when the id is unknown. */
  renewLease(id: string, nowMs: number, leaseMs: number): Promise<Backend | undefined>
  change(id: string, change: StateChange, nowMs: number): Promise<Backend | undefined>
  /** Deletes the row (Corrosion replicates deletes); the backend as it was, undefined when unknown. */
  deregister(id: string): Promise<Backend | undefined>
  get(id: string): Promise<Backend | undefined>
  list(): Promise<Backend[]>
  close(): Promise<void> | void
}
