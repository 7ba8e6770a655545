// The Auto-Discovery API of a running POP (node:http): backends register and heartbeat, operators
// list, drain, enable, disable, reweight and remove them, and ask why a client goes where it goes.
// Every error is JSON {"error":{"code","message","field"}}; bodies are capped at 64 KiB and must be
// unambiguous JSON; with a token every endpoint but GET /health needs `Authorization: Bearer <token>`,
// checked before anything else of the request is looked at. Anything a client can send gets a 4xx,
// never a 500. It owns HTTP only: the lifecycle rules live in BackendService, routing state in the Router.
import {createHash, timingSafeEqual} from 'node:crypto'
import http from 'node:http'
import net from 'node:net'

import type {Router} from '../balancer/router.js'
import {errorMessage, isEdgeproxyError} from '../errors.js'
import {toJsonKeys} from '../json-keys.js'
import type {GeoResolver} from '../geo/geo-resolver.js'
import type {Logger} from '../log/logger.js'
import {throttledWarning} from '../log/throttle.js'
import {normalizeIp, type HostPort} from '../net/address.js'
import {listenOn} from '../proxy/listener.js'
import type {StateChange} from '../store/backend-store.js'
import {backendHealthJson} from '../health/health-json.js'
import {isHealthSkip} from '../health/health-table.js'
import {backendJson} from './backend-json.js'
import type {BackendService} from './backend-service.js'
import {findDuplicateKey} from './strict-json.js'
import {validateFilter, validateIdRef, validateRegister, validateRegion, validateState, validateWeight, ValidationError} from './validation.js'

export const MAX_BODY_BYTES = 64 * 1024
/**
 * An oversized body is read and thrown away up to this many bytes before the 413 goes out: a client
 * still sending would otherwise meet a reset connection (EPIPE) instead of the answer. Beyond it the
 * 413 goes out at once and the connection is closed.
 */
export const MAX_DRAIN_BYTES = 1024 * 1024

/** What GET /health answers: 200 while the POP can route, 503 while it drains or has no table yet. */
export interface HealthReport {
  httpStatus: 200 | 503
  body: Record<string, unknown> & {status: 'ok' | 'degraded' | 'draining'}
}

/** The API's time limits; Node checks them every `checkIntervalMs` (its default of 30 s made every limit ~30 s). */
export interface ApiTimeouts {
  /** A client must send all request headers within this. */
  headersMs: number
  /** A client must send the whole request (headers and body) within this. */
  requestMs: number
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number
  checkIntervalMs: number
}

export const API_TIMEOUTS: ApiTimeouts = {headersMs: 5_000, requestMs: 10_000, keepAliveMs: 5_000, checkIntervalMs: 250}

export interface ApiServerOptions {
  service: BackendService
  router: Router
  geo: GeoResolver
  logger: Logger
  version: string
  token?: string
  /** The /health answer (store status, connection counters, draining); with workers, after their counters are summed. */
  health: () => HealthReport | Promise<HealthReport>
  timeouts?: ApiTimeouts
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

/** A JSON body, or with `contentType` a body sent as is (metrics text, the status page). */
export interface HandlerResult {
  status?: number
  body: unknown
  contentType?: string
  headers?: Record<string, string>
}

/**
 * `path` is the request's path exactly as sent (never normalised); `url` carries its query
 * (url.searchParams), and only that: its pathname is not the request's.
 */
export type Handler = (req: http.IncomingMessage, params: {id?: string; url: URL; path: string}) => Promise<HandlerResult>

/** An endpoint: the path pattern (its first group, when any, is a backend id) and a handler per method. */
export interface ApiRoute {
  pattern: RegExp
  methods: Record<string, Handler>
  /** Answers without the token (only GET /health and what must load before a token can be typed). */
  isPublic?: boolean
}

const digest = (text: string) => createHash('sha256').update(text).digest()

export class ApiServer {
  private readonly server: http.Server
  private readonly routes: ApiRoute[]
  private readonly routeExplainers: ((ip: string) => Record<string, unknown>)[] = []
  private readonly tokenDigest?: Buffer
  private boundAddress?: HostPort
  private readonly warnBadRequest: (msg: string, fields?: Record<string, string | number | null>) => void
  private readonly warnInternal: (msg: string, fields?: Record<string, string | number | null>) => void

