// The HTTP client of one Corrosion agent (corrosion-api.md §2–§11): transactions, queries, subscriptions,
// health, table stats, legacy migrations; 503 shedding retried, failures typed as EP_CORROSION_*.
// It knows the wire contract, not edgeproxy's tables; the token stays in the authorization header.
import {Pool, type Dispatcher} from 'undici'

import {InvalidInputError} from '../errors.js'
import {
  CorrosionAuthError,
  CorrosionErrorCode,
  CorrosionMigrationsUnsupportedError,
  CorrosionOverloadedError,
  CorrosionProtocolError,
  CorrosionRequestError,
  CorrosionSchemaError,
  CorrosionSqlError,
  CorrosionStatementError,
  CorrosionTimeoutError,
  CorrosionUnavailableError,
  DEFAULT_URL_FLAG,
} from './errors.js'
import {readNdjson, type QueryEvent, type SqliteValue} from './ndjson.js'
import {serializeStatement, serializeStatements, type Statement} from './statement.js'
import {Subscription, type SubscriptionHandlers, type SubscriptionOptions} from './subscription.js'

export const DEFAULT_CORROSION_URL = 'http://127.0.0.1:8090'

export interface CorrosionClientOptions {
  /** Base URL of the agent's HTTP API, e.g. http://127.0.0.1:8090 (no TLS on the agent itself). */
  url: string
  /** The agent's api.authz.bearer-token; sent as `authorization: Bearer <token>` and nowhere else. */
  token?: string
  connectTimeoutMs?: number
  /** Limit for a finite request: response headers, then the whole body. Subscriptions have no body limit. */
  requestTimeoutMs?: number
  /** Attempts after the first when the agent sheds load (503 `max concurrency limit reached`). */
  overloadRetries?: number
  overloadBaseDelayMs?: number
  overloadMaxDelayMs?: number
  /** The flag named in "cannot reach" suggestions (`--corrosion-url`, `--api-url`). */
  urlFlag?: string
  tokenFlag?: string
  /** Injected for deterministic jitter in tests. */
  random?: () => number
}

export interface ExecResult {
  rowsAffected: number
  timeSecs: number
}

export interface ExecResponse {
  results: ExecResult[]
  timeSecs: number
  /** This agent's cr-sqlite db_version of the commit; null when no CRR row changed (nothing replicates). */
  version: number | null
  /** The agent's actor id, 32 lowercase hex; undefined on agents older than 2025-08. */
  actorId?: string
}

export interface QueryRow {
  rowid: number
  cells: SqliteValue[]
}

export interface QueryResult {
  columns: string[]
  rows: QueryRow[]
}

export interface HealthParams {
  gaps?: number
  p99LagSecs?: number
  maxQueue?: number
  queueSize?: number
}

/**
 * `healthy`: 200. `idle`: the 503 "no p99 lag information available" that a quiet cluster or a
 * single node always returns: the agent works, nothing was replicated in the last 120 s.
 * `unhealthy`: a threshold failed or the agent's DB failed. `unsupported`: an agent without /v1/health.
 */
export interface HealthResult {
  state: 'healthy' | 'idle' | 'unhealthy' | 'unsupported'
  status: number
  gaps?: number
  members?: number
  p99LagSecs?: number
  queueSize?: number
  error?: string
}

export interface TableStats {
  totalRowCount: number
  invalidTables: string[]
}

export interface MigrationsResponse {
  timeSecs: number
  version: number | null
  actorId?: string
}

export interface RequestOptions {
  /** Corrosion's own `?timeout=N` (seconds) for each SQL step on the agent. */
  timeoutSecs?: number
  signal?: AbortSignal
}

/** A response the caller reads as a stream (subscriptions). */
export interface OpenStream {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: AsyncIterable<Uint8Array> & {destroy(error?: Error): unknown}
}

