// The backend as the balancer sees it: one row of the routing store, normalised and typed.
// Liveness fields (lease, draining) are plain data here; what they mean for routing is
// decided in select.ts, so every POP judges them the same way.

export interface Backend {
  readonly id: string
  readonly app: string
  readonly region: string
  /** ISO 3166 alpha-2, upper case; '' when unknown. */
  readonly country: string
  /** The address to dial (the seeds' `wg_ip`): an IPv4 or IPv6 literal, or a host name. */
  readonly host: string
  /** A second address (`wg_ip6`, an IPv6 literal) a dual-stack backend has for DNS AAAA answers; '' or absent = none. The proxy dials `host`. */
  readonly host6?: string
  readonly port: number
  readonly isHealthy: boolean
  readonly isDraining: boolean
  readonly weight: number
  readonly softLimit: number
  readonly hardLimit: number
  /** Unix ms after which the backend takes no new connections; 0 = no lease (never expires). */
  readonly leaseExpiresAtMs: number
  readonly heartbeatAtMs: number
  readonly registeredAtMs: number
  readonly updatedAtMs: number
  /** Active check override: '' = the POP's EDGEPROXY_HEALTH_CHECK_TYPE; `none` = never checked. */
  readonly checkType: CheckType | ''
  /** Port the active check connects to; 0 = EDGEPROXY_HEALTH_CHECK_PORT, else the data port. */
  readonly checkPort: number
  /** Path of an http check; '' = EDGEPROXY_HEALTH_CHECK_PATH. */
  readonly checkPath: string
  /** The POP (its region) whose API took the last register; absent when written by SQL or straight into a store. */
  readonly registeredBy?: string
}

export const CHECK_TYPES = ['tcp', 'tls', 'http', 'none'] as const
export type CheckType = (typeof CHECK_TYPES)[number]

export type BackendState = 'healthy' | 'expired' | 'unhealthy' | 'draining'

/** The single state operators see in lists: the first of unhealthy, draining, expired that applies. */
export function backendState(b: Backend, nowMs: number): BackendState {
  if (!b.isHealthy) return 'unhealthy'
  if (b.isDraining) return 'draining'
  if (b.leaseExpiresAtMs > 0 && b.leaseExpiresAtMs <= nowMs) return 'expired'
  return 'healthy'
}
