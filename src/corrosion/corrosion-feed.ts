// The routing feed of `edgeproxy start` in Corrosion mode: the backends subscription, keyed by rowid,
// handed whole to the engine once per burst; /v1/queries polling while the subscription is down; the
// last good table while the agent is unreachable, kept on disk too so a restart without the agent
// still routes. It subscribes to the project's columns by name (never `*`: the agent fixes a `*` at
// creation) and follows the agent's schema as it gains them. It knows the backends table, not the proxy.
import type {Backend} from '../balancer/backend.js'
import {errorMessage, isEdgeproxyError} from '../errors.js'
import type {Logger} from '../log/logger.js'
import type {FeedStatus, RoutingFeed} from '../store/routing-feed.js'
import {BACKEND_COLUMNS, BACKEND_COLUMN_NAMES, BACKENDS_TABLE, columnDefault, rowsToBackends, type BackendRow} from '../store/schema.js'
import type {CorrosionClient} from './client.js'
import {CorrosionProtocolError, CorrosionSqlError, CorrosionUnavailableError} from './errors.js'
import type {SqliteValue} from './ndjson.js'
import {loadRoutingState, RoutingStateWriter, type SavedTable} from './routing-state-file.js'
import {normalizeSql} from './sql-lexer.js'
import type {Subscription, SubscriptionOptions, SubscriptionStatus} from './subscription.js'

/**
 * The feed's SQL for a set of columns. The agent expands `SELECT *` when it creates a subscription
 * and keeps serving those columns to every later subscriber of the same text until it restarts
 * (pubsub.rs), so a column added by `init-schema` would never reach a running POP. Naming the
 * columns makes a new column a new SQL text, hence a new subscription.
 */
export function backendsSelectSql(columns: readonly string[]): string {
  return normalizeSql(`SELECT ${columns.join(', ')} FROM ${BACKENDS_TABLE}`)
}

export const BACKENDS_SUBSCRIPTION_SQL = backendsSelectSql(BACKEND_COLUMN_NAMES)

export interface CorrosionFeedOptions {
  client: CorrosionClient
  logger: Logger
  /** Polling interval of /v1/queries while the subscription is not connected. */
  pollMs: number
  /** How long start() waits for a first table from the agent (default 10 s); then the saved table, or a failure. */
  initialTimeoutMs?: number
  /** Where the last good table is kept (EDGEPROXY_CORROSION_STATE_FILE); none: nothing saved or loaded. */
  stateFile?: string
  /** Fewest ms between two writes of the state file (default 1000). */
  stateWriteIntervalMs?: number
  /** How often the agent's columns are re-read while it lacks some of ours (default 2 s). */
  schemaCheckMs?: number
  subscription?: SubscriptionOptions
  now?: () => number
}

/** `saved`: the state file, read at start because the agent did not answer in time. */
type Source = 'subscription' | 'poll' | 'saved'

const MIN_EMIT_INTERVAL_MS = 25
/** A refused column means the agent's table is older than ours: read its columns again. */
const MISSING_COLUMN = /no such column/i
const DEFAULTS = new Map(BACKEND_COLUMNS.map((c) => [c.name, columnDefault(c)]))

/** A row by column name; a project column the agent lacks gets its DEFAULT, as SQLite would give it. */
function toRow(columns: readonly string[], cells: readonly SqliteValue[]): BackendRow {
  const row: BackendRow = {}
  for (const [name, value] of DEFAULTS) row[name] = value
  columns.forEach((c, i) => {
    row[c] = cells[i] ?? null
  })
  return row
}

