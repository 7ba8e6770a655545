// The routing feed of `edgeproxy start` in Corrosion mode: the backends subscription, keyed by rowid,
// handed whole to the engine once per burst; /v1/queries polling while the subscription is down; the
// last good table while the agent is unreachable. It subscribes to the project's columns by name
// (never `*`: the agent fixes a `*` at creation) and follows the agent's schema as it gains them.
// It knows the backends table, not the proxy.
import type {Backend} from '../balancer/backend.js'
import {errorMessage, isEdgeproxyError} from '../errors.js'
import type {Logger} from '../log/logger.js'
import type {FeedStatus, RoutingFeed} from '../store/routing-feed.js'
import {BACKEND_COLUMNS, BACKEND_COLUMN_NAMES, BACKENDS_TABLE, columnDefault, rowsToBackends, type BackendRow} from '../store/schema.js'
import type {CorrosionClient} from './client.js'
import {CorrosionProtocolError, CorrosionSqlError} from './errors.js'
import type {SqliteValue} from './ndjson.js'
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
  /** How long start() waits for a first table before it fails (default 10 s). */
  initialTimeoutMs?: number
  /** How often the agent's columns are re-read while it lacks some of ours (default 2 s). */
  schemaCheckMs?: number
  subscription?: SubscriptionOptions
  now?: () => number
}

type Source = 'subscription' | 'poll'

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
      await this.close()
      if (error) throw error
      throw new CorrosionProtocolError(`no backends table from Corrosion at ${this.client.url} within ${this.initialTimeoutMs} ms`, {
        suggestion: 'run `edgeproxy corrosion status` and `edgeproxy corrosion init-schema`',
      })
    }
    this.flush()
    this.onChange = onChange
    return this.current
  }

  refresh(): void {
    if (this.isClosed) return
    if (this.subscription?.status() === 'connected') this.subscription.resync()
    else void this.poll()
    void this.checkColumns()
  }

  status(): FeedStatus {
    const isCurrent = this.lastError === undefined && this.hasTable
    return {
      kind: 'corrosion',
      target: this.describe(),
      isCurrent,
      lastSyncAtMs: this.subscription?.status() === 'connected' ? this.now() : this.lastSyncAtMs,
      ...(this.lastError ? {error: this.lastError} : {}),
      ...(this.subscription ? {subscription: this.subscription.status()} : {}),
    }
  }

  async close(): Promise<void> {
    this.isClosed = true
    this.stopPolling()
    if (this.emitScheduled) clearTimeout(this.emitScheduled)
    if (this.schemaTimer) clearInterval(this.schemaTimer)
    await this.subscription?.close()
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
    if (message === this.lastError) return
    this.lastError = message
    this.logger.error('corrosion_unavailable', `${message}; routing on the last good table`, {
      code: isEdgeproxyError(error) ? error.code : null,
      store: this.describe(),
      backends: this.current.length,
    })
  }

  private recovered(): void {
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
