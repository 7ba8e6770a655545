// The stable JSON view of a backend, shared by the API, `edgeproxy backend … --json` and the
// direct `--db` path, so every consumer sees the same field names and meanings.
import {backendState, type Backend, type BackendState} from '../balancer/backend.js'
import type {RoutingState} from '../balancer/router.js'
import type {BackendHealthJson, CheckJson, CircuitJson} from '../health/health-json.js'

export interface BackendJson {
  id: string
  app: string
  region: string
  country: string
  ip: string
  /** The IPv6 address of a dual-stack backend (`wg_ip6`, DNS AAAA); only present when it has one. */
  ip6?: string
  port: number
  state: BackendState
  healthy: boolean
  draining: boolean
  weight: number
  soft_limit: number
  hard_limit: number
  /** Live connections on the POP that answered; null when read from the store directly. */
  connections: number | null
  /** ISO time the lease runs out; null = no lease (never expires). */
  lease_expires_at: string | null
  /** Seconds since the last stored heartbeat (renewals are coalesced); null = never. */
  heartbeat_age_secs: number | null
  registered_at: string | null
  /** The POP (its region) whose API took the last register; null when written by SQL or straight into a store. */
  registered_by: string | null
  updated_at: string | null
  /** Active check state on the POP that answered; null when checks are off for it or read from the store. */
  check: CheckJson | null
  /** Circuit (or cooldown) on the POP that answered; null when read from the store directly. */
  circuit: CircuitJson | null
  /**
   * The answering POP's view (Router.routingState, the words of edgeproxy_backends{state}): `up`, or
   * why it sends no new connection there; null when read from the store directly.
   */
  routing_state: RoutingState | null
}

const iso = (ms: number) => (ms > 0 ? new Date(ms).toISOString() : null)

export function backendJson(b: Backend, nowMs: number, connections: number | null, health?: BackendHealthJson, routingState?: RoutingState): BackendJson {
  return {
    id: b.id,
    app: b.app,
    region: b.region,
    country: b.country,
    ip: b.host,
    ...(b.host6 ? {ip6: b.host6} : {}),
    port: b.port,
    state: backendState(b, nowMs),
    healthy: b.isHealthy,
    draining: b.isDraining,
    weight: b.weight,
    soft_limit: b.softLimit,
    hard_limit: b.hardLimit,
    connections,
    lease_expires_at: iso(b.leaseExpiresAtMs),
    heartbeat_age_secs: b.heartbeatAtMs > 0 ? Math.max(0, Math.round((nowMs - b.heartbeatAtMs) / 100) / 10) : null,
    registered_at: iso(b.registeredAtMs),
    registered_by: b.registeredBy ?? null,
    updated_at: iso(b.updatedAtMs),
    check: health?.check ?? null,
    circuit: health?.circuit ?? null,
    routing_state: routingState ?? null,
  }
}