export class CorrosionFeed implements RoutingFeed {
  readonly kind = 'corrosion' as const
  private subscription?: Subscription
  /** The subscription whose snapshot the table comes from (the newest one, once it has a snapshot). */
  private shown?: Subscription
  /** Columns the current subscription and polls ask for: ours that the agent's table has. */
  private columns: readonly string[] = BACKEND_COLUMN_NAMES
  /** Ours that the agent's table lacks (an `init-schema` not yet run there). */
  private missingColumns: string[] = []
  private schemaTimer?: NodeJS.Timeout
  private isCheckingColumns = false
  private onChange?: (backends: Backend[]) => void
  private pollTimer?: NodeJS.Timeout
  private isPolling = false
  private isClosed = false
  private emitScheduled?: NodeJS.Timeout
  private lastFlushAt = -Infinity
  /** When the oldest event not yet in the routing table arrived (performance.now()). */
  private pendingSince?: number
  private source?: Source
  private pollRows: BackendRow[] = []
  private current: Backend[] = []
  private lastEmitted = ''
  private lastProblems = ''
  private lastSyncAtMs = 0
  private lastError?: string
  private hasTable = false
  private firstTable?: {resolve: () => void}
  private saved?: SavedTable
  private stateWriter?: RoutingStateWriter
  private hasSaidWaiting = false
  private readonly client: CorrosionClient
  private readonly logger: Logger
  private readonly pollMs: number
  private readonly initialTimeoutMs: number
  private readonly schemaCheckMs: number
  private readonly now: () => number

  constructor(private readonly options: CorrosionFeedOptions) {
    this.client = options.client
    this.logger = options.logger
    this.pollMs = options.pollMs
    this.initialTimeoutMs = options.initialTimeoutMs ?? 10_000
    this.schemaCheckMs = options.schemaCheckMs ?? 2000
    this.now = options.now ?? Date.now
    if (options.stateFile) {
      this.stateWriter = new RoutingStateWriter({
        file: options.stateFile,
        source: this.describe(),
        minIntervalMs: options.stateWriteIntervalMs,
        now: this.now,
        onError: (error) => this.logger.warn('corrosion_state_write_failed', `cannot save the routing table to ${options.stateFile}: ${errorMessage(error)}`, {file: options.stateFile}),
        onWritten: () => this.logger.debug('corrosion_state_saved', 'routing table saved', {file: options.stateFile, backends: this.current.length}),
      })
    }
  }

  describe(): string {
    return `corrosion:${this.client.url}`
  }

  /** Project columns the agent's backends table lacks, as last read (empty when current). */
  lacksColumns(): readonly string[] {
    return this.missingColumns
  }

