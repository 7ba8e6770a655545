// One emulated Corrosion agent: the HTTP API of corrosion-api.md (status codes, text vs JSON bodies,
// exact error texts, NDJSON framing), a SQLite database with CRR tables from schema files, persisted
// subscriptions, /v1/updates, health, the admin socket, and replication hooks for a cluster. It is a
// TEST PEER: it follows the contract so clients can be tested against it, and it is not product code.
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import Database from 'better-sqlite3'

import {JsonSyntaxError, parseJson, position, toJson, type JsonValue} from './json.js'
import {mergeRemote, recordLocal, type LoggedChange, type RowChange} from './crdt.js'
import {applySchema, CHANGES_TABLE, ensureBookkeeping, installTriggers, loadSchema, readSchemaPaths, SchemaRefused, type EmuSchema} from './schema.js'
import {expand, expandStars, kw, lex, meaningful, params as paramInfo, quoteIdent, selectShape, statements} from './sql.js'

export interface EmulatorOptions {
  /** `host:port` of the HTTP API; port 0 picks one (kept across stop()/start()). */
  api?: string
  /** SQLite file; a temporary directory is created (and removed on close()) when absent. */
  dbPath?: string
  schemaPaths?: string[]
  /** Where subscriptions persist (default `<dirname(db)>/subscriptions`). */
  subscriptionsPath?: string
  token?: string
  endpointName?: string
  adminSocket?: string
  /** Serve POST /v1/migrations (agents up to v1.0.1); HEAD answers 404. Default false. */
  migrations?: boolean
  /** Changes kept per subscription by a purge (default 500). */
  subscriptionRetention?: number
  /** Purge period (default 300 s like the agent); 0 purges after every change. */
  purgeIntervalMs?: number
  /** Window of replication lag samples for /v1/health (default 120 s). */
  lagWindowMs?: number
  /**
   * The subscription tick: committed changes wait for the next tick (or 1000 changed rows) before
   * a subscription re-reads them, like the agent's 600 ms PROCESS_BUFFER_DEADLINE, so several quick
   * writes to one row become one change event. Default 600; 0 matches after every commit.
   */
  subscriptionTickMs?: number
  /** Stream events are coalesced and flushed after this delay (default 5 ms; the agent uses ~10). */
  flushDelayMs?: number
  /** Split some flushes in two writes mid-line, to exercise clients (default true). */
  splitChunks?: boolean
  log?: (line: string) => void
}

export interface RecordedRequest {
  /** Date.now() when the request arrived. */
  at: number
  method: string
  url: string
  authorization?: string
  contentType?: string
  body: string
  status?: number
}

export interface Changeset {
  origin: string
  ts: number
  /** Per row: its causal length and the columns written, with their versions (crdt.ts). */
  changes: RowChange[]
}

export interface ClusterLink {
  broadcast(from: EmulatorAgent, changeset: Changeset): void
  /** The other agents and whether this one sees them alive (running and not partitioned away). */
  members(of: EmulatorAgent): {actorId: string; address: string; isAlive: boolean}[]
  /** An agent started or stopped: the others' member lists change. */
  membershipChanged(agent: EmulatorAgent): void
}

interface Listener {
  push(line: string): void
  end(): void
}

interface Sub {
  id: string
  sql: string
  hash: string
  table: string
  /** The query with `*` expanded into the columns the table had when the subscription was made. */
  query: string
  pkCount: number
  columns: string[]
  rows: Map<string, {rowid: number; cells: string}>
  nextRowid: number
  lastChangeId: number
  listeners: Set<Listener>
}

interface ParsedStatement {
  sql: string
  positional?: JsonValue[]
  named?: Map<string, JsonValue>
}

type BindValue = null | bigint | number | string | Buffer

class SqlFailure extends Error {
  constructor(
    message: string,
    readonly stage: 'prepare' | 'bind' | 'step',
  ) {
    super(message)
  }
}

const TEXT = {'content-type': 'text/plain; charset=utf-8'}
const JSON_CT = {'content-type': 'application/json'}
/** http 1.x HeaderValue::to_str: bytes 0x20-0x7e and tab. */
const VISIBLE_ASCII = /^[\t\x20-\x7e]*$/
const OVERLOADED = 'max concurrency limit reached'

type QueryKind = 'u64' | 'i64' | 'u16' | 'f64' | 'bool'
type QueryValues = Record<string, bigint | number | boolean>

/** The query-string structs of the handlers (TimeoutParams, SubParams, HealthQuery), field → Rust type. */
const QUERY_PARAMS: Record<string, Record<string, QueryKind>> = {
  transactions: {timeout: 'u64'},
  queries: {timeout: 'u64'},
  'sub-post': {from: 'u64', skip_rows: 'bool'},
  'sub-get': {from: 'u64', skip_rows: 'bool'},
  health: {gaps: 'i64', p99_lag: 'f64', max_queue: 'u64', queue_size: 'u64', failure_status: 'u16'},
}

/** Rust's integer FromStr (ParseIntError texts); '+' allowed, '-' only for signed types. */
function parseRustInt(text: string, min: bigint, max: bigint): bigint | string {
  if (text === '') return 'cannot parse integer from empty string'
  let digits = text
  if (text[0] === '+' || (text[0] === '-' && min < 0n)) {
    digits = text.slice(1)
    if (digits === '') return 'invalid digit found in string'
  }
  if (!/^[0-9]+$/.test(digits)) return 'invalid digit found in string'
  const value = text[0] === '-' ? -BigInt(digits) : BigInt(digits)
  if (value > max) return 'number too large to fit in target type'
  if (value < min) return 'number too small to fit in target type'
  return value
}

