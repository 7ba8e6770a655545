// How the `backend` and `route` commands reach backends: through a running proxy's Auto-Discovery
// API (undici), or straight into a SQLite routing store with `--db` when no proxy runs. Both give the
// same results and the same errors, so a command does not care which one it holds.
import type {DnsExplanation} from '../dns/explain.js'
import {EdgeproxyError, ExitCode, InvalidInputError, UnavailableError} from '../errors.js'
import type {BackendStore, StateChange} from '../store/backend-store.js'
import {SqliteBackendStore} from '../store/sqlite-backend-store.js'
import type {LimitsJson} from '../admission/admission-service.js'
import type {CheckJson, CircuitJson} from '../health/health-json.js'
import {backendJson, type BackendJson} from './backend-json.js'
import {BackendService, type ListFilter} from './backend-service.js'
import {validateId, validateRegister, validateWeight, ValidationError} from './validation.js'

export const DEFAULT_API_URL = 'http://127.0.0.1:8081'

export interface RegisterOutcome {
  backend: BackendJson
  created: boolean
  country_derived: boolean
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
  heartbeat(id: string): Promise<{backend: BackendJson; stored: boolean}>
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

// ---- through the API ----------------------------------------------------------------------------

interface ApiErrorBody {
  error?: {code?: string; message?: string; field?: string}
}

export class ApiBackendClient implements BackendClient {
  readonly target: string

  constructor(
    url: string,
    private readonly token?: string,
    private readonly timeoutMs = 10_000,
  ) {
    this.target = url.replace(/\/+$/, '')
  }