  constructor(private readonly options: ApiServerOptions) {
    this.tokenDigest = options.token ? digest(options.token) : undefined
    this.routes = this.buildRoutes()
    const t = options.timeouts ?? API_TIMEOUTS
    this.server = http.createServer(
      {requestTimeout: t.requestMs, headersTimeout: t.headersMs, keepAliveTimeout: t.keepAliveMs, connectionsCheckingInterval: t.checkIntervalMs},
      (req, res) => {
        void this.handle(req, res)
      },
    )
    // A client can send these as fast as it likes: one line per 10 s, with the count, not one per request.
    this.warnBadRequest = throttledWarning(options.logger, 'api_bad_request_target', 10_000)
    this.warnInternal = throttledWarning(options.logger, 'api_internal_error', 10_000)
  }

  async listen(address: HostPort): Promise<HostPort> {
    this.boundAddress = await listenOn(this.server, address, '--api-listen (EDGEPROXY_API_LISTEN_ADDR)')
    this.server.on('error', (error) => this.options.logger.error('api_error', `API listener error: ${error.message}`))
    return this.boundAddress
  }

  get address(): HostPort | undefined {
    return this.boundAddress
  }

  /** Adds endpoints of other services (metrics, status page); call before listen(). */
  addRoutes(routes: readonly ApiRoute[]): void {
    this.routes.push(...routes)
  }

  /** Adds fields to GET /api/v1/route's answer for a client IP (DNS adds what it would answer). */
  addRouteExplainer(explain: (ip: string) => Record<string, unknown>): void {
    this.routeExplainers.push(explain)
  }