  async start(onChange: (backends: Backend[]) => void): Promise<Backend[]> {
    const gotTable = new Promise<void>((resolve) => {
      this.firstTable = {resolve}
    })
    this.subscription = this.subscribe(this.columns)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.initialTimeoutMs)
    })
    const outcome = await Promise.race([gotTable.then(() => 'table' as const), timeout])
    clearTimeout(timer)
    if (outcome === 'timeout') {
      const error = this.subscription.error()
      const {table, problem} = this.options.stateFile ? loadRoutingState(this.options.stateFile) : {problem: 'no state file configured'}
      if (!table) {
        await this.close()
        throw this.startFailure(error, problem!)
      }
      this.routeOnSaved(table)
    }
    this.flush()
    this.onChange = onChange
    return this.current
  }

  /** Why start() gives up, in one message: what the agent did, how long start waited, and the state file. */
  private startFailure(error: Error | undefined, problem: string): Error {
    const waited = `within ${this.initialTimeoutMs / 1000} s (EDGEPROXY_CORROSION_STARTUP_WAIT_SECS), and ${problem}`
    if (error instanceof CorrosionUnavailableError) {
      const failure = new CorrosionUnavailableError(this.client.url, {
        suggestion: 'start the agent (systemctl start corrosion) or pass --corrosion-url; once a POP has run on its agent, it keeps the table it saved for such a start',
        cause: error,
      })
      failure.message = `cannot reach Corrosion at ${this.client.url} ${waited}`
      return failure
    }
    if (error && isEdgeproxyError(error)) {
      error.message = `${error.message} (${waited})`
      return error
    }
    return new CorrosionProtocolError(`no backends table from Corrosion at ${this.client.url} ${waited}`, {
      suggestion: 'run `edgeproxy corrosion status` and `edgeproxy corrosion init-schema`',
      cause: error,
    })
  }

  /** The agent did not answer in time: route on the table saved by an earlier run, marked stale. */
  private routeOnSaved(table: SavedTable): void {
    this.saved = table
    this.source = 'saved'
    this.lastSyncAtMs = table.savedAtMs
    this.lastError = this.staleReason()
    this.logger.warn('corrosion_routing_on_saved_table', `${this.lastError}; following the agent as soon as it answers`, {
      file: this.options.stateFile,
      rows: table.rows.length,
      saved_age_secs: Math.round((this.now() - table.savedAtMs) / 1000),
      store: this.describe(),
    })
  }

  private staleReason(): string {
    const age = Math.round((this.now() - this.saved!.savedAtMs) / 1000)
    return `the agent at ${this.client.url} has not answered since start: routing on the table saved ${age} s ago in ${this.options.stateFile} (stale)`
  }

  refresh(): void {
    if (this.isClosed) return
    if (this.subscription?.status() === 'connected') this.subscription.resync()
    else void this.poll()
    void this.checkColumns()
  }

  status(): FeedStatus {
    const isSaved = this.source === 'saved'
    const isCurrent = this.lastError === undefined && this.hasTable && !isSaved
    const error = isSaved ? this.staleReason() : this.lastError
    return {
      kind: 'corrosion',
      target: this.describe(),
      isCurrent,
      lastSyncAtMs: this.subscription?.status() === 'connected' && !isSaved ? this.now() : this.lastSyncAtMs,
      ...(error ? {error} : {}),
      ...(this.subscription ? {subscription: this.subscription.status()} : {}),
    }
  }

  async close(): Promise<void> {
    this.isClosed = true
    this.stopPolling()
    if (this.emitScheduled) clearTimeout(this.emitScheduled)
    if (this.schemaTimer) clearInterval(this.schemaTimer)
    await this.subscription?.close()
    await this.stateWriter?.close()
  }

  // ---- sources --------------------------------------------------------------------------------

  private subscribe(columns: readonly string[]): Subscription {
    const requested = [...columns]
    const sub: Subscription = this.client.subscribe(
      backendsSelectSql(requested),
      {
        snapshot: (s) => {
          if (sub !== this.subscription) return
          const isFirst = this.source === undefined
          if (s.columns.join(',') !== requested.join(',')) {
            // The agent serves the columns it fixed for this SQL text; map by name and look again.
            this.logger.warn('corrosion_columns_unexpected', `the subscription serves columns ${s.columns.join(', ')}, not the ${requested.join(', ')} asked for`, {
              subscription: sub.id,
            })
            void this.checkColumns()
          }
          this.shown = sub
          this.useSubscription()
          this.logger.info(s.isResync ? 'corrosion_resynced' : 'corrosion_subscribed', s.isResync ? 'backends table re-read from a fresh snapshot' : 'subscribed to the backends table', {
            rows: s.rows.size,
            change_id: s.changeId,
            subscription: sub.id,
            columns: requested.length,
            first: isFirst,
          })
        },
        change: () => {
          if (sub === this.subscription && this.shown === sub) this.useSubscription()
        },
        status: (status, error) => {
          if (sub === this.subscription) this.onStatus(status, error)
        },
      },
      // The agent is local: after an outage, retry at least every second so a recovered agent is
      // used at once rather than after a long backoff.
      {retryRejected: true, maxBackoffMs: 1000, ...this.options.subscription},
    )
    return sub
  }

  private useSubscription(): void {
    this.pendingSince ??= performance.now()
    this.source = 'subscription'
    this.lastSyncAtMs = this.now()
    this.stopPolling()
    this.recovered()
    this.scheduleEmit()
  }

  private onStatus(status: SubscriptionStatus, error?: Error): void {
    if (this.isClosed) return
    if (status === 'connected') {
      this.stopPolling()
      this.recovered()
      return
    }
    if (error instanceof CorrosionSqlError && MISSING_COLUMN.test(error.agentMessage)) void this.checkColumns()
    if (status === 'down' || status === 'failed') {
      if (error) this.failed(error)
      this.startPolling()
    } else if (status === 'resyncing' && this.pollTimer) {
      // The agent answers again (it lost the subscription, or ended the stream): read the table
      // now instead of at the next poll interval.
      void this.poll()
    }
  }

  private startPolling(): void {
    if (this.pollTimer || this.isClosed) return
    this.logger.warn('corrosion_polling', `subscription down; polling /v1/queries every ${this.pollMs} ms`, {target: this.describe()})
    this.pollTimer = setInterval(() => void this.poll(), this.pollMs)
    this.pollTimer.unref()
    void this.poll()
  }

  private stopPolling(): void {
    if (!this.pollTimer) return
    clearInterval(this.pollTimer)
    this.pollTimer = undefined
  }

  private async poll(): Promise<void> {
    if (this.isPolling || this.isClosed) return
    this.isPolling = true
    try {
      const objects = await this.client.queryObjects(backendsSelectSql(this.columns))
      if (this.isClosed || this.subscription?.status() === 'connected') return
      this.pollRows = objects.map((o) => toRow(Object.keys(o), Object.values(o)))
      this.source = 'poll'
      this.lastSyncAtMs = this.now()
      this.recovered()
      this.scheduleEmit()
      // The agent answers: the subscription need not wait out its backoff.
      this.subscription?.retryNow()
    } catch (error) {
      if (this.isClosed) return
      if (error instanceof CorrosionSqlError && MISSING_COLUMN.test(error.agentMessage)) void this.checkColumns()
      this.failed(error)
    } finally {
      this.isPolling = false
    }
  }

  // ---- the agent's columns ----------------------------------------------------------------------

  /**
   * Reads which of our columns the agent's table has. Fewer than before (an agent whose schema is
   * older than this edgeproxy) or more than before (`init-schema` ran) → a subscription to exactly
   * those, under its new SQL text. While some are missing, this runs every schemaCheckMs.
   */
  private async checkColumns(): Promise<void> {
    if (this.isCheckingColumns || this.isClosed) return
    this.isCheckingColumns = true
    try {
      const rows = await this.client.queryObjects(['SELECT name FROM pragma_table_info(?)', [BACKENDS_TABLE]])
      if (this.isClosed) return
      const present = new Set(rows.map((r) => String(r.name)))
      if (present.size === 0) return // no table at all: the subscription's error says so
      const columns = BACKEND_COLUMN_NAMES.filter((c) => present.has(c))
      const missing = BACKEND_COLUMN_NAMES.filter((c) => !present.has(c))
      if (missing.join(',') !== this.missingColumns.join(',')) {
        if (missing.length > 0) {
          this.logger.warn('corrosion_schema_behind', `the agent's ${BACKENDS_TABLE} table lacks column(s) ${missing.join(', ')}: they read as their defaults until \`edgeproxy corrosion init-schema\` adds them`, {
            store: this.describe(),
            missing: missing.join(','),
          })
        } else {
          this.logger.info('corrosion_schema_current', `the agent's ${BACKENDS_TABLE} table has every column`, {store: this.describe()})
        }
      }
      this.missingColumns = missing
      if (missing.length > 0 && !this.schemaTimer) {
        this.schemaTimer = setInterval(() => void this.checkColumns(), this.schemaCheckMs)
        this.schemaTimer.unref()
      } else if (missing.length === 0 && this.schemaTimer) {
        clearInterval(this.schemaTimer)
        this.schemaTimer = undefined
      }
      if (columns.join(',') !== this.columns.join(',')) this.resubscribe(columns)
    } catch {
      // Unreachable or refused: the subscription and the poll report it; try again later.
    } finally {
      this.isCheckingColumns = false
    }
  }

  /** A subscription to other columns; the table keeps coming from the old one until the new one has a snapshot. */
  private resubscribe(columns: readonly string[]): void {
    const old = this.subscription
    this.columns = columns
    this.subscription = this.subscribe(columns)
    this.logger.info('corrosion_resubscribing', `subscribing to ${columns.length} column(s) of ${BACKENDS_TABLE}`, {columns: columns.join(',')})
    if (this.pollTimer) void this.poll()
    void old?.close()
  }

  // ---- health of the feed ---------------------------------------------------------------------

  private failed(error: unknown): void {
    const message = errorMessage(error)
    if (!this.hasTable) {
      // Start-up: no table to route on yet, so say once what start() waits for.
      if (this.hasSaidWaiting) return
      this.hasSaidWaiting = true
      this.logger.warn('corrosion_waiting', `${message}; waiting up to ${this.initialTimeoutMs / 1000} s (EDGEPROXY_CORROSION_STARTUP_WAIT_SECS) for the agent, then ${this.options.stateFile ? `routing on the table saved in ${this.options.stateFile} if there is one` : 'giving up'}`, {
        code: isEdgeproxyError(error) ? error.code : null,
        store: this.describe(),
        wait_secs: this.initialTimeoutMs / 1000,
      })
      return
    }
    if (this.source === 'saved') return // status() already says the table is the saved one
    if (message === this.lastError) return
    this.lastError = message
    this.logger.error('corrosion_unavailable', `${message}; routing on the last good table`, {
      code: isEdgeproxyError(error) ? error.code : null,
      store: this.describe(),
      backends: this.current.length,
    })
  }

  private recovered(): void {
    if (this.source === 'saved') return // until the agent's table replaces it
    if (this.saved) {
      this.logger.info('corrosion_recovered', 'Corrosion readable: the saved table is replaced by the agent\'s', {store: this.describe(), via: this.source})
      this.saved = undefined
      this.lastError = undefined
      return
    }
    if (this.lastError === undefined) return
    this.lastError = undefined
    this.logger.info('corrosion_recovered', 'Corrosion readable again', {store: this.describe(), via: this.source})
  }

  // ---- output ---------------------------------------------------------------------------------

  /**
   * Many events give one table: the first change is emitted on the next turn, later ones at most
   * every MIN_EMIT_INTERVAL_MS, so a busy cluster (thousands of backends renewing leases) rebuilds
   * the routing table a bounded number of times per second while a change still routes well
   * within 100 ms of the agent releasing it.
   */
  private scheduleEmit(): void {
    if (this.emitScheduled || this.isClosed) return
    const wait = Math.max(0, this.lastFlushAt + MIN_EMIT_INTERVAL_MS - performance.now())
    this.emitScheduled = setTimeout(() => {
      this.emitScheduled = undefined
      this.lastFlushAt = performance.now()
      this.flush()
    }, wait)
  }

  private rows(): BackendRow[] {
    if (this.source === 'poll') return this.pollRows
    if (this.source === 'saved') return this.saved!.rows
    const sub = this.shown
    if (!sub) return []
    return [...sub.rows.values()].map((cells) => toRow(sub.columns, cells))
  }

  private flush(): void {
    if (this.source === undefined) return
    const {backends, problems} = rowsToBackends(this.rows())
    const text = problems.join('; ')
    if (text !== this.lastProblems) {
      this.lastProblems = text
      if (problems.length > 0) this.logger.warn('store_rows_skipped', `${problems.length} row(s) cannot be routed to: ${text}`, {store: this.describe()})
    }
    this.current = backends
    this.hasTable = true
    this.firstTable?.resolve()
    if (this.source !== 'saved') this.stateWriter?.changed(() => this.rows())
    const pendingMs = this.pendingSince === undefined ? null : Math.round(performance.now() - this.pendingSince)
    this.pendingSince = undefined
    const serialized = JSON.stringify(backends)
    if (serialized === this.lastEmitted) return
    this.lastEmitted = serialized
    if (this.onChange) {
      // pending_ms: from the agent's first event in this table reaching the feed to the table.
      this.logger.debug('store_reloaded', 'routing table updated', {backends: backends.length, via: this.source, pending_ms: pendingMs})
      this.onChange(backends)
    }
  }
}