  private async call<T>(method: string, path: string, body?: unknown, id?: string): Promise<T> {
    const headers: Record<string, string> = {accept: 'application/json'}
    if (this.token) headers.authorization = `Bearer ${this.token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res
    try {
      // undici is loaded on first use: it is a tenth of a second of start-up for every command.
      const {request} = await import('undici')
      res = await request(this.target + path, {
        method: method as 'GET',
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      })
    } catch (error) {
      const code = (error as {code?: string}).code ?? (error as Error).message
      throw new UnavailableError('EP_API_UNAVAILABLE', `cannot reach the edgeproxy API at ${this.target} (${code})`, {
        suggestion: 'start the proxy (edgeproxy start), or point --api-url / EDGEPROXY_API_URL at a running one, or use --db PATH without a proxy',
        cause: error,
      })
    }
    const text = await res.body.text()
    let json: unknown
    try {
      json = text === '' ? {} : JSON.parse(text)
    } catch {
      throw new UnavailableError('EP_API_BAD_RESPONSE', `${this.target}${path} answered ${res.statusCode} with a body that is not JSON`, {
        suggestion: 'check that --api-url points at an edgeproxy API, not another service',
      })
    }
    if (res.statusCode < 300) return json as T
    const error = (json as ApiErrorBody).error ?? {}
    const message = error.message ?? `HTTP ${res.statusCode}`
    if (res.statusCode === 401) {
      throw new InvalidInputError('EP_API_UNAUTHORIZED', `the API at ${this.target} refused the request: ${message}`, {
        suggestion: 'pass the token with --token or EDGEPROXY_API_TOKEN (the value of EDGEPROXY_API_TOKEN on the proxy)',
      })
    }
    if (res.statusCode === 404 && error.code === 'not_found' && id !== undefined) throw new BackendNotFoundError(id, this.target)
    if (res.statusCode >= 500) {
      throw new UnavailableError('EP_API_FAILED', `the API at ${this.target} failed: ${message}`, {suggestion: 'see the proxy logs; retry once the store is reachable'})
    }
    throw new ValidationError(error.code ?? 'request', message, res.statusCode, error.field)
  }

  register(body: Record<string, unknown>): Promise<RegisterOutcome> {
    return this.call('POST', '/api/v1/register', body)
  }

  heartbeat(id: string): Promise<{backend: BackendJson; stored: boolean}> {
    return this.call('POST', `/api/v1/heartbeat/${encodeURIComponent(id)}`, undefined, id)
  }

  async list(filter: ListFilter = {}): Promise<BackendJson[]> {
    const q = new URLSearchParams()
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) q.set(k, String(v))
    const query = q.toString()
    return (await this.call<{backends: BackendJson[]}>('GET', `/api/v1/backends${query ? `?${query}` : ''}`)).backends
  }

  async get(id: string): Promise<BackendJson> {
    return (await this.call<{backend: BackendJson}>('GET', `/api/v1/backends/${encodeURIComponent(id)}`, undefined, id)).backend
  }

  async deregister(id: string): Promise<BackendJson> {
    return (await this.call<{backend: BackendJson}>('DELETE', `/api/v1/backends/${encodeURIComponent(id)}`, undefined, id)).backend
  }

  async change(id: string, change: StateChange): Promise<BackendJson> {
    const path = `/api/v1/backends/${encodeURIComponent(id)}`
    const result =
      change.kind === 'weight'
        ? await this.call<{backend: BackendJson}>('PUT', `${path}/weight`, {weight: change.weight}, id)
        : await this.call<{backend: BackendJson}>('POST', `${path}/${change.kind}`, undefined, id)
    return result.backend
  }

  explain(ip: string): Promise<RouteExplanation> {
    return this.call('GET', `/api/v1/route?ip=${encodeURIComponent(ip)}`)
  }

  /** The client key's bucket and open connections on the proxy (GET /api/v1/limits/:ip). */
  limits(ip: string): Promise<LimitsJson> {
    return this.call('GET', `/api/v1/limits/${encodeURIComponent(ip)}`)
  }

  check(id: string): Promise<CheckNowResult> {
    return this.call('POST', `/api/v1/backends/${encodeURIComponent(id)}/check`, undefined, id)
  }

  close(): void {}
}

// ---- straight into a routing store (a SQLite file, or a Corrosion agent) --------------------------

export class LocalBackendClient implements BackendClient {
  readonly target: string
  private readonly service: BackendService

  /** `leaseMs`: the lease a register or heartbeat gives (EDGEPROXY_HEARTBEAT_TTL_SECS of the proxies). */
  constructor(
    private readonly store: BackendStore,
    leaseMs: number,
  ) {
    this.target = store.describe()
    this.service = new BackendService({store, leaseMs})
  }

  static sqlite(dbPath: string, leaseMs: number): LocalBackendClient {
    return new LocalBackendClient(new SqliteBackendStore(dbPath, {create: false}), leaseMs)
  }

  private out(b: Parameters<typeof backendJson>[0]): BackendJson {
    return backendJson(b, this.service.nowMs(), null)
  }

  async register(body: Record<string, unknown>): Promise<RegisterOutcome> {
    const {countryDerived, ...input} = validateRegister(body)
    const result = await this.service.register(input)
    return {backend: this.out(result.backend), created: result.created, country_derived: countryDerived}
  }

  async heartbeat(id: string): Promise<{backend: BackendJson; stored: boolean}> {
    const result = await this.service.heartbeat(validateId(id))
    if (result === undefined) throw new BackendNotFoundError(id, this.target)
    return {backend: this.out(result.backend), stored: result.stored}
  }

  async list(filter: ListFilter = {}): Promise<BackendJson[]> {
    return (await this.service.list(filter)).map((b) => this.out(b))
  }

  async get(id: string): Promise<BackendJson> {
    const b = await this.service.get(validateId(id))
    if (b === undefined) throw new BackendNotFoundError(id, this.target)
    return this.out(b)
  }

  async deregister(id: string): Promise<BackendJson> {
    const b = await this.service.deregister(validateId(id))
    if (b === undefined) throw new BackendNotFoundError(id, this.target)
    return this.out(b)
  }

  async change(id: string, change: StateChange): Promise<BackendJson> {
    if (change.kind === 'weight') validateWeight(change.weight)
    const b = await this.service.change(validateId(id), change)
    if (b === undefined) throw new BackendNotFoundError(id, this.target)
    return this.out(b)
  }

  async close(): Promise<void> {
    await this.store.close()
  }
}