  async close(): Promise<void> {
    this.server.closeIdleConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** Stops at once: open API connections are dropped (shutdown). */
  closeNow(): void {
    this.server.close()
    this.server.closeAllConnections()
  }

  private buildRoutes(): ApiRoute[] {
    const {service, router} = this.options
    const backendOut = (b: Parameters<typeof backendJson>[0]) =>
      backendJson(b, service.nowMs(), service.connections(b.id), backendHealthJson(router.health, b.id), router.routingState(b))
    const notFound = (id: string) => new HttpError(404, 'not_found', `no backend with id ${JSON.stringify(id)}`, 'id')
    const change = (kind: Exclude<StateChange['kind'], 'weight'>): Handler => async (_req, {id}) => {
      const backend = await service.change(id!, {kind})
      if (backend === undefined) throw notFound(id!)
      return {body: {backend: backendOut(backend)}}
    }
    return [
      {
        pattern: /^\/health$/,
        isPublic: true,
        methods: {
          GET: async () => {
            const report = await this.options.health()
            return {status: report.httpStatus, body: {version: this.options.version, ...report.body}}
          },
        },
      },
      {
        pattern: /^\/api\/v1\/register$/,
        methods: {
          POST: async (req) => {
            const input = validateRegister(await readJson(req, true))
            const {countryDerived, ...fields} = input
            // Stamped with this POP's region: in Corrosion mode every POP sees which one took it.
            const result = await service.register({...fields, registeredBy: router.localRegion})
            return {
              status: result.created ? 201 : 200,
              body: {
                backend: backendOut(result.backend),
                created: result.created,
                updated: !result.created,
                country_derived: countryDerived,
                lease_secs: service.leaseMs / 1000,
              },
            }
          },
        },
      },
      {
        pattern: /^\/api\/v1\/heartbeat\/([^/]+)$/,
        methods: {
          POST: async (req, {id}) => {
            await readJson(req, false)
            const result = await service.heartbeat(id!)
            if (result === undefined) throw notFound(id!)
            return {body: {backend: backendOut(result.backend), stored: result.stored, lease_secs: service.leaseMs / 1000}}
          },
        },
      },
      {
        pattern: /^\/api\/v1\/backends$/,
        methods: {
          GET: async (_req, {url}) => {
            const q = queryParams(url, ['app', 'region', 'state'])
            const backends = await service.list({
              app: q.app === undefined ? undefined : validateFilter(q.app, 'app'),
              region: q.region === undefined ? undefined : validateRegion(q.region),
              state: q.state === undefined ? undefined : validateState(q.state),
            })
            return {body: {backends: backends.map(backendOut)}}
          },
        },
      },
      {
        pattern: /^\/api\/v1\/backends\/([^/]+)$/,
        methods: {
          GET: async (_req, {id}) => {
            const backend = await service.get(id!)
            if (backend === undefined) throw notFound(id!)
            return {body: {backend: backendOut(backend)}}
          },
          DELETE: async (_req, {id}) => {
            const backend = await service.deregister(id!)
            if (backend === undefined) throw notFound(id!)
            return {body: {backend: backendOut(backend), deregistered: true}}
          },
        },
      },
      {pattern: /^\/api\/v1\/backends\/([^/]+)\/drain$/, methods: {POST: change('drain')}},
      {pattern: /^\/api\/v1\/backends\/([^/]+)\/enable$/, methods: {POST: change('enable')}},
      {pattern: /^\/api\/v1\/backends\/([^/]+)\/disable$/, methods: {POST: change('disable')}},
      {
        pattern: /^\/api\/v1\/backends\/([^/]+)\/weight$/,
        methods: {
          PUT: async (req, {id}) => {
            const body = await readJson(req, true)
            if (typeof body !== 'object' || body === null || Array.isArray(body) || !('weight' in body)) {
              throw new ValidationError('missing_field', 'weight is required, e.g. {"weight": 5}', 400, 'weight')
            }
            const extra = Object.keys(body).find((k) => k !== 'weight')
            if (extra !== undefined) throw new ValidationError('unknown_field', `unknown field ${JSON.stringify(extra)}; the body is {"weight": N}`, 400, extra)
            const backend = await service.change(id!, {kind: 'weight', weight: validateWeight((body as {weight: unknown}).weight)})
            if (backend === undefined) throw notFound(id!)
            return {body: {backend: backendOut(backend)}}
          },
        },
      },
      {
        pattern: /^\/api\/v1\/route$/,
        methods: {
          GET: async (_req, {url}) => {
            const q = queryParams(url, ['ip', 'app'])
            const raw = q.ip ?? ''
            const ip = normalizeIp(raw.trim())
            if (net.isIP(ip) === 0) throw new ValidationError('invalid_field', `ip ${JSON.stringify(raw)} must be an IPv4 or IPv6 address`, 400, 'ip')
            const app = q.app === undefined ? undefined : validateFilter(q.app, 'app')
            // This POP routes only EDGEPROXY_APP's backends: another app has no candidates here.
            const isOtherApp = app !== undefined && router.app !== undefined && app !== router.app
            const country = this.options.geo.country(ip)
            const client = router.clientGeo(country)
            const rows = isOtherApp ? [] : router.explain(country).filter((r) => app === undefined || r.backend.app === app)
            const binding = router.affinity.peek(ip) ?? null
            const eligible = rows.filter((r) => r.skipped === null)
            const bound = binding === null ? undefined : eligible.find((r) => r.backend.id === binding)
            const chosen = bound ?? eligible[0]
            const noneReason = isOtherApp ? `this POP routes only app ${JSON.stringify(router.app)} (EDGEPROXY_APP)` : 'no eligible backend'
            return {
              body: {
                ip,
                country,
                app: app ?? router.app ?? null,
                client_region: client.region,
                pop_region: router.localRegion,
                binding,
                chosen: chosen?.backend.id ?? null,
                reason: chosen === undefined ? noneReason : bound ? 'affinity binding' : 'lowest score',
                candidates: rows.map((r) => ({
                  id: r.backend.id,
                  app: r.backend.app,
                  region: r.backend.region,
                  country: r.backend.country,
                  state: backendJson(r.backend, service.nowMs(), null).state,
                  connections: r.active,
                  soft_limit: r.backend.softLimit,
                  hard_limit: r.backend.hardLimit,
                  weight: r.weight,
                  geo_score: r.geoScore,
                  load_factor: round(r.loadFactor),
                  score: round(r.score),
                  eligible: r.skipped === null,
                  skipped: r.skipped,
                  skipped_detail: r.skipped !== null && isHealthSkip(r.skipped) ? router.health.describeSkip(r.backend.id, r.skipped) : null,
                  routing_state: router.routingState(r.backend),
                  ...backendHealthJson(router.health, r.backend.id),
                })),
                ...Object.assign({}, ...this.routeExplainers.map((explain) => explain(ip))),
              },
            }
          },
        },
      },
    ]
  }

  private isAuthorized(req: http.IncomingMessage): boolean {
    if (this.tokenDigest === undefined) return true
    const header = req.headers.authorization ?? ''
    const match = /^Bearer\s+(.+)$/i.exec(header)
    if (!match) return false
    return timingSafeEqual(digest(match[1].trim()), this.tokenDigest)
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now()
    let status = 500
    try {
      const target = parseTarget(req.url)
      const route = target === undefined ? undefined : this.routes.find((r) => r.pattern.test(target.path))
      // Without the token nothing but the public endpoints answers, not even "no such endpoint".
      if (!route?.isPublic && !this.isAuthorized(req)) {
        throw new HttpError(401, 'unauthorized', 'missing or wrong bearer token', undefined, {'www-authenticate': 'Bearer realm="edgeproxy"'})
      }
      if (target === undefined) {
        const shown = quote(req.url ?? '')
        this.warnBadRequest('API request with a target that is not a path; answered 400', {method: req.method ?? null, target: shown})
        throw new HttpError(400, 'invalid_request_target', `the request target ${shown} is not a path such as /api/v1/backends (absolute and authority forms, * and // are refused)`)
      }
      if (route === undefined) throw new HttpError(404, 'not_found', `no such endpoint: ${req.method} ${quote(target.path)}`)
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET')
      const handler = route.methods[method]
      if (handler === undefined) {
        const allow = Object.keys(route.methods).join(', ')
        throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${quote(target.path)}; use ${allow}`, undefined, {allow})
      }
      const match = route.pattern.exec(target.path)!
      const id = match[1] === undefined ? undefined : validateIdRef(decodePathSegment(match[1]))
      const result = await handler(req, {id, url: target.url, path: target.path})
      status = result.status ?? 200
      if (result.contentType === undefined) send(res, status, result.body, result.headers)
      else sendRaw(res, status, result.contentType, result.body as string | Buffer, result.headers)
    } catch (error) {
      status = this.sendError(res, error)
    } finally {
      if (this.options.logger.isDebug) {
        this.options.logger.debug('api_request', 'API request', {
          method: req.method,
          // As sent (the JSON and text log formats escape it), cut to a readable length.
          path: (req.url ?? '').split('?')[0].slice(0, 200),
          status,
          duration_ms: Math.round((performance.now() - started) * 10) / 10,
        })
      }
    }
  }

  private sendError(res: http.ServerResponse, error: unknown): number {
    if (error instanceof HttpError) {
      for (const [k, v] of Object.entries(error.headers)) res.setHeader(k, v)
      send(res, error.status, {error: {code: error.code, message: error.message, ...(error.field ? {field: error.field} : {})}})
      return error.status
    }
    if (error instanceof ValidationError) {
      send(res, error.status, {error: {code: error.apiCode, message: error.message, ...(error.field ? {field: error.field} : {})}})
      return error.status
    }
    if (isEdgeproxyError(error)) {
      // The store (SQLite missing, garbled, locked; Corrosion unreachable) could not take the request:
      // nothing was written. The code names the problem: store_missing, store_busy, corrosion_unavailable…
      this.options.logger.warn('api_store_error', error.message, {code: error.code})
      const code = error.code.replace(/^EP_/, '').toLowerCase()
      send(res, 503, {error: {code, message: `${error.message}; nothing was written`, ...(error.suggestion ? {suggestion: error.suggestion} : {})}})
      return 503
    }
    this.warnInternal(`API handler failed: ${errorMessage(error)}`)
    send(res, 500, {error: {code: 'internal', message: 'internal error; see the proxy logs'}})
    return 500
  }
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000
}

/** Every JSON body goes out here, with the one key casing of src/json-keys.ts (snake_case). */
function send(res: http.ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  sendRaw(res, status, 'application/json; charset=utf-8', JSON.stringify(toJsonKeys(body)) + '\n', headers)
}

function sendRaw(res: http.ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  if (res.headersSent) return
  res.writeHead(status, {'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers})
  res.end(body)
}

/**
 * Reads a JSON body of at most 64 KiB. `required`: the endpoint takes a JSON body (415 without the
 * JSON content type, 400 when empty); otherwise an empty body is fine and a non-empty one must be JSON.
 */
function readJson(req: http.IncomingMessage, required: boolean): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) {
    const error = tooLarge(`the body is ${declared} bytes; the limit is ${MAX_BODY_BYTES}`)
    if (declared > MAX_DRAIN_BYTES) {
      req.resume()
      return Promise.reject(error)
    }
    return discard(req).then(() => Promise.reject(error))
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  const isJson = type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
  const unsupported = new HttpError(415, 'unsupported_media_type', `content-type ${JSON.stringify(type || '(none)')} is not supported; send application/json`)
  if (required && !isJson) {
    req.resume()
    return Promise.reject(unsupported)
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    /** Set once the body is over the limit: the rest is discarded, then this is the answer. */
    let overflow: HttpError | undefined
    const fail = (error: HttpError) => {
      if (settled) return
      settled = true
      reject(error)
    }
    req.on('data', (chunk: Buffer) => {
      if (settled) return
      size += chunk.length
      if (overflow === undefined && size > MAX_BODY_BYTES) {
        overflow = tooLarge(`the body exceeds the limit of ${MAX_BODY_BYTES} bytes`)
        chunks.length = 0
      }
      if (overflow !== undefined) {
        if (size > MAX_DRAIN_BYTES) fail(overflow)
        return
      }
      chunks.push(chunk)
    })
    req.on('error', (error) => fail(new HttpError(400, 'invalid_body', `could not read the body: ${error.message}`)))
    req.on('close', () => fail(overflow ?? new HttpError(400, 'invalid_body', 'the connection closed before the body was complete')))
    req.on('end', () => {
      if (overflow !== undefined) return fail(overflow)
      if (settled) return
      const text = Buffer.concat(chunks).toString('utf8')
      if (text.trim() === '') {
        if (required) fail(new HttpError(400, 'invalid_body', 'a JSON body is required'))
        else {
          settled = true
          resolve(undefined)
        }
        return
      }
      if (!isJson) return fail(unsupported)
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (error) {
        return fail(new HttpError(400, 'invalid_json', `the body is not valid JSON: ${errorMessage(error)}`))
      }
      const duplicate = findDuplicateKey(text)
      if (duplicate !== undefined) {
        return fail(new HttpError(400, 'duplicate_key', `the key ${quote(duplicate)} appears twice in one object; send it once`, duplicate))
      }
      settled = true
      resolve(value)
    })
  })
}

/** Reads the rest of a body and throws it away; resolves when it has ended (or the connection closed). */
function discard(req: http.IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.complete) return resolve()
    req.once('end', () => resolve())
    req.once('close', () => resolve())
    req.once('error', () => resolve())
    req.resume()
  })
}

/** A path segment's text; bad percent-encoding is a 400 naming the segment. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new ValidationError('invalid_field', `id ${quote(segment)} is not valid percent-encoding`, 400, 'id')
  }
}

/**
 * The request target in origin form (`/path?query`), the only form the API answers; undefined for
 * absolute and authority forms, `*`, a path starting with `//`, or none. The path is kept exactly
 * as sent: no dot-segment removal, no backslash rewriting (WHATWG URL parsing does both).
 */
function parseTarget(raw: string | undefined): {path: string; url: URL} | undefined {
  if (raw === undefined || raw.charCodeAt(0) !== 0x2f /* / */ || raw.charCodeAt(1) === 0x2f) return undefined
  const q = raw.indexOf('?')
  const url = new URL('http://api.invalid/')
  if (q >= 0) url.search = raw.slice(q)
  return {path: q < 0 ? raw : raw.slice(0, q), url}
}

/** The query's parameters by name; an unknown or repeated parameter is refused, like an unknown body field. */
function queryParams<K extends string>(url: URL, allowed: readonly K[]): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {}
  for (const [key, value] of url.searchParams) {
    if (!(allowed as readonly string[]).includes(key)) {
      throw new ValidationError('unknown_field', `unknown query parameter ${quote(key)}; known: ${allowed.join(', ')}`, 400, key)
    }
    if (out[key as K] !== undefined) throw new ValidationError('invalid_field', `query parameter ${quote(key)} is given twice; give it once`, 400, key)
    out[key as K] = value
  }
  return out
}

function quote(value: string): string {
  const text = JSON.stringify(value)
  return text.length > 120 ? `${text.slice(0, 117)}..."` : text
}

function tooLarge(message: string): HttpError {
  return new HttpError(413, 'payload_too_large', message, undefined, {connection: 'close'})
}