/** Rust's f64 FromStr grammar (ParseFloatError texts). */
function parseRustFloat(text: string): number | string {
  if (text === '') return 'cannot parse float from empty string'
  const m = /^([+-]?)(?:(inf|infinity|nan)|((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))$/i.exec(text)
  if (!m) return 'invalid float literal'
  if (m[2]) return m[2].toLowerCase() === 'nan' ? Number.NaN : m[1] === '-' ? -Infinity : Infinity
  return Number(`${m[1]}${m[3]}`)
}

/**
 * axum's Query: serde_urlencoded over the pairs in order (serde_path_to_error names the field),
 * unknown keys ignored, a repeated field refused. A string is the error text.
 */
function parseQuery(params: URLSearchParams, spec: Record<string, QueryKind>): QueryValues | string {
  const out: QueryValues = {}
  for (const [key, value] of params) {
    const kind = spec[key]
    if (!kind) continue
    if (key in out) return `duplicate field \`${key}\``
    let parsed: bigint | number | boolean | string
    if (kind === 'bool') parsed = value === 'true' ? true : value === 'false' ? false : 'provided string was not `true` or `false`'
    else if (kind === 'f64') parsed = parseRustFloat(value)
    else if (kind === 'i64') parsed = parseRustInt(value, -(2n ** 63n), 2n ** 63n - 1n)
    else if (kind === 'u16') parsed = parseRustInt(value, 0n, 65_535n)
    else parsed = parseRustInt(value, 0n, 2n ** 64n - 1n)
    if (typeof parsed === 'string') return `${key}: ${parsed}`
    out[key] = parsed
  }
  return out
}

/**
 * uuid 1.18 `Uuid::parse_str` (simple, hyphenated, {braced}, urn:uuid:): `ok:<hyphenated lowercase>`,
 * or the InvalidUuid::into_err text.
 */
function parseUuid(input: string): string {
  const hex = (s: string) => /^[0-9a-fA-F]*$/.test(s)
  const hyphenated = (s: string) => s.length === 36 && [8, 13, 18, 23].every((i) => s[i] === '-') && hex(s.replaceAll('-', '')) && s.replaceAll('-', '').length === 32
  let body: string | undefined
  if (input.length === 32 && hex(input)) body = input
  else if (input.length === 36 && hyphenated(input)) body = input.replaceAll('-', '')
  else if (input.length === 38 && input.startsWith('{') && input.endsWith('}') && hyphenated(input.slice(1, -1))) body = input.slice(1, -1).replaceAll('-', '')
  else if (input.length === 45 && input.startsWith('urn:uuid:') && hyphenated(input.slice(9))) body = input.slice(9).replaceAll('-', '')
  if (body !== undefined) {
    const b = body.toLowerCase()
    return `ok:${b.slice(0, 8)}-${b.slice(8, 12)}-${b.slice(12, 16)}-${b.slice(16, 20)}-${b.slice(20)}`
  }
  // InvalidUuid::into_err
  let s = input
  let offset = 0
  let isSimple = true
  if (input.length >= 2 && input.startsWith('{') && input.endsWith('}')) [s, offset, isSimple] = [input.slice(1, -1), 1, false]
  else if (input.startsWith('urn:uuid:')) [s, offset, isSimple] = [input.slice(9), 9, false]
  let hyphens = 0
  const bounds = [0, 0, 0, 0]
  let index = 0
  for (const ch of s) {
    if (ch.codePointAt(0)! > 0x7f || (ch !== '-' && !/[0-9a-fA-F]/.test(ch))) {
      return `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${ch}\` at ${index + offset + 1}`
    }
    if (ch === '-') {
      if (hyphens < 4) bounds[hyphens] = index
      hyphens++
    }
    index += Buffer.byteLength(ch)
  }
  if (hyphens === 0 && isSimple) return `invalid length: expected length 32 for simple format, found ${Buffer.byteLength(input)}`
  if (hyphens !== 4) return `invalid group count: expected 5, found ${hyphens + 1}`
  const starts = [0, 9, 14, 19, 24]
  const expected = [8, 4, 4, 4, 12]
  for (let i = 0; i < 4; i++) {
    if (bounds[i] !== starts[i + 1]! - 1) return `invalid group length in group ${i}: expected ${expected[i]}, found ${bounds[i]! - starts[i]!}`
  }
  return `invalid group length in group 4: expected 12, found ${Buffer.byteLength(input) - starts[4]!}`
}

function isByte(v: JsonValue): boolean {
  return typeof v === 'bigint' && v >= 0n && v <= 255n
}

function isParam(v: JsonValue): boolean {
  if (v === null || typeof v === 'boolean' || typeof v === 'bigint' || typeof v === 'number' || typeof v === 'string') return true
  return Array.isArray(v) && v.every(isByte)
}

/** serde's untagged Statement, variants tried in order; undefined when none matches. */
function toStatement(v: JsonValue): ParsedStatement | undefined {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && typeof v !== 'bigint') {
    const o = v as {[k: string]: JsonValue}
    if (typeof o.query !== 'string') return undefined
    const p = o.params
    const n = o.named_params
    if (p !== undefined && p !== null && !(Array.isArray(p) && p.every(isParam))) return undefined
    if (n !== undefined && n !== null && !(typeof n === 'object' && !Array.isArray(n) && Object.values(n).every(isParam))) return undefined
    if (Array.isArray(p)) return {sql: o.query, positional: p}
    if (n && typeof n === 'object' && !Array.isArray(n)) return {sql: o.query, named: new Map(Object.entries(n as {[k: string]: JsonValue}))}
    return {sql: o.query}
  }
  if (typeof v === 'string') return {sql: v}
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string') {
    const second = v[1]
    if (Array.isArray(second)) return second.every(isParam) ? {sql: v[0], positional: second} : undefined
    if (second !== null && typeof second === 'object' && typeof second !== 'bigint') {
      const entries = Object.entries(second as {[k: string]: JsonValue})
      return entries.every(([, x]) => isParam(x)) ? {sql: v[0], named: new Map(entries)} : undefined
    }
  }
  return undefined
}

function bindValue(v: JsonValue | undefined): BindValue {
  if (v === undefined || v === null) return null
  if (typeof v === 'boolean') return v ? 1n : 0n
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'string') return v
  if (Array.isArray(v)) return Buffer.from(v.map((b) => Number(b)))
  return null
}

function locate(message: string, sql: string): number {
  const m = /^(?:no such table|no such column|no such function): (.+)$/.exec(message) ?? /^near "(.+)": syntax error$/.exec(message)
  if (!m) return -1
  const idx = sql.toLowerCase().indexOf(m[1]!.toLowerCase().replace(/^main\./, ''))
  return idx
}

export class EmulatorAgent {
  readonly options: Required<Pick<EmulatorOptions, 'subscriptionRetention' | 'purgeIntervalMs' | 'lagWindowMs' | 'flushDelayMs' | 'splitChunks' | 'subscriptionTickMs'>> & EmulatorOptions
  readonly dbPath: string
  readonly subscriptionsPath: string
  readonly requests: RecordedRequest[] = []
  host: string
  port: number
  actorId = ''
  cluster?: ClusterLink
  private tmpDir?: string
  private db?: Database.Database
  private subsDb?: Database.Database
  private server?: http.Server
  private adminServer?: net.Server
  private schema: EmuSchema = new Map()
  private subs = new Map<string, Sub>()
  private subsBySql = new Map<string, string>()
  private updates = new Map<string, {id: string; listeners: Set<Listener>}>()
  private lagSamples: {at: number; secs: number}[] = []
  private pending: Changeset[] = []
  private openStreams = new Set<http.ServerResponse>()
  private purgeTimer?: NodeJS.Timeout
  private tickTimer?: NodeJS.Timeout
  private isHeld = false
  /** Streams with lines waiting for release(). */
  private heldFlushes = new Set<() => void>()
  /** Subscriptions with committed changes waiting for the next tick, with the primary keys changed. */
  private candidates = new Map<Sub, Set<string>>()
  /** Every change event a subscription emitted (for latency assertions): when, which, change id. */
  readonly emitted: {at: number; subscription: string; changeId: number}[] = []
  private shedding: {remaining: number; routes?: string[]} = {remaining: 0}
  private isRunning = false
  migrationsEnabled: boolean
  token?: string
  private gapCount = 0
  private membersOverride?: number

