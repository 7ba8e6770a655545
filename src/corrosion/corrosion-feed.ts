// The routing feed of `edgeproxy start` in Corrosion mode: the backends subscription, keyed by rowid,
// handed whole to the engine once per burst; /v1/queries polling while the subscription is down; the
// last good table while the agent is unreachable. It knows the backends table, not the proxy.
import type {Backend} from '../balancer/backend.js'
import {errorMessage, isEdgeproxyError} from '../errors.js'
import type {Logger} from '../log/logger.js'
import type {FeedStatus, RoutingFeed} from '../store/routing-feed.js'
import {BACKENDS_TABLE, rowsToBackends, type BackendRow} from '../store/schema.js'
import type {CorrosionClient} from './client.js'
import {CorrosionProtocolError} from './errors.js'
import type {SqliteValue} from './ndjson.js'
import {normalizeSql} from './sql-lexer.js'
import type {Subscription, SubscriptionOptions, SubscriptionStatus} from './subscription.js'

export const BACKENDS_SUBSCRIPTION_SQL = normalizeSql(`SELECT * FROM ${BACKENDS_TABLE}`)

export interface CorrosionFeedOptions {
  client: CorrosionClient
  logger: Logger
  /** Polling interval of /v1/queries while the subscription is not connected. */
  pollMs: number
  /** How long start() waits for a first table before it fails (default 10 s). */
  initialTimeoutMs?: number
  subscription?: SubscriptionOptions
  now?: () => number
}

type Source = 'subscription' | 'poll'

const MIN_EMIT_INTERVAL_MS = 25

function toRow(columns: readonly string[], cells: readonly SqliteValue[]): BackendRow {
  const row: BackendRow = {}
  columns.forEach((c, i) => {
    row[c] = cells[i] ?? null
  })
  return row
}

export class CorrosionFeed implements RoutingFeed {
  readonly kind = 'corrosion' as const
  private subscription?: Subscription
  private onChange?: (backends: Backend[]) => void
  private pollTimer?: NodeJS.Timeout
  private isPolling = false
  private isClosed = false
  private emitScheduled?: NodeJS.Timeout
  private lastFlushAt = -Infinity
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
  private readonly now: () => number

  constructor(private readonly options: CorrosionFeedOptions) {
    this.client = options.client
    this.logger = options.logger
    this.pollMs = options.pollMs
    this.initialTimeoutMs = options.initialTimeoutMs ?? 10_000
    this.now = options.now ?? Date.now
  }

  describe(): string {
    return `corrosion:${this.client.url}`
  }

  async start(onChange: (backends: Backend[]) => void): Promise<Backend[]> {
    const gotTable = new Promise<void>((resolve) => {
      this.firstTable = {resolve}
    })
    this.subscription = this.client.subscribe(
      BACKENDS_SUBSCRIPTION_SQL,
      {
        snapshot: (s) => {
          const isFirst = this.source === undefined
          this.useSubscription()
          this.logger.info(s.isResync ? 'corrosion_resynced' : 'corrosion_subscribed', s.isResync ? 'backends table re-read from a fresh snapshot' : 'subscribed to the backends table', {
            rows: s.rows.size,
            change_id: s.changeId,
            subscription: this.subscription?.id,
            first: isFirst,
          })
        },
        change: () => this.useSubscription(),
        status: (status, error) => this.onStatus(status, error),
      },
      {retryRejected: true, ...this.options.subscription},
    )
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
    await this.subscription?.close()
  }

  // ---- sources --------------------------------------------------------------------------------

  private useSubscription(): void {
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
    if (status === 'down' || status === 'failed') {
      if (error) this.failed(error)
      this.startPolling()
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
      const objects = await this.client.queryObjects(BACKENDS_SUBSCRIPTION_SQL)
      if (this.isClosed || this.subscription?.status() === 'connected') return
      this.pollRows = objects
      this.source = 'poll'
      this.lastSyncAtMs = this.now()
      this.recovered()
      this.scheduleEmit()
    } catch (error) {
      if (!this.isClosed) this.failed(error)
    } finally {
      this.isPolling = false
    }
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
   * within 100 ms.
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
    const sub = this.subscription
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
    const serialized = JSON.stringify(backends)
    if (serialized === this.lastEmitted) return
    this.lastEmitted = serialized
    if (this.onChange) {
      this.logger.debug('store_reloaded', 'routing table updated', {backends: backends.length, via: this.source})
      this.onChange(backends)
    }
  }
}