const OVERLOAD_TEXT = 'max concurrency limit reached'
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
])

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const code = (error as {code?: unknown}).code
  if (typeof code === 'string') return code
  const cause = (error as {cause?: unknown}).cause
  return cause === undefined ? undefined : errorCode(cause)
}

function isAbort(error: unknown): boolean {
  const code = errorCode(error)
  return code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR' || (error instanceof Error && error.name === 'AbortError')
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** `{"error": "…"}` or `{"results":[{"error":"…"}]}` → the text; undefined for anything else. */
function agentError(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const direct = (body as {error?: unknown}).error
  if (typeof direct === 'string') return direct
  const results = (body as {results?: unknown}).results
  if (Array.isArray(results) && results.length > 0) {
    const first = results[0] as {error?: unknown}
    if (typeof first?.error === 'string') return first.error
  }
  return undefined
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, {once: true})
  })
}

function checkToken(token: string | undefined): string | undefined {
  if (token === undefined || token === '') return undefined
  // Visible ASCII only: anything else cannot travel in a header, and leading spaces are trimmed by the agent.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new InvalidInputError(CorrosionErrorCode.config, 'the Corrosion token holds spaces or characters an HTTP header cannot carry', {
      suggestion: 'copy api.authz.bearer-token from the agent config exactly into --token or EDGEPROXY_CORROSION_TOKEN',
      field: 'EDGEPROXY_CORROSION_TOKEN',
    })
  }
  return token
}

export class CorrosionClient {
  /** The base URL as shown to people (no credentials, no trailing slash). */
  readonly url: string
  private readonly origin: string
  private readonly prefix: string
  private readonly token?: string
  private readonly pool: Pool
  private readonly connectTimeoutMs: number
  private readonly requestTimeoutMs: number
  private readonly overloadRetries: number
  private readonly overloadBaseDelayMs: number
  private readonly overloadMaxDelayMs: number
  private readonly random: () => number
  readonly urlFlag: string
  readonly tokenFlag: string

  constructor(options: CorrosionClientOptions) {
    this.urlFlag = options.urlFlag ?? DEFAULT_URL_FLAG
    this.tokenFlag = options.tokenFlag ?? '--token'
    let parsed: URL
    try {
      parsed = new URL(options.url)
    } catch {
      throw new InvalidInputError(CorrosionErrorCode.config, `Corrosion URL ${JSON.stringify(options.url)} is not a URL`, {
        suggestion: `pass ${this.urlFlag} http://127.0.0.1:8090 (the agent's api.addr)`,
      })
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new InvalidInputError(CorrosionErrorCode.config, `Corrosion URL ${JSON.stringify(options.url)} must start with http://`, {
        suggestion: `pass ${this.urlFlag} http://127.0.0.1:8090 (the agent's api.addr)`,
      })
    }
    if (parsed.username || parsed.password) {
      throw new InvalidInputError(CorrosionErrorCode.config, `Corrosion URL ${parsed.protocol}//${parsed.host} must not carry credentials`, {
        suggestion: 'pass the bearer token with --token or EDGEPROXY_CORROSION_TOKEN',
      })
    }
    this.origin = parsed.origin
    this.prefix = parsed.pathname.replace(/\/+$/, '')
    this.url = `${this.origin}${this.prefix}`
    this.token = checkToken(options.token)
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000
    this.overloadRetries = options.overloadRetries ?? 6
    this.overloadBaseDelayMs = options.overloadBaseDelayMs ?? 25
    this.overloadMaxDelayMs = options.overloadMaxDelayMs ?? 1000
    this.random = options.random ?? Math.random
    this.pool = new Pool(this.origin, {
      connect: {timeout: this.connectTimeoutMs},
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: this.requestTimeoutMs,
      keepAliveTimeout: 4000,
    })
  }

  get hasToken(): boolean {
    return this.token !== undefined
  }

  // ---- transport ------------------------------------------------------------------------------

