// The `backend` and `route` commands' way to a running proxy: its Auto-Discovery API over node:http,
// one request per call on a connection of its own (no keep-alive, so the CLI exits as soon as it
// has printed). Kept free of the engine, SQLite and undici: a command that makes one GET loads
// only this (see src/cli/lean/).

import {InvalidInputError, UnavailableError} from '../errors.js'
import type {StateChange} from '../store/backend-store.js'
import type {LimitsJson} from '../admission/admission-service.js'
import {BackendNotFoundError, type BackendClient, type CheckNowResult, type HeartbeatOutcome, type ListFilter, type RegisterOutcome, type RouteExplanation} from './backend-client.js'
import type {BackendJson} from './backend-json.js'
import {ValidationError} from './validation.js'
import {httpExchange, type HttpReply} from '../net/http-exchange.js'

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

  private send(method: string, path: string, body?: string): Promise<HttpReply> {
    const headers: Record<string, string> = {accept: 'application/json'}
    if (this.token) headers.authorization = `Bearer ${this.token}`
    if (body !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = String(Buffer.byteLength(body))
    }
    return httpExchange(new URL(this.target + path), {method, headers, body, timeoutMs: this.timeoutMs})
  }

  private async call<T>(method: string, path: string, body?: unknown, id?: string): Promise<T> {
    let reply: HttpReply
    try {
      reply = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body))
    } catch (error) {
      const code = (error as {code?: string}).code ?? (error as Error).message
      throw new UnavailableError('EP_API_UNAVAILABLE', `cannot reach the edgeproxy API at ${this.target} (${code})`, {
        suggestion: 'start the proxy (edgeproxy start), or point --api-url / EDGEPROXY_API_URL at a running one, or use --db PATH without a proxy',
        cause: error,
      })
    }
    let json: unknown
    try {
      json = reply.text === '' ? {} : JSON.parse(reply.text)
    } catch {
      throw new UnavailableError('EP_API_BAD_RESPONSE', `${this.target}${path} answered ${reply.status} with a body that is not JSON`, {
        suggestion: "check that --api-url points at edgeproxy's API (EDGEPROXY_API_LISTEN_ADDR, 127.0.0.1:8081 by default), not another service",
      })
    }
    if (reply.status < 300) return json as T
    const error = (json as ApiErrorBody).error ?? {}
    const message = error.message ?? `HTTP ${reply.status}`
    if (reply.status === 401) {
      throw new InvalidInputError('EP_API_UNAUTHORIZED', `the API at ${this.target} refused the request: ${message}`, {
        suggestion: 'pass the token with --token or EDGEPROXY_API_TOKEN (the value of EDGEPROXY_API_TOKEN on the proxy)',
      })
    }
    if (reply.status === 404 && error.code === 'not_found' && id !== undefined) throw new BackendNotFoundError(id, this.target)
    if (reply.status >= 500) {
      throw new UnavailableError('EP_API_FAILED', `the API at ${this.target} failed: ${message}`, {suggestion: 'see the proxy logs; retry once the store is reachable'})
    }
    throw new ValidationError(error.code ?? 'request', message, reply.status, error.field)
  }

  async register(body: Record<string, unknown>): Promise<RegisterOutcome> {
    const r = await this.call<RegisterOutcome>('POST', '/api/v1/register', body)
    return {backend: r.backend, created: r.created, country_derived: r.country_derived, lease_secs: r.lease_secs}
  }

  heartbeat(id: string): Promise<HeartbeatOutcome> {
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

  explain(ip: string, app?: string): Promise<RouteExplanation> {
    const query = app === undefined ? '' : `&app=${encodeURIComponent(app)}`
    return this.call('GET', `/api/v1/route?ip=${encodeURIComponent(ip)}${query}`)
  }

  /** The client key's bucket and open connections on the proxy (GET /api/v1/limits/:ip). */
  limits(ip: string): Promise<LimitsJson> {
    return this.call('GET', `/api/v1/limits/${encodeURIComponent(ip)}`)
  }

  /** One active check run now by the proxy (POST /api/v1/backends/:id/check); it changes nothing. */
  check(id: string): Promise<CheckNowResult> {
    return this.call('POST', `/api/v1/backends/${encodeURIComponent(id)}/check`, undefined, id)
  }

  close(): void {}
}
