// How the `backend` and `route` commands reach backends: through a running proxy's Auto-Discovery
// API (api-client.ts, node:http), or straight into a routing store with `--db` / `--corrosion-url`
// when no proxy runs (local-client.ts). Both give the same results and the same errors, so a command
// does not care which one it holds. This file holds only what both share, so that importing it
// loads neither SQLite nor the engine.
import type {LimitsJson} from '../admission/admission-service.js'
import type {DnsExplanation} from '../dns/explain.js'
import {EdgeproxyError, ExitCode} from '../errors.js'
import type {CheckJson, CircuitJson} from '../health/health-json.js'
import type {StateChange} from '../store/backend-store.js'
import type {BackendJson} from './backend-json.js'
import type {ListFilter} from './backend-service.js'

export type {ListFilter}

export const DEFAULT_API_URL = 'http://127.0.0.1:8081'

export interface RegisterOutcome {
  backend: BackendJson
  created: boolean
  country_derived: boolean
  /** The lease a register or heartbeat gives (the proxy's EDGEPROXY_HEARTBEAT_TTL_SECS). */
  lease_secs: number
}

export interface HeartbeatOutcome {
  backend: BackendJson
  /** false: the lease was still fresh and the renewal was coalesced (not written). */
  stored: boolean
  lease_secs: number
}

export interface RouteCandidate {
  id: string
  app: string
  region: string
  country: string
  state: string
  connections: number
  soft_limit: number
  hard_limit: number
  weight: number
  geo_score: number
  load_factor: number
  score: number
  eligible: boolean
  skipped: string | null
  /** Why, in words, for health skips: `DOWN by active check (connect ECONNREFUSED, 3/3)`. */
  skipped_detail: string | null
  check: CheckJson | null
  circuit: CircuitJson | null
}

export interface RouteExplanation {
  ip: string
  country: string | null
  client_region: string | null
  /** The app the candidates belong to: --app, else the POP's EDGEPROXY_APP; null = every app. */
  app: string | null
  pop_region: string
  binding: string | null
  chosen: string | null
  reason: string
  candidates: RouteCandidate[]
  /** What the POP's DNS server would answer this client for each app; absent when DNS is off. */
  dns?: DnsExplanation
  /** Admission of this client at the proxy (`route explain` adds it from GET /api/v1/limits/:ip). */
  limits?: LimitsJson
}

/** `POST /api/v1/backends/:id/check`: one active check run now by the proxy (it changes nothing). */
export interface CheckNowResult {
  id: string
  passed: boolean
  type: 'tcp' | 'tls' | 'http'
  /** What the check connected to (the check port may differ from the data port). */
  address: string
  path: string | null
  latency_ms: number
  error: string | null
  checked_at: string
  /** The backend's check type is `none`: the global type was used for this one check. */
  opted_out: boolean
  /** Its scheduled checks' state (`UP`, `DOWN 1/2↑`); null when active checks are off for it. */
  state: string | null
}

export interface BackendClient {
  /** Where operations go, for messages: the API URL or `sqlite:/path`. */
  readonly target: string
  register(body: Record<string, unknown>): Promise<RegisterOutcome>
  heartbeat(id: string): Promise<HeartbeatOutcome>
  list(filter?: ListFilter): Promise<BackendJson[]>
  get(id: string): Promise<BackendJson>
  deregister(id: string): Promise<BackendJson>
  change(id: string, change: StateChange): Promise<BackendJson>
  close(): Promise<void> | void
}

export class BackendNotFoundError extends EdgeproxyError {
  constructor(id: string, target: string) {
    super('EP_BACKEND_NOT_FOUND', `no backend with id ${JSON.stringify(id)} at ${target}`, ExitCode.invalid, {
      field: 'id',
      suggestion: 'list the known ids with: edgeproxy backend list',
    })
  }
}