  private headers(hasBody: boolean): Record<string, string> {
    const h: Record<string, string> = {accept: '*/*'}
    if (hasBody) h['content-type'] = 'application/json'
    if (this.token) h.authorization = `Bearer ${this.token}`
    return h
  }

  private mapNetworkError(error: unknown, what: string): Error {
    if (isAbort(error)) return error as Error
    const code = errorCode(error)
    if (code === 'UND_ERR_CONNECT_TIMEOUT') {
      return new CorrosionTimeoutError(this.url, 'the connection', this.connectTimeoutMs, {suggestion: `start the agent (systemctl start corrosion) or pass ${this.urlFlag}`})
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return new CorrosionTimeoutError(this.url, what, this.requestTimeoutMs)
    }
    if (code !== undefined && NETWORK_CODES.has(code)) return new CorrosionUnavailableError(this.url, {urlFlag: this.urlFlag, cause: error})
    if (error instanceof CorrosionProtocolError || error instanceof CorrosionTimeoutError) return error
    return new CorrosionUnavailableError(this.url, {urlFlag: this.urlFlag, cause: error})
  }

  private overloadDelay(attempt: number): number {
    const ceiling = Math.min(this.overloadMaxDelayMs, this.overloadBaseDelayMs * 2 ** attempt)
    // Full jitter, never below a quarter of the ceiling.
    return Math.round(ceiling * (0.25 + 0.75 * this.random()))
  }