  constructor(options: EmulatorOptions = {}) {
    this.options = {subscriptionRetention: 500, purgeIntervalMs: 300_000, lagWindowMs: 120_000, flushDelayMs: 5, splitChunks: true, subscriptionTickMs: 600, ...options}
    if (options.dbPath) this.dbPath = options.dbPath
    else {
      this.tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corro-emu-'))
      this.dbPath = path.join(this.tmpDir, 'state.db')
    }
    this.subscriptionsPath = options.subscriptionsPath ?? path.join(path.dirname(this.dbPath), 'subscriptions')
    const [host, port] = splitHostPort(options.api ?? '127.0.0.1:0')
    this.host = host
    this.port = port
    this.migrationsEnabled = options.migrations ?? false
    this.token = options.token
  }

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`
  }

  get running(): boolean {
    return this.isRunning
  }

  private log(line: string): void {
    this.options.log?.(line)
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  async start(): Promise<this> {
    if (this.isRunning) return this
    fs.mkdirSync(path.dirname(this.dbPath), {recursive: true})
    fs.mkdirSync(this.subscriptionsPath, {recursive: true})
    this.db = new Database(this.dbPath)
    this.db.pragma('journal_mode = WAL')
    this.db.defaultSafeIntegers(true)
    ensureBookkeeping(this.db)
    this.actorId = this.meta('actor_id') ?? crypto.randomBytes(16).toString('hex')
    this.setMeta('actor_id', this.actorId)
    this.schema = loadSchema(this.db)
    for (const table of this.schema.values()) installTriggers(this.db, table)
    const scripts = readSchemaPaths(this.options.schemaPaths ?? [], (l) => this.log(l))
    if (scripts.length > 0) {
      try {
        applySchema(this.db, scripts)
      } catch (error) {
        // Like the agent: a schema error at startup is only logged; the old schema stays.
        this.log(`could not execute schema: ${(error as Error).message}`)
      }
      this.schema = loadSchema(this.db)
    }
    this.openSubscriptionStore()
    this.restoreSubscriptions()
    // Changes that replicated while we were down are applied before the API serves, like a sync
    // after restart, so a client resuming sees them as stored changes.
    this.isRunning = true
    this.writeBookkeeping()
    this.cluster?.membershipChanged(this)
    const queued = this.pending
    this.pending = []
    for (const changeset of queued) this.applyRemote(changeset)
    this.runTick()
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        this.log(`handler failed: ${(error as Error).stack}`)
        if (!res.headersSent) res.writeHead(500).end()
        else res.destroy()
      })
    })
    this.server.keepAliveTimeout = 5000
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(this.port, this.host, () => resolve())
    })
    this.port = (this.server.address() as net.AddressInfo).port
    if (this.options.adminSocket) await this.startAdmin(this.options.adminSocket)
    if (this.options.purgeIntervalMs > 0) {
      this.purgeTimer = setInterval(() => this.purgeSubscriptionChanges(), this.options.purgeIntervalMs)
      this.purgeTimer.unref()
    }
    if (this.options.subscriptionTickMs > 0) {
      this.tickTimer = setInterval(() => {
        if (!this.isHeld) this.runTick()
      }, this.options.subscriptionTickMs)
      this.tickTimer.unref()
    }
    return this
  }

  /** Stops like a killed agent: open streams are cut, the DB and the subscriptions stay on disk. */
  async stop(): Promise<void> {
    if (!this.isRunning) return
    this.isRunning = false
    this.cluster?.membershipChanged(this)
    if (this.purgeTimer) clearInterval(this.purgeTimer)
    if (this.tickTimer) clearInterval(this.tickTimer)
    this.candidates.clear()
    for (const res of this.openStreams) res.destroy()
    this.openStreams.clear()
    for (const sub of this.subs.values()) sub.listeners.clear()
    for (const u of this.updates.values()) u.listeners.clear()
    this.updates.clear()
    await new Promise<void>((resolve) => {
      this.server!.close(() => resolve())
      this.server!.closeAllConnections()
    })
    if (this.adminServer) {
      await new Promise<void>((resolve) => this.adminServer!.close(() => resolve()))
      this.adminServer = undefined
    }
    this.subs.clear()
    this.subsBySql.clear()
    this.db?.close()
    this.subsDb?.close()
    this.db = undefined
    this.subsDb = undefined
  }

  /** stop() and remove the temporary directory, if this emulator made one. */
  async close(): Promise<void> {
    await this.stop()
    if (this.tmpDir) fs.rmSync(this.tmpDir, {recursive: true, force: true})
  }

  private meta(key: string): string | undefined {
    const v = this.db!.prepare('SELECT value FROM __corro_emu_meta WHERE key = ?').pluck().get(key)
    return v === undefined || v === null ? undefined : String(v)
  }

  private setMeta(key: string, value: string | bigint): void {
    this.db!.prepare('INSERT INTO __corro_emu_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value)
  }

  // ---- test controls --------------------------------------------------------------------------

  /** The next `count` requests (optionally only on these path prefixes) get 503 `max concurrency limit reached`. */
  shed(count: number | 'always' | 'off', routes?: string[]): void {
    this.shedding = {remaining: count === 'always' ? Number.POSITIVE_INFINITY : count === 'off' ? 0 : count, routes}
  }

  setMigrations(isEnabled: boolean): void {
    this.migrationsEnabled = isEnabled
  }

  /** Versions this agent knows it misses (`__corro_bookkeeping_gaps`, summed by /v1/health). */
  get gaps(): number {
    return this.gapCount
  }

  set gaps(count: number) {
    this.gapCount = count
    this.writeBookkeeping()
  }

  /**
   * How many members this agent sees alive: a number pins it (as if SWIM said so), undefined goes
   * back to the cluster's view (running agents on this side of any partition).
   */
  setMembers(count: number | undefined): void {
    this.membersOverride = count
    this.writeBookkeeping()
  }

  /** Rewrites `__corro_members` and `__corro_bookkeeping_gaps` from the cluster and the test's settings. */
  writeBookkeeping(): void {
    const db = this.db
    if (!db || !this.isRunning) return
    const members =
      this.membersOverride !== undefined
        ? Array.from({length: this.membersOverride}, (_, i) => ({actorId: `pinned-${i}`, address: `127.0.0.1:${4001 + i}`, isAlive: true}))
        : (this.cluster?.members(this) ?? [])
    db.transaction(() => {
      db.exec('DELETE FROM __corro_members; DELETE FROM __corro_bookkeeping_gaps')
      const insert = db.prepare('INSERT INTO __corro_members (actor_id, address, foca_state, updated_at) VALUES (?, ?, ?, ?)')
      for (const m of members) insert.run(Buffer.from(m.actorId), m.address, JSON.stringify({id: {id: m.actorId, addr: m.address}, incarnation: 0, state: m.isAlive ? 'Alive' : 'Down'}), new Date().toISOString())
      if (this.gapCount > 0) db.prepare('INSERT INTO __corro_bookkeeping_gaps (actor_id, start, "end") VALUES (?, 1, ?)').run(Buffer.alloc(16), this.gapCount)
    })()
  }

  /** Record a replication lag sample, as if a remote change had been applied. */
  recordLag(secs: number): void {
    this.lagSamples.push({at: Date.now(), secs})
  }

  subscriptionIds(): string[] {
    return [...this.subs.keys()]
  }

  /** Forget a subscription, as the agent does 10 minutes after its last listener left. */
  dropSubscription(id: string): void {
    const sub = this.subs.get(id)
    if (!sub) return
    for (const l of sub.listeners) l.end()
    this.subs.delete(id)
    this.subsBySql.delete(sub.sql)
    this.candidates.delete(sub)
    this.deleteSubscription(id)
  }

  /** Corrosion's purge_old_changes for every subscription. */
  purgeSubscriptionChanges(): void {
    if (!this.subsDb) return
    for (const sub of this.subs.values()) {
      this.subsDb
        .prepare('DELETE FROM sub_changes WHERE sub_id = ? AND id < (SELECT COALESCE(MAX(id), 0) - ? FROM sub_changes WHERE sub_id = ?)')
        .run(sub.id, BigInt(this.options.subscriptionRetention), sub.id)
    }
  }

  /** Re-reads the schema paths (the admin socket's Reload). */
  reload(): {ok: true} | {ok: false; error: string} {
    const scripts = readSchemaPaths(this.options.schemaPaths ?? [], (l) => this.log(l))
    if (scripts.length === 0) return {ok: true}
    return this.applySchemaScripts(scripts)
  }

  private applySchemaScripts(scripts: string[]): {ok: true} | {ok: false; error: string} {
    try {
      applySchema(this.db!, scripts)
      this.schema = loadSchema(this.db!)
      return {ok: true}
    } catch (error) {
      if (error instanceof SchemaRefused) return {ok: false, error: error.message}
      throw error
    }
  }

  /** Runs statements through the same path as POST /v1/transactions (for test setup). */
  transact(stmts: (string | [string, unknown[]])[]): {version: number | null} {
    const parsed = stmts.map((s) =>
      typeof s === 'string' ? {sql: s} : {sql: s[0], positional: s[1].map((v) => (typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : v)) as JsonValue[]},
    )
    const r = this.runTransaction(parsed)
    if ('error' in r) throw new Error(r.error)
    return {version: r.version}
  }

  /** Reads rows directly (for assertions). */
  rows(sql: string, ...args: unknown[]): Record<string, unknown>[] {
    const stmt = this.db!.prepare(sql)
    stmt.safeIntegers(false)
    return stmt.all(...args) as Record<string, unknown>[]
  }

  // ---- HTTP -----------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    const url = new URL(req.url ?? '/', 'http://emulator')
    const record: RecordedRequest = {
      at: Date.now(),
      method: req.method ?? '',
      url: req.url ?? '',
      body,
      ...(req.headers.authorization !== undefined ? {authorization: req.headers.authorization} : {}),
      ...(req.headers['content-type'] !== undefined ? {contentType: req.headers['content-type']} : {}),
    }
    this.requests.push(record)
    const send = (status: number, headers: Record<string, string>, text?: string) => {
      record.status = status
      res.writeHead(status, headers)
      res.end(text)
    }

    // 1. endpoint name (421), 2. authorization header shape (400), 3. token (401). Before any limiter.
    // (util.rs require_authz; "visible ASCII" is http's HeaderValue::to_str: 0x20-0x7e and tab.)
    const wanted = req.headers['x-corrosion-requested-endpoint-name']
    if (this.options.endpointName && typeof wanted === 'string') {
      if (!VISIBLE_ASCII.test(wanted)) return send(400, {})
      if (wanted !== this.options.endpointName) return send(421, {})
    }
    const auth = req.headers.authorization
    let bearer: string | undefined
    if (auth !== undefined) {
      // headers 0.4.1: `Bearer` (any case) then one space, visible ASCII; token() trims leading whitespace.
      const m = VISIBLE_ASCII.test(auth) ? /^bearer (.*)$/is.exec(auth) : null
      const token = m?.[1]?.replace(/^\s+/, '')
      if (!m || !token) return send(400, TEXT, 'invalid HTTP header (authorization)')
      bearer = token
    }
    if (this.token !== undefined && bearer !== this.token) return send(401, {})

    const route = this.route(req.method ?? 'GET', url.pathname)
    if (route === 'not-found') return send(404, {})
    if (route === 'method') return send(405, {})
    if (this.shedding.remaining > 0 && (!this.shedding.routes || this.shedding.routes.some((r) => url.pathname.startsWith(r)))) {
      this.shedding.remaining--
      return send(503, TEXT, OVERLOADED)
    }
    // axum runs the handler's extractors in argument order: Path, then Query, then Json (body last).
    let subId: string | undefined
    if (route.name === 'sub-get') {
      const parsedId = parseUuid(route.id!)
      if (typeof parsedId !== 'string' || !parsedId.startsWith('ok:')) {
        return send(400, TEXT, `Invalid URL: Cannot parse \`id\` with value \`${route.id}\`: UUID parsing failed: ${parsedId}`)
      }
      subId = parsedId.slice(3)
    }
    const querySpec = QUERY_PARAMS[route.name]
    let query: QueryValues = {}
    if (querySpec) {
      const q = parseQuery(url.searchParams, querySpec)
      if (typeof q === 'string') return send(400, TEXT, `Failed to deserialize query string: ${q}`)
      query = q
    }
    const jsonRoute = route.name !== 'health' && route.name !== 'sub-get' && route.name !== 'updates'
    if (jsonRoute && !isJsonContentType(req.headers['content-type'])) {
      return send(415, TEXT, 'Expected request with `Content-Type: application/json`')
    }
    let parsed: {value: JsonValue; elementEnds: number[]} | undefined
    if (jsonRoute) {
      try {
        parsed = parseJson(body)
      } catch (error) {
        if (error instanceof JsonSyntaxError) return send(400, TEXT, `Failed to parse the request body as JSON: ${error.message}`)
        throw error
      }
    }
    const reject422 = (detail: string) => send(422, TEXT, `Failed to deserialize the JSON body into the target type: ${detail}`)
    const noVariant = (end: number) => `data did not match any variant of untagged enum Statement at ${position(body, end)}`

    switch (route.name) {
      case 'transactions': {
        const v = parsed!.value
        if (!Array.isArray(v)) return reject422(`invalid type: ${jsonType(v)}, expected a sequence at ${position(body, 1)}`)
        const stmts: ParsedStatement[] = []
        for (let i = 0; i < v.length; i++) {
          const s = toStatement(v[i]!)
          if (!s) return reject422(`[${i}]: ${noVariant(parsed!.elementEnds[i]!)}`)
          stmts.push(s)
        }
        if (stmts.length === 0) {
          record.status = 400
          res.writeHead(400, JSON_CT)
          res.end(`{"results":[{"error":"at least 1 statement is required"}],"time":0.0,"version":null,"actor_id":${JSON.stringify(this.actorId)}}`)
          return
        }
        const started = process.hrtime.bigint()
        const r = this.runTransaction(stmts)
        const secs = Number(process.hrtime.bigint() - started) / 1e9
        if ('error' in r) {
          return send(500, JSON_CT, `{"results":[{"error":${JSON.stringify(r.error)}}],"time":0.0,"version":null,"actor_id":${JSON.stringify(this.actorId)}}`)
        }
        const results = r.results.map((x) => `{"rows_affected":${x.rowsAffected},"time":${toJson(x.secs)}}`).join(',')
        return send(200, JSON_CT, `{"results":[${results}],"time":${toJson(secs)},"version":${r.version ?? 'null'},"actor_id":${JSON.stringify(this.actorId)}}`)
      }
      case 'queries': {
        const s = toStatement(parsed!.value)
        if (!s) return reject422(noVariant(body.trimEnd().length))
        return this.query(s, res, record)
      }
      case 'sub-post':
      case 'sub-get': {
        const opts = {from: query.from === undefined ? undefined : Number(query.from), skipRows: query.skip_rows === true}
        if (route.name === 'sub-get') {
          const sub = this.subs.get(subId!)
          if (!sub) return send(404, JSON_CT, `{"error":${JSON.stringify(`could not find subscription with id ${subId}`)}}`)
          return this.attach(sub, opts, res, record)
        }
        const s = toStatement(parsed!.value)
        if (!s) return reject422(noVariant(body.trimEnd().length))
        return this.subscribe(s, opts, res, record)
      }
      case 'updates': {
        const table = route.id!
        const t = this.schema.get(table)
        if (!t) return send(400, {}, `{"error":${JSON.stringify(`table not found in schema: ${table}`)}}`)
        let handle = this.updates.get(table)
        if (!handle) {
          handle = {id: crypto.randomUUID(), listeners: new Set()}
          this.updates.set(table, handle)
        }
        record.status = 200
        res.writeHead(200, {'corro-query-id': handle.id})
        const listener = this.stream(res)
        handle.listeners.add(listener)
        res.on('close', () => handle!.listeners.delete(listener))
        return
      }
      case 'health':
        return this.health(query, send)
      case 'table-stats': {
        const v = parsed!.value as {tables?: JsonValue}
        if (typeof v !== 'object' || v === null || Array.isArray(v) || !Array.isArray(v.tables) || !v.tables.every((t) => typeof t === 'string')) {
          return reject422(`missing field \`tables\` at ${position(body, body.trimEnd().length)}`)
        }
        try {
          const known = new Set(this.db!.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table'`).pluck().all() as string[])
          let total = 0n
          const invalid: string[] = []
          for (const t of v.tables as string[]) {
            if (!known.has(t)) {
              invalid.push(t)
              continue
            }
            total += this.db!.prepare(`SELECT COUNT(*) FROM ${quoteIdent(t)}`).pluck().get() as bigint
          }
          return send(200, JSON_CT, `{"total_row_count":${total},"invalid_tables":${JSON.stringify(invalid)}}`)
        } catch {
          return send(500, JSON_CT, '{"total_row_count":0,"invalid_tables":[]}')
        }
      }
      case 'migrations': {
        const v = parsed!.value
        if (!Array.isArray(v)) return reject422(`invalid type: ${jsonType(v)}, expected a sequence at ${position(body, 1)}`)
        const bad = v.findIndex((x) => typeof x !== 'string')
        if (bad !== -1) return reject422(`[${bad}]: invalid type: ${jsonType(v[bad]!)}, expected a string at ${position(body, parsed!.elementEnds[bad]!)}`)
        const tail = `"version":null,"actor_id":${JSON.stringify(this.actorId)}`
        if (v.length === 0) return send(400, JSON_CT, `{"results":[{"error":"at least 1 statement is required"}],"time":0.0,${tail}}`)
        const started = process.hrtime.bigint()
        const r = this.applySchemaScripts(v as string[])
        if (!r.ok) return send(500, JSON_CT, `{"results":[{"error":${JSON.stringify(r.error)}}],"time":0.0,${tail}}`)
        return send(200, JSON_CT, `{"results":[],"time":${toJson(Number(process.hrtime.bigint() - started) / 1e9)},${tail}}`)
      }
    }
  }

  private route(method: string, pathname: string): {name: string; id?: string} | 'not-found' | 'method' {
    const table: [RegExp, string, string][] = [
      [/^\/v1\/transactions$/, 'POST', 'transactions'],
      [/^\/v1\/queries$/, 'POST', 'queries'],
      [/^\/v1\/subscriptions$/, 'POST', 'sub-post'],
      [/^\/v1\/subscriptions\/([^/]+)$/, 'GET', 'sub-get'],
      [/^\/v1\/updates\/([^/]+)$/, 'POST', 'updates'],
      [/^\/v1\/health$/, 'GET', 'health'],
      [/^\/v1\/table_stats$/, 'POST', 'table-stats'],
      [/^\/v1\/migrations$/, 'POST', 'migrations'],
    ]
    for (const [re, m, name] of table) {
      const match = re.exec(pathname)
      if (!match) continue
      if (name === 'migrations' && !this.migrationsEnabled) return 'not-found'
      if (method !== m) return 'method'
      return {name, ...(match[1] !== undefined ? {id: decodeURIComponent(match[1])} : {})}
    }
    return 'not-found'
  }

  // ---- SQL execution --------------------------------------------------------------------------

  private prepare(sql: string): Database.Statement {
    const parts = statements(sql)
    if (parts.length > 1) throw new SqlFailure('Multiple statements provided', 'prepare')
    try {
      const stmt = this.db!.prepare(parts[0]?.text ?? sql)
      return stmt
    } catch (error) {
      const message = (error as Error).message
      const offset = locate(message, sql)
      throw new SqlFailure(offset >= 0 ? `${message} in ${sql} at offset ${offset}` : message, 'prepare')
    }
  }

  /** Positional or named values for better-sqlite3, after rusqlite's checks. */
  private bindArgs(s: ParsedStatement, forSubscription = false): BindValue[] | [Record<string, BindValue>] {
    const info = paramInfo(s.sql)
    if (s.named) {
      const values: Record<string, BindValue> = {}
      for (const name of info.names) values[name.slice(1)] = null
      for (const [key, v] of s.named) {
        if (!info.names.includes(key)) {
          if (forSubscription) continue
          throw new SqlFailure(`Invalid parameter name: ${key}`, 'bind')
        }
        values[key.slice(1)] = bindValue(v)
      }
      return info.names.length === 0 ? [] : [values]
    }
    const positional = s.positional ?? []
    if (forSubscription) {
      // pubsub.rs expanded_statement: raw_bind_parameter(i + 1, …) per value; missing ones stay NULL.
      if (positional.length > info.count) throw new SqlFailure('column index out of range', 'bind')
    } else if (positional.length !== info.count) {
      // rusqlite bind_parameters stops counting one past the expected number.
      throw new SqlFailure(`Wrong number of parameters passed to query. Got ${Math.min(positional.length, info.count + 1)}, needed ${info.count}`, 'bind')
    }
    if (info.names.length > 0) {
      const values: Record<string, BindValue> = {}
      info.names.forEach((n, i) => {
        values[n.slice(1)] = bindValue(positional[i])
      })
      return [values]
    }
    return positional.map(bindValue)
  }

  /** Runs a batch all-or-nothing; on success, replicates and feeds subscriptions. */
  private runTransaction(stmts: ParsedStatement[]): {results: {rowsAffected: number; secs: number}[]; version: number | null} | {error: string} {
    const db = this.db!
    db.exec('BEGIN IMMEDIATE')
    const results: {rowsAffected: number; secs: number}[] = []
    let changed: LoggedChange[]
    let rowsOf: RowChange[] = []
    try {
      for (const s of stmts) {
        const started = process.hrtime.bigint()
        const stmt = this.prepare(s.sql)
        const args = this.bindArgs(s)
        let rowsAffected = 0
        try {
          if (stmt.reader) {
            if (stmt.get(...args) !== undefined) throw new SqlFailure('Execute returned results - did you mean to call query?', 'step')
          } else rowsAffected = stmt.run(...args).changes
        } catch (error) {
          if (error instanceof SqlFailure) throw error
          throw new SqlFailure((error as Error).message, 'step')
        }
        results.push({rowsAffected, secs: Number(process.hrtime.bigint() - started) / 1e9})
      }
      changed = this.drainChanges()
      rowsOf = recordLocal(db, this.schema, changed, this.actorId)
    } catch (error) {
      db.exec('ROLLBACK')
      const message = error instanceof SqlFailure ? error.message : (error as Error).message
      return {error: `rusqlite: ${message} (actor_id: None, version: None)`}
    }
    let version: number | null = null
    if (changed.length > 0) version = this.bumpVersion()
    db.exec('COMMIT')
    if (rowsOf.length > 0) {
      this.afterCommit(changed)
      this.cluster?.broadcast(this, {origin: this.actorId, ts: Date.now(), changes: rowsOf})
    }
    return {results, version}
  }

  private bumpVersion(): number {
    const next = Number(this.meta('db_version') ?? '0') + 1
    this.setMeta('db_version', BigInt(next))
    return next
  }

  /** The changes the triggers logged since the last call, in order. */
  private drainChanges(): LoggedChange[] {
    const rows = this.db!.prepare(`SELECT tbl, pk, col, kind FROM ${CHANGES_TABLE} ORDER BY seq`).all() as LoggedChange[]
    this.db!.exec(`DELETE FROM ${CHANGES_TABLE}`)
    return rows
  }

  /** Applies another agent's committed changes (called by the cluster after its delay) with cr-sqlite's merge rules. */
  applyRemote(changeset: Changeset): void {
    if (!this.isRunning) {
      this.pending.push(changeset)
      return
    }
    const db = this.db!
    db.exec('BEGIN IMMEDIATE')
    let changed: LoggedChange[] = []
    try {
      for (const change of changeset.changes) mergeRemote(db, this.schema, change)
      changed = this.drainChanges()
      if (changed.length > 0) this.bumpVersion()
      db.exec('COMMIT')
    } catch (error) {
      db.exec('ROLLBACK')
      this.log(`could not apply changes from ${changeset.origin}: ${(error as Error).message}`)
      return
    }
    this.lagSamples.push({at: Date.now(), secs: Math.max(0, Date.now() - changeset.ts) / 1000})
    if (changed.length > 0) this.afterCommit(changed)
  }

  private afterCommit(changes: LoggedChange[]): void {
    for (const sub of this.subs.values()) {
      const pks = changes.filter((c) => c.tbl === sub.table).map((c) => c.pk)
      if (pks.length === 0) continue
      if (this.options.subscriptionTickMs === 0) {
        this.match(sub)
        continue
      }
      const pending = this.candidates.get(sub) ?? new Set<string>()
      for (const pk of pks) pending.add(pk)
      this.candidates.set(sub, pending)
      // pubsub.rs cmd_loop: PROCESS_CHANGES_THRESHOLD candidates are processed without waiting.
      if (pending.size >= 1000) {
        this.candidates.delete(sub)
        this.match(sub)
      }
    }
    // updates.rs: one notification per changed row, "delete" when it is gone (an even causal length).
    const rows = new Map(changes.map((c) => [`${c.tbl}\u0000${c.pk}`, c]))
    for (const change of rows.values()) {
      const handle = this.updates.get(change.tbl)
      const table = this.schema.get(change.tbl)
      if (!handle || !table) continue
      const where = table.pk.map((p, i) => `${quoteIdent(p)} = json_extract(?, '$[${i}]')`).join(' AND ')
      const exists = this.db!.prepare(`SELECT 1 FROM ${quoteIdent(change.tbl)} WHERE ${where}`).get(...table.pk.map(() => change.pk)) !== undefined
      const line = `{"notify":[${exists ? '"update"' : '"delete"'},${toJson(parseJson(change.pk).value)}]}`
      for (const l of handle.listeners) l.push(line)
    }
  }

  private query(s: ParsedStatement, res: http.ServerResponse, record: RecordedRequest): void {
    const fail = (status: number, message: string) => {
      record.status = status
      res.writeHead(status)
      res.end(`{"error":${JSON.stringify(message)}}`)
    }
    let stmt: Database.Statement
    let args: ReturnType<EmulatorAgent['bindArgs']>
    try {
      stmt = this.prepare(s.sql)
    } catch (error) {
      return fail(400, (error as SqlFailure).message)
    }
    if (!stmt.readonly) return fail(400, 'statement is not readonly')
    try {
      args = this.bindArgs(s)
    } catch (error) {
      return fail(500, (error as Error).message)
    }
    const started = process.hrtime.bigint()
    let iterator: IterableIterator<unknown[]>
    let columns: string[]
    try {
      columns = stmt.reader ? stmt.columns().map((c) => c.name) : []
      iterator = (stmt.reader ? stmt.raw(true).iterate(...args) : [][Symbol.iterator]()) as IterableIterator<unknown[]>
    } catch (error) {
      return fail(500, (error as Error).message)
    }
    const eoqTime = Number(process.hrtime.bigint() - started) / 1e9
    record.status = 200
    res.writeHead(200)
    const out = this.stream(res)
    out.push(`{"columns":${JSON.stringify(columns)}}`)
    try {
      let rowid = 0
      for (const row of iterator) out.push(`{"row":[${++rowid},${toJson(row)}]}`)
    } catch (error) {
      out.push(`{"error":${JSON.stringify((error as Error).message)}}`)
      out.end()
      return
    }
    out.push(`{"eoq":{"time":${toJson(eoqTime)}}}`)
    out.end()
  }

  /** A coalescing NDJSON writer: events are buffered and flushed together, sometimes split mid-line; hold() keeps a subscription's. */
  private stream(res: http.ServerResponse, isSubscription = false): Listener {
    // The agent's headers go out as soon as the handler returns, before any event.
    res.flushHeaders()
    this.openStreams.add(res)
    res.on('close', () => this.openStreams.delete(res))
    let buffer = ''
    let timer: NodeJS.Timeout | undefined
    let flushes = 0
    let isEnding = false
    const flush = () => {
      timer = undefined
      if (res.destroyed) return
      if (buffer !== '') {
        const bytes = Buffer.from(buffer, 'utf8')
        buffer = ''
        flushes++
        if (this.options.splitChunks && flushes % 2 === 0 && bytes.length > 8) {
          const mid = Math.floor(bytes.length / 2)
          res.write(bytes.subarray(0, mid))
          res.write(bytes.subarray(mid))
        } else res.write(bytes)
      }
      if (isEnding) res.end()
    }
    const arm = () => {
      if (this.isHeld && isSubscription) this.heldFlushes.add(arm)
      else timer ??= setTimeout(flush, this.options.flushDelayMs)
    }
    res.on('close', () => this.heldFlushes.delete(arm))
    return {
      push: (line: string) => {
        buffer += `${line}\n`
        arm()
      },
      end: () => {
        isEnding = true
        arm()
      },
    }
  }

  // ---- subscriptions --------------------------------------------------------------------------

  private openSubscriptionStore(): void {
    this.subsDb = new Database(path.join(this.subscriptionsPath, 'subscriptions.db'))
    this.subsDb.pragma('journal_mode = WAL')
    this.subsDb.exec(`CREATE TABLE IF NOT EXISTS subs (id TEXT PRIMARY KEY, sql TEXT NOT NULL, hash TEXT NOT NULL, columns TEXT NOT NULL, next_rowid INTEGER NOT NULL, last_change_id INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS sub_rows (sub_id TEXT NOT NULL, pk TEXT NOT NULL, rowid_ INTEGER NOT NULL, cells TEXT NOT NULL, PRIMARY KEY (sub_id, pk));
      CREATE TABLE IF NOT EXISTS sub_changes (sub_id TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL, rowid_ INTEGER NOT NULL, cells TEXT NOT NULL, PRIMARY KEY (sub_id, id));`)
  }

  private restoreSubscriptions(): void {
    const db = this.subsDb!
    const rows = db.prepare('SELECT id, sql, hash, columns, next_rowid, last_change_id FROM subs').all() as {
      id: string
      sql: string
      hash: string
      columns: string
      next_rowid: number
      last_change_id: number
    }[]
    for (const r of rows) {
      const fixed = this.fixedQuery(r.sql)
      const columns = JSON.parse(r.columns) as string[]
      if ('error' in fixed || fixed.columns.join('\n') !== columns.join('\n')) {
        // The agent re-parses the SQL against today's schema on restore; a `*` that now expands to
        // other columns no longer fits the subscription's stored `query` table, the restore fails
        // and the subscription is cleaned up (a resume then gets 404).
        this.log(`could not restore subscription ${r.id}: ${'error' in fixed ? fixed.error : 'its columns changed'}`)
        this.deleteSubscription(r.id)
        continue
      }
      const sub: Sub = {
        id: r.id,
        sql: r.sql,
        hash: r.hash,
        table: fixed.table,
        query: fixed.query,
        pkCount: fixed.pkCount,
        columns,
        rows: new Map(),
        nextRowid: r.next_rowid,
        lastChangeId: r.last_change_id,
        listeners: new Set(),
      }
      for (const row of db.prepare('SELECT pk, rowid_, cells FROM sub_rows WHERE sub_id = ?').all(r.id) as {pk: string; rowid_: number; cells: string}[]) {
        sub.rows.set(row.pk, {rowid: row.rowid_, cells: row.cells})
      }
      this.subs.set(sub.id, sub)
      this.subsBySql.set(sub.sql, sub.id)
      // Catch up with anything the DB gained while the matcher was not running.
      this.match(sub)
    }
  }

  /**
   * A subscription's SQL as the matcher runs it: `*` expanded into the table's columns of now,
   * the primary key prepended. A string is the refusal text (400).
   */
  private fixedQuery(sql: string): {table: string; query: string; columns: string[]; pkCount: number} | {error: string} {
    const shape = selectShape(sql)
    if ('error' in shape) return shape
    const table = this.schema.get(shape.table)
    if (!table) return {error: `table not found in schema: ${shape.table}`}
    try {
      this.prepare(sql) // the agent's prepare errors, with the SQL as it was sent
    } catch (error) {
      return {error: (error as Error).message}
    }
    const live = (this.db!.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(shape.table) as string[]).map(String)
    const fixed = {...shape, columnsText: ` ${expandStars(shape.columnsText, shape.qualifier, live).trim()} `}
    try {
      const columns = this.db!.prepare(`SELECT${fixed.columnsText}${fixed.fromText}`).columns().map((c) => c.name)
      const query = augmented(fixed, table.pk)
      this.db!.prepare(query)
      return {table: shape.table, query, columns, pkCount: table.pk.length}
    } catch (error) {
      return {error: (error as Error).message}
    }
  }

  private deleteSubscription(id: string): void {
    const db = this.subsDb!
    db.prepare('DELETE FROM subs WHERE id = ?').run(id)
    db.prepare('DELETE FROM sub_rows WHERE sub_id = ?').run(id)
    db.prepare('DELETE FROM sub_changes WHERE sub_id = ?').run(id)
  }

  private subscribe(s: ParsedStatement, opts: {from?: number; skipRows: boolean}, res: http.ServerResponse, record: RecordedRequest): void {
    const fail = (status: number, message: string) => {
      record.status = status
      res.writeHead(status)
      res.end(`{"error":${JSON.stringify(message)}}`)
    }
    let sql: string
    try {
      const args = this.bindArgs(s, true)
      const first = args[0]
      const named = new Map<string, unknown>()
      if (first && typeof first === 'object' && !Buffer.isBuffer(first)) {
        for (const n of paramInfo(s.sql).names) named.set(n, (first as Record<string, unknown>)[n.slice(1)])
      }
      sql = expand(s.sql, named.size > 0 ? [] : (args as unknown[]), named)
    } catch (error) {
      return fail(400, (error as Error).message)
    }
    const existing = this.subsBySql.get(sql)
    if (existing) return this.attach(this.subs.get(existing)!, opts, res, record)
    // The agent creates the matcher first (its SQL errors win), then upsert_sub refuses `from`.
    const toks = meaningful(lex(sql))
    if (!kw(toks[0], 'SELECT')) return fail(400, 'unsupported statement')
    const fixed = this.fixedQuery(sql)
    if ('error' in fixed) return fail(400, fixed.error)
    if (opts.from !== undefined) return fail(400, 'a `from` query param was supplied, but no existing subscription found')
    const sub: Sub = {
      id: crypto.randomUUID(),
      sql,
      hash: crypto.createHash('sha256').update(sql).digest('hex').slice(0, 16),
      table: fixed.table,
      query: fixed.query,
      pkCount: fixed.pkCount,
      columns: fixed.columns,
      rows: new Map(),
      nextRowid: 1,
      lastChangeId: 0,
      listeners: new Set(),
    }
    const db = this.subsDb!
    for (const row of this.runSubQuery(sub)) {
      sub.rows.set(row.pk, {rowid: sub.nextRowid++, cells: row.cells})
    }
    db.transaction(() => {
      db.prepare('INSERT INTO subs (id, sql, hash, columns, next_rowid, last_change_id) VALUES (?, ?, ?, ?, ?, 0)').run(sub.id, sub.sql, sub.hash, JSON.stringify(sub.columns), sub.nextRowid)
      const insert = db.prepare('INSERT INTO sub_rows (sub_id, pk, rowid_, cells) VALUES (?, ?, ?, ?)')
      for (const [pk, r] of sub.rows) insert.run(sub.id, pk, r.rowid, r.cells)
    })()
    this.subs.set(sub.id, sub)
    this.subsBySql.set(sql, sub.id)
    this.attach(sub, {skipRows: opts.skipRows}, res, record)
  }

  /** Streams an existing subscription per §4.1/§4.2 and keeps the response as a live listener. */
  private attach(sub: Sub, opts: {from?: number; skipRows: boolean}, res: http.ServerResponse, record: RecordedRequest): void {
    record.status = 200
    res.writeHead(200, {'corro-query-id': sub.id, 'corro-query-hash': sub.hash})
    const out = this.stream(res, true)
    if (opts.from !== undefined && opts.from > 0) {
      const min = Number(this.subsDb!.prepare('SELECT COALESCE(MIN(id), 0) FROM sub_changes WHERE sub_id = ?').pluck().get(sub.id))
      if (opts.from + 1 < min) {
        out.push(`{"error":${JSON.stringify(`subscription already deleted older changes, min change id: ${min}`)}}`)
        out.end()
        return
      }
      const rows = this.subsDb!.prepare('SELECT id, type, rowid_, cells FROM sub_changes WHERE sub_id = ? AND id > ? ORDER BY id').all(sub.id, opts.from) as {
        id: number
        type: string
        rowid_: number
        cells: string
      }[]
      for (const c of rows) out.push(`{"change":[${JSON.stringify(c.type)},${c.rowid_},${c.cells},${c.id}]}`)
    } else if (!opts.skipRows) {
      const started = process.hrtime.bigint()
      out.push(`{"columns":${JSON.stringify(sub.columns)}}`)
      for (const r of [...sub.rows.values()].sort((a, b) => a.rowid - b.rowid)) out.push(`{"row":[${r.rowid},${r.cells}]}`)
      out.push(`{"eoq":{"time":${toJson(Number(process.hrtime.bigint() - started) / 1e9)},"change_id":${sub.lastChangeId}}}`)
    }
    sub.listeners.add(out)
    res.on('close', () => sub.listeners.delete(out))
  }

  /**
   * Holds the agent's subscription output: ticks wait and stream lines stay buffered until
   * release(). With tick() a test places a change event exactly where it wants it (for example,
   * released before a write but delivered after it).
   */
  hold(): void {
    this.isHeld = true
  }

  release(): void {
    this.isHeld = false
    const waiting = [...this.heldFlushes]
    this.heldFlushes.clear()
    for (const arm of waiting) arm()
  }

  /** The subscription tick, now: every subscription with waiting changes re-reads them, once. */
  tick(): void {
    this.runTick()
  }

  private runTick(): void {
    if (this.candidates.size === 0) return
    const due = [...this.candidates.keys()]
    this.candidates.clear()
    for (const sub of due) if (this.subs.get(sub.id) === sub) this.match(sub)
  }

  private runSubQuery(sub: Sub): {pk: string; cells: string}[] {
    const stmt = this.db!.prepare(sub.query)
    return (stmt.raw(true).all() as unknown[][]).map((row) => ({pk: toJson(row.slice(0, sub.pkCount)), cells: toJson(row.slice(sub.pkCount))}))
  }

  /** Re-runs a subscription's query and turns the difference into contiguous change events. */
  private match(sub: Sub): void {
    let current: {pk: string; cells: string}[]
    try {
      current = this.runSubQuery(sub)
    } catch (error) {
      this.log(`subscription ${sub.id} query failed: ${(error as Error).message}`)
      return
    }
    const seen = new Set<string>()
    const events: {type: string; rowid: number; cells: string; pk: string; isDelete: boolean}[] = []
    for (const row of current) {
      seen.add(row.pk)
      const before = sub.rows.get(row.pk)
      if (!before) events.push({type: 'insert', rowid: sub.nextRowid++, cells: row.cells, pk: row.pk, isDelete: false})
      else if (before.cells !== row.cells) events.push({type: 'update', rowid: before.rowid, cells: row.cells, pk: row.pk, isDelete: false})
    }
    for (const [pk, before] of sub.rows) if (!seen.has(pk)) events.push({type: 'delete', rowid: before.rowid, cells: before.cells, pk, isDelete: true})
    if (events.length === 0) return
    const db = this.subsDb!
    const lines: string[] = []
    db.transaction(() => {
      const insertChange = db.prepare('INSERT INTO sub_changes (sub_id, id, type, rowid_, cells) VALUES (?, ?, ?, ?, ?)')
      const upsertRow = db.prepare('INSERT INTO sub_rows (sub_id, pk, rowid_, cells) VALUES (?, ?, ?, ?) ON CONFLICT (sub_id, pk) DO UPDATE SET cells = excluded.cells, rowid_ = excluded.rowid_')
      const deleteRow = db.prepare('DELETE FROM sub_rows WHERE sub_id = ? AND pk = ?')
      for (const e of events) {
        const id = ++sub.lastChangeId
        insertChange.run(sub.id, id, e.type, e.rowid, e.cells)
        if (e.isDelete) {
          sub.rows.delete(e.pk)
          deleteRow.run(sub.id, e.pk)
        } else {
          sub.rows.set(e.pk, {rowid: e.rowid, cells: e.cells})
          upsertRow.run(sub.id, e.pk, e.rowid, e.cells)
        }
        lines.push(`{"change":[${JSON.stringify(e.type)},${e.rowid},${e.cells},${id}]}`)
      }
      db.prepare('UPDATE subs SET next_rowid = ?, last_change_id = ? WHERE id = ?').run(sub.nextRowid, sub.lastChangeId, sub.id)
    })()
    if (this.options.purgeIntervalMs === 0) this.purgeSubscriptionChanges()
    const at = Date.now()
    for (let id = sub.lastChangeId - lines.length + 1; id <= sub.lastChangeId; id++) this.emitted.push({at, subscription: sub.id, changeId: id})
    for (const l of sub.listeners) for (const line of lines) l.push(line)
  }

  // ---- health ---------------------------------------------------------------------------------

  private health(query: QueryValues, send: (status: number, headers: Record<string, string>, text?: string) => void): void {
    const num = (k: string) => (query[k] === undefined ? undefined : Number(query[k]))
    const [gaps, p99, maxQueue, queueSize, failure] = [num('gaps'), num('p99_lag'), num('max_queue'), num('queue_size'), num('failure_status')]
    const errorStatus = failure !== undefined && failure >= 100 && failure <= 999 ? failure : 503
    const window = Date.now() - this.options.lagWindowMs
    this.lagSamples = this.lagSamples.filter((s) => s.at >= window)
    if (this.lagSamples.length === 0) return send(errorStatus, JSON_CT, '{"error":"no p99 lag information available"}')
    const sorted = this.lagSamples.map((s) => s.secs).sort((a, b) => a - b)
    const p99Lag = sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!
    // check_health: the same two queries as the agent, over its own bookkeeping tables.
    const members = Number(this.db!.prepare(`SELECT COALESCE(COUNT(*), 0) FROM __corro_members WHERE json_extract(foca_state, '$.state') = 'Alive'`).pluck().get())
    const gapsNow = Number(this.db!.prepare('SELECT COALESCE(SUM(end - start + 1), 0) FROM __corro_bookkeeping_gaps').pluck().get())
    const queue = 0
    const isBad =
      (gaps !== undefined && gapsNow > gaps) ||
      (maxQueue !== undefined && queue > maxQueue) ||
      (p99 !== undefined && p99Lag > p99 && (queueSize === undefined || queue > queueSize))
    send(isBad ? errorStatus : 200, JSON_CT, `{"response":{"gaps":${gapsNow},"members":${members},"p99_lag":${toJson(p99Lag)},"queue_size":${queue}}}`)
  }

  // ---- admin socket ---------------------------------------------------------------------------

  private async startAdmin(socketPath: string): Promise<void> {
    fs.mkdirSync(path.dirname(socketPath), {recursive: true})
    fs.rmSync(socketPath, {force: true})
    const server = net.createServer((socket) => {
      let buffer: Buffer = Buffer.alloc(0)
      socket.on('error', () => {})
      const frame = (value: unknown) => {
        const json = Buffer.from(JSON.stringify(value))
        const header = Buffer.alloc(4)
        header.writeUInt32BE(json.length)
        socket.write(Buffer.concat([header, json]))
      }
      const log = (msg: string) => {
        const now = new Date()
        const start = Date.UTC(now.getUTCFullYear(), 0, 0)
        const ordinal = Math.floor((now.getTime() - start) / 86_400_000)
        // corro-admin LogLevel is #[serde(rename_all = "snake_case")]: "info", not "Info".
        frame({Log: {level: 'info', msg, ts: [now.getUTCFullYear(), ordinal, now.getUTCHours(), now.getUTCMinutes(), now.getUTCSeconds(), 0, 0, 0, 0]}})
      }
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk])
        while (buffer.length >= 4) {
          const length = buffer.readUInt32BE(0)
          if (buffer.length < 4 + length) return
          const text = buffer.subarray(4, 4 + length).toString('utf8')
          buffer = buffer.subarray(4 + length)
          let command: unknown
          try {
            command = JSON.parse(text)
          } catch {
            socket.destroy()
            return
          }
          if (command === 'Ping') frame('Success')
          else if (command === 'Reload') {
            log('reloading schema from configured paths...')
            const r = this.reload()
            if (r.ok) {
              log('schema reload finished')
              frame('Success')
            } else frame({Error: {msg: r.error}})
          } else {
            // serde cannot decode an unknown command: the agent drops the connection.
            socket.destroy()
            return
          }
        }
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(socketPath, () => resolve())
    })
    this.adminServer = server
  }
}

function augmented(shape: {qualifier: string; columnsText: string; fromText: string}, pk: string[]): string {
  const q = quoteIdent(shape.qualifier)
  return `SELECT ${pk.map((p) => `${q}.${quoteIdent(p)}`).join(', ')}, ${shape.columnsText.trim()} ${shape.fromText}`
}

function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false
  const mime = value.split(';')[0]!.trim().toLowerCase()
  return mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'))
}

function jsonType(v: JsonValue): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'sequence'
  if (typeof v === 'object') return 'map'
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`
  if (typeof v === 'boolean') return `boolean \`${v}\``
  if (typeof v === 'bigint') return `integer \`${v}\``
  return `floating point \`${v}\``
}

export function splitHostPort(addr: string): [string, number] {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr)
  if (!m) throw new Error(`address ${JSON.stringify(addr)} is not host:port`)
  return [m[1]!, Number(m[2])]
}
