// Follows the SQLite routing store: polls it every `intervalMs` (PRAGMA data_version makes an
// unchanged poll nearly free) and hands every changed table to the engine. On a missing, locked or
// corrupt file it logs once per distinct error, keeps the last good table, and logs the recovery.
import type {Backend} from '../balancer/backend.js'
import {errorMessage, isEdgeproxyError} from '../errors.js'
import type {Logger} from '../log/logger.js'
import type {FeedStatus, RoutingFeed} from './routing-feed.js'
import {rowsToBackends} from './schema.js'
import type {SqliteRoutingStore} from './sqlite-store.js'

export class SqliteFeed implements RoutingFeed {
  readonly kind = 'sqlite' as const
  private timer?: NodeJS.Timeout
  private onChange?: (backends: Backend[]) => void
  private lastError?: string
  private lastProblems = ''
  private lastSyncAtMs = 0

  constructor(
    private readonly store: SqliteRoutingStore,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  describe(): string {
    return this.store.describe()
  }

  async start(onChange: (backends: Backend[]) => void): Promise<Backend[]> {
    const rows = this.store.poll() ?? this.store.readAll()
    const backends = this.map(rows)
    this.lastSyncAtMs = this.now()
    this.onChange = onChange
    this.timer = setInterval(() => this.refresh(), this.intervalMs)
    this.timer.unref()
    return backends
  }

  refresh(): void {
    let rows
    try {
      rows = this.store.poll()
    } catch (error) {
      const message = errorMessage(error)
      if (message !== this.lastError) {
        this.lastError = message
        this.logger.error('store_read_failed', `${message}; routing on the last good table`, {
          code: isEdgeproxyError(error) ? error.code : null,
          store: this.describe(),
        })
      }
      return
    }
    this.lastSyncAtMs = this.now()
    if (this.lastError !== undefined) {
      this.lastError = undefined
      this.logger.info('store_recovered', 'routing store readable again', {store: this.describe()})
    }
    if (rows === null) return
    const backends = this.map(rows)
    this.onChange?.(backends)
    // After the router took it (with workers: once every worker routes on it), so the line means "in force".
    this.logger.info('store_reloaded', 'routing table reloaded', {backends: backends.length})
  }

  private map(rows: Parameters<typeof rowsToBackends>[0]): Backend[] {
    const {backends, problems} = rowsToBackends(rows)
    const text = problems.join('; ')
    if (text !== this.lastProblems) {
      this.lastProblems = text
      if (problems.length > 0) {
        this.logger.warn('store_rows_skipped', `${problems.length} row(s) cannot be routed to: ${text}`, {store: this.describe()})
      }
    }
    return backends
  }

  status(): FeedStatus {
    return {
      kind: 'sqlite',
      target: this.describe(),
      isCurrent: this.lastError === undefined,
      lastSyncAtMs: this.lastSyncAtMs,
      ...(this.lastError ? {error: this.lastError} : {}),
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer)
    this.store.close()
  }
}