  /**
   * One request with 503 load-shedding retried (bounded, exponential with jitter). 401 becomes an
   * auth error here, for every route. The caller owns the body of what is returned.
   */
  private async send(
    method: 'GET' | 'POST',
    path: string,
    options: {
      body?: string
      query?: Record<string, string | undefined>
      signal?: AbortSignal
      bodyTimeoutMs?: number
      what: string
      /** Safe to send twice: retried once on a kept-alive socket the agent closed (after its restart). */
      isIdempotent?: boolean
    },
  ): Promise<Dispatcher.ResponseData> {
    const search = new URLSearchParams()
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) search.set(k, v)
    const fullPath = `${this.prefix}${path}${search.size > 0 ? `?${search.toString()}` : ''}`
    let hasRetriedSocket = false
    for (let attempt = 0; ; attempt++) {
      let response: Dispatcher.ResponseData
      try {
        response = await this.pool.request({
          method,
          path: fullPath,
          headers: this.headers(options.body !== undefined),
          body: options.body,
          signal: options.signal,
          headersTimeout: this.requestTimeoutMs,
          bodyTimeout: options.bodyTimeoutMs ?? this.requestTimeoutMs,
        })
      } catch (error) {
        const code = errorCode(error)
        if (options.isIdempotent && !hasRetriedSocket && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) {
          hasRetriedSocket = true
          attempt--
          continue
        }
        throw this.mapNetworkError(error, options.what)
      }
      if (response.statusCode === 401) {
        await response.body.dump().catch(() => {})
        throw new CorrosionAuthError(this.url, this.hasToken, {tokenFlag: this.tokenFlag})
      }
      if (response.statusCode !== 503) return response
      // A 503 from /v1/health is its verdict, not load shedding, unless the text says so.
      const text = await this.readText(response, options.what)
      if (text.trim() !== OVERLOAD_TEXT) return {...response, body: textBody(text)} as Dispatcher.ResponseData
      if (attempt >= this.overloadRetries) throw new CorrosionOverloadedError(this.url, attempt + 1)
      await sleep(this.overloadDelay(attempt), options.signal)
    }
  }

  private async readText(response: Dispatcher.ResponseData, what: string): Promise<string> {
    try {
      return await response.body.text()
    } catch (error) {
      throw this.mapNetworkError(error, what)
    }
  }

  private async readJson(response: Dispatcher.ResponseData, what: string): Promise<{text: string; json: unknown}> {
    const text = await this.readText(response, what)
    return {text, json: parseJson(text)}
  }

  private rejected(status: number, text: string): CorrosionRequestError {
    return new CorrosionRequestError(this.url, status, text)
  }

  // ---- routes ---------------------------------------------------------------------------------

  /**
   * POST /v1/transactions: all statements in one all-or-nothing transaction. Throws CorrosionSqlError
   * with the agent's `rusqlite: … (actor_id: None, version: None)` text when any statement fails.
   */
  async execute(statements: readonly Statement[], options: RequestOptions = {}): Promise<ExecResponse> {
    if (!Array.isArray(statements) || statements.length === 0) {
      throw new CorrosionStatementError('a transaction needs at least 1 statement (the agent answers 400 to [])')
    }
    const body = serializeStatements(statements)
    const response = await this.send('POST', '/v1/transactions', {
      body,
      query: {timeout: options.timeoutSecs === undefined ? undefined : String(options.timeoutSecs)},
      signal: options.signal,
      what: 'the transaction',
    })
    const {text, json} = await this.readJson(response, 'the transaction')
    if (response.statusCode === 200) {
      const r = json as {results?: unknown; time?: unknown; version?: unknown; actor_id?: unknown} | undefined
      if (!r || !Array.isArray(r.results)) throw new CorrosionProtocolError(`Corrosion at ${this.url} answered 200 without results: ${text.slice(0, 200)}`)
      const results: ExecResult[] = r.results.map((x: {rows_affected?: unknown; time?: unknown; error?: unknown}) => {
        if (typeof x?.error === 'string') throw new CorrosionSqlError(x.error, 200)
        return {rowsAffected: num(x?.rows_affected), timeSecs: num(x?.time)}
      })
      return {
        results,
        timeSecs: num(r.time),
        version: typeof r.version === 'number' ? r.version : null,
        ...(typeof r.actor_id === 'string' ? {actorId: r.actor_id} : {}),
      }
    }
    const message = agentError(json)
    if (response.statusCode === 500 && message !== undefined) {
      // The 500 text is a ChangeError (corro-types agent.rs): `rusqlite: … (actor_id: …, version: …)` for
      // SQLite's verdict, `could not acquire pooled … connection: …` when the agent itself is stuck.
      if (/^could not acquire pooled (write|read) connection/.test(message)) throw this.rejected(500, message)
      if (options.timeoutSecs !== undefined && /^rusqlite: interrupted \(/.test(message)) {
        throw new CorrosionTimeoutError(this.url, 'the transaction (interrupted by the agent)', options.timeoutSecs * 1000)
      }
      throw new CorrosionSqlError(message, 500)
    }
    if (response.statusCode === 400 && message !== undefined) throw new CorrosionStatementError(`Corrosion refused the transaction: ${message}`)
    throw this.rejected(response.statusCode, message ?? text)
  }

  /** POST /v1/queries as a stream of events; ends after eoq. Throws on an `error` event or EOF before eoq. */
  async *queryEvents(statement: Statement, options: RequestOptions = {}): AsyncGenerator<QueryEvent> {
    const body = serializeStatement(statement)
    const response = await this.send('POST', '/v1/queries', {
      body,
      query: {timeout: options.timeoutSecs === undefined ? undefined : String(options.timeoutSecs)},
      signal: options.signal,
      what: 'the query',
      isIdempotent: true,
    })
    if (response.statusCode !== 200) {
      const {text, json} = await this.readJson(response, 'the query')
      const message = agentError(json)
      if ((response.statusCode === 400 || response.statusCode === 500) && message !== undefined) throw new CorrosionSqlError(message, response.statusCode)
      throw this.rejected(response.statusCode, message ?? text)
    }
    let isDone = false
    try {
      for await (const event of readNdjson(response.body)) {
        if (isDone) continue // nothing follows eoq; read to EOF so the connection is reused
        if (event.type === 'error') {
          if (event.message === 'interrupted') throw new CorrosionTimeoutError(this.url, 'the query (interrupted by the agent)', (options.timeoutSecs ?? 60) * 1000)
          throw new CorrosionSqlError(event.message, 200)
        }
        if (event.type === 'eoq') isDone = true
        yield event
      }
    } catch (error) {
      if (error instanceof CorrosionSqlError || error instanceof CorrosionProtocolError || error instanceof CorrosionTimeoutError) throw error
      throw this.mapNetworkError(error, 'the query')
    } finally {
      if (!isDone) response.body.destroy()
    }
    if (!isDone) throw new CorrosionProtocolError(`Corrosion at ${this.url} ended the query stream before eoq`)
  }

  /** POST /v1/queries: the whole result. Only read-only statements are accepted by the agent. */
  async query(statement: Statement, options: RequestOptions = {}): Promise<QueryResult> {
    let columns: string[] | undefined
    const rows: QueryRow[] = []
    for await (const event of this.queryEvents(statement, options)) {
      if (event.type === 'columns') columns = event.columns
      else if (event.type === 'row') rows.push({rowid: event.rowid, cells: event.cells})
    }
    if (columns === undefined) throw new CorrosionProtocolError(`Corrosion at ${this.url} answered the query without columns`)
    return {columns, rows}
  }

  /** The query's rows as objects keyed by column name. */
  async queryObjects(statement: Statement, options: RequestOptions = {}): Promise<Record<string, SqliteValue>[]> {
    const result = await this.query(statement, options)
    return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row.cells[i] ?? null])))
  }

  /**
   * A live subscription: snapshot, then changes, resumed across disconnects (see Subscription).
   * The SQL is whitespace-normalized so equivalent texts share one agent-side subscription.
   */
  subscribe(statement: Statement, handlers: SubscriptionHandlers = {}, options: SubscriptionOptions = {}): Subscription {
    return new Subscription(this, statement, handlers, options)
  }

  /** Opens a subscription stream (used by Subscription). `from` is only ever sent when resuming by id. */
  async openSubscription(
    request: {kind: 'create'; statement: Statement; skipRows?: boolean} | {kind: 'resume'; id: string; from: number; skipRows?: boolean},
    signal: AbortSignal,
  ): Promise<OpenStream> {
    const skip = request.skipRows === undefined ? undefined : request.skipRows ? 'true' : 'false'
    const response =
      request.kind === 'create'
        ? await this.send('POST', '/v1/subscriptions', {
            body: serializeStatement(request.statement),
            query: {skip_rows: skip},
            signal,
            bodyTimeoutMs: 0,
            what: 'the subscription',
            isIdempotent: true,
          })
        : await this.send('GET', `/v1/subscriptions/${encodeURIComponent(request.id)}`, {
            query: {from: String(request.from), skip_rows: skip},
            signal,
            bodyTimeoutMs: 0,
            what: 'the subscription',
            isIdempotent: true,
          })
    return {status: response.statusCode, headers: response.headers, body: response.body}
  }

  /** Reads an error body of a non-200 subscription answer. */
  async subscriptionError(stream: OpenStream): Promise<{status: number; message: string; isSqlError: boolean}> {
    let text = ''
    try {
      for await (const chunk of stream.body) text += Buffer.from(chunk).toString('utf8')
    } catch {
      // a body cut short still says enough through the status
    }
    const message = agentError(parseJson(text))
    return {status: stream.status, message: message ?? (text.trim() || `(status ${stream.status}, empty body)`), isSqlError: message !== undefined}
  }

  /** Maps a network failure of a stream to the typed error (used by Subscription). */
  streamError(error: unknown): Error {
    return this.mapNetworkError(error, 'the subscription')
  }

  /** GET /v1/health. A 503 "no p99 lag information available" is `idle`, not down. */
  async health(params: HealthParams = {}): Promise<HealthResult> {
    const response = await this.send('GET', '/v1/health', {
      query: {
        gaps: params.gaps === undefined ? undefined : String(params.gaps),
        p99_lag: params.p99LagSecs === undefined ? undefined : String(params.p99LagSecs),
        max_queue: params.maxQueue === undefined ? undefined : String(params.maxQueue),
        queue_size: params.queueSize === undefined ? undefined : String(params.queueSize),
      },
      what: 'the health check',
      isIdempotent: true,
    })
    const {text, json} = await this.readJson(response, 'the health check')
    const status = response.statusCode
    if (status === 404) return {state: 'unsupported', status}
    const r = (json as {response?: Record<string, unknown>} | undefined)?.response
    if (r && typeof r === 'object') {
      return {
        state: status === 200 ? 'healthy' : 'unhealthy',
        status,
        gaps: num(r.gaps),
        members: num(r.members),
        p99LagSecs: num(r.p99_lag),
        queueSize: num(r.queue_size),
      }
    }
    const error = agentError(json)
    if (error === 'no p99 lag information available') return {state: 'idle', status, error}
    if (error !== undefined) return {state: 'unhealthy', status, error}
    if (status >= 400 && status < 500) throw this.rejected(status, text)
    return {state: 'unhealthy', status, error: text.trim() || `status ${status}`}
  }

  /** POST /v1/table_stats: the summed row count of the tables, and the names that do not exist. */
  async tableStats(tables: readonly string[]): Promise<TableStats> {
    const response = await this.send('POST', '/v1/table_stats', {body: JSON.stringify({tables}), what: 'table stats', isIdempotent: true})
    const {text, json} = await this.readJson(response, 'table stats')
    const r = json as {total_row_count?: unknown; invalid_tables?: unknown} | undefined
    if (response.statusCode === 200 && r && typeof r.total_row_count === 'number') {
      return {totalRowCount: r.total_row_count, invalidTables: Array.isArray(r.invalid_tables) ? r.invalid_tables.map(String) : []}
    }
    if (response.statusCode === 500) throw new CorrosionProtocolError(`Corrosion at ${this.url} could not count rows (table_stats answered 500)`)
    throw this.rejected(response.statusCode, text)
  }

  /**
   * POST /v1/migrations (agents up to v1.0.1). 404 → CorrosionMigrationsUnsupportedError; a schema
   * the agent refuses → CorrosionSchemaError carrying the agent's rule text.
   */
  async migrations(sqls: readonly string[]): Promise<MigrationsResponse> {
    if (sqls.length === 0) throw new CorrosionStatementError('migrations need at least 1 statement (the agent answers 400 to [])')
    const response = await this.send('POST', '/v1/migrations', {body: JSON.stringify(sqls), what: 'the migration'})
    const {text, json} = await this.readJson(response, 'the migration')
    if (response.statusCode === 404) throw new CorrosionMigrationsUnsupportedError(this.url)
    const r = json as {time?: unknown; version?: unknown; actor_id?: unknown} | undefined
    if (response.statusCode === 200) {
      return {
        timeSecs: num(r?.time),
        version: typeof r?.version === 'number' ? r.version : null,
        ...(typeof r?.actor_id === 'string' ? {actorId: r.actor_id} : {}),
      }
    }
    const message = agentError(json)
    if (response.statusCode === 500 && message !== undefined) throw new CorrosionSchemaError(`Corrosion refused the schema: ${message}`, [message])
    throw this.rejected(response.statusCode, message ?? text)
  }

  /** Waits for in-flight requests, then closes the connections. */
  async close(): Promise<void> {
    await this.pool.close()
  }

  /** Aborts everything at once (open subscriptions included). */
  async destroy(): Promise<void> {
    await this.pool.destroy()
  }
}

/** A consumed body re-exposed with the subset of BodyMixin this file uses. */
function textBody(text: string): unknown {
  return {
    text: async () => text,
    json: async () => JSON.parse(text),
    dump: async () => {},
    destroy: () => {},
    async *[Symbol.asyncIterator]() {
      yield Buffer.from(text, 'utf8')
    },
  }
}
