// One Corrosion subscription kept whole across failures (corrosion-api.md §4): rows keyed by rowid,
// contiguous change ids, resume by id with `from` after EOF, fresh snapshot after 404/gap/error. Quiet
// streams are never timed out (the agent sends no heartbeats); it does not know what rows mean.
import {EdgeproxyError} from '../errors.js'
import type {CorrosionClient, OpenStream} from './client.js'
import {CorrosionAuthError, CorrosionProtocolError, CorrosionRequestError, CorrosionSqlError} from './errors.js'
import {readNdjson, type ChangeType, type SqliteValue} from './ndjson.js'
import {normalizeStatement, type Statement} from './statement.js'

export type SubscriptionStatus = 'connecting' | 'connected' | 'resyncing' | 'down' | 'failed' | 'closed'

export interface SubscriptionSnapshot {
  columns: string[]
  /** Rows keyed by the subscription's rowid (not the table's). */
  rows: ReadonlyMap<number, SqliteValue[]>
  /** The change id the snapshot is current at (eoq.change_id). */
  changeId: number
  /** False for the first snapshot, true when state was rebuilt after a gap, 404 or retention error. */
  isResync: boolean
}

export interface SubscriptionChange {
  type: ChangeType
  rowid: number
  cells: SqliteValue[]
  changeId: number
}

export interface SubscriptionHandlers {
  snapshot?(snapshot: SubscriptionSnapshot): void
  change?(change: SubscriptionChange): void
  status?(status: SubscriptionStatus, error?: EdgeproxyError): void
}

export interface SubscriptionOptions {
  /** First reconnect delay after a failed attempt; doubles up to maxBackoffMs, with jitter. */
  minBackoffMs?: number
  maxBackoffMs?: number
  /** Keep retrying after the agent refuses the SQL (400) or the token (401) instead of failing. */
  retryRejected?: boolean
  /** A stream that lived this long (or delivered an event) resets the backoff. */
  stableAfterMs?: number
  random?: () => number
  now?: () => number
}

const RETENTION_ERROR = 'already deleted older changes'

class Resync extends Error {
  constructor(readonly reason: string) {
    super(reason)
  }
}

export class Subscription {
  /** The agent's id for this subscription (corro-query-id), once known. */
  id?: string
  /** Last applied change id (eoq.change_id or the last `change`). */
  lastChangeId?: number
  columns: string[] = []
  readonly rows = new Map<number, SqliteValue[]>()
  /** Resolves with the first snapshot; rejects if the subscription fails or closes first. */
  readonly ready: Promise<SubscriptionSnapshot>
  readonly statement: Statement
  private currentStatus: SubscriptionStatus = 'connecting'
  private lastError?: EdgeproxyError
  private abort?: AbortController
  private isClosed = false
  private needsSnapshot = true
  private hasSnapshot = false
  private wakeUp?: () => void
  private delivered = false
  /** The agent answered a resume with 404: start the fresh subscription at once, not after a backoff. */
  private isLost = false
  private resolveReady!: (s: SubscriptionSnapshot) => void
  private rejectReady!: (e: Error) => void
  private readonly loop: Promise<void>
  private readonly minBackoffMs: number
  private readonly maxBackoffMs: number
  private readonly stableAfterMs: number
  private readonly random: () => number
  private readonly now: () => number

  constructor(
    private readonly client: CorrosionClient,
    statement: Statement,
    private readonly handlers: SubscriptionHandlers,
    private readonly options: SubscriptionOptions = {},
  ) {
    this.statement = normalizeStatement(statement)
    this.minBackoffMs = options.minBackoffMs ?? 100
    this.maxBackoffMs = options.maxBackoffMs ?? 5000
    this.stableAfterMs = options.stableAfterMs ?? 1000
    this.random = options.random ?? Math.random
    this.now = options.now ?? Date.now
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve
      this.rejectReady = reject
    })
    this.ready.catch(() => {}) // a caller that never awaits ready must not see an unhandled rejection
    this.loop = this.run()
  }

  status(): SubscriptionStatus {
    return this.currentStatus
  }

  error(): EdgeproxyError | undefined {
    return this.lastError
  }

  /**
   * Ends a wait between attempts now (the caller knows the agent answers again, e.g. a poll just
   * succeeded), so a recovered agent is not left idle for the rest of a backoff.
   */
  retryNow(): void {
    this.wakeUp?.()
  }

  /** Drops the current stream and rebuilds state from a fresh snapshot (SIGHUP, tests). */
  resync(): void {
    if (this.isClosed) return
    this.needsSnapshot = true
    this.abort?.abort(new Resync('resync requested'))
    this.wakeUp?.()
  }

  async close(): Promise<void> {
    if (this.isClosed) return this.loop
    this.isClosed = true
    this.abort?.abort(new Resync('closed'))
    this.wakeUp?.()
    await this.loop
    this.setStatus('closed')
    this.rejectReady(new CorrosionProtocolError('the subscription was closed before its first snapshot'))
  }

  private setStatus(status: SubscriptionStatus, error?: EdgeproxyError): void {
    if (error) this.lastError = error
    else if (status === 'connected') this.lastError = undefined
    if (status === this.currentStatus && !error) return
    this.currentStatus = status
    try {
      this.handlers.status?.(status, error)
    } catch {
      // a handler failing must not stop the subscription
    }
  }

  private delay(attempt: number): Promise<void> {
    if (attempt === 0 || this.isClosed) return Promise.resolve()
    const ceiling = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** (attempt - 1))
    const ms = Math.round(ceiling * (0.5 + 0.5 * this.random()))
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.wakeUp = done
    })
  }

  private async run(): Promise<void> {
    let failures = 0
    while (!this.isClosed) {
      await this.delay(failures)
      this.wakeUp = undefined
      if (this.isClosed) break
      const abort = new AbortController()
      this.abort = abort
      const openedAt = this.now()
      this.delivered = false
      try {
        await this.attempt(abort.signal)
        // A clean EOF: the agent restarted, or dropped a lagging reader. Resume.
        if (this.hasSnapshot) this.setStatus('resyncing')
      } catch (error) {
        if (this.isClosed) break
        if (error instanceof Resync) {
          this.needsSnapshot = true
          this.setStatus('resyncing')
        } else {
          const typed = error instanceof EdgeproxyError ? error : (this.client.streamError(error) as EdgeproxyError)
          const isRejected =
            typed instanceof CorrosionAuthError || typed instanceof CorrosionSqlError || (typed instanceof CorrosionRequestError && typed.status < 500)
          if (isRejected && !this.options.retryRejected) {
            this.setStatus('failed', typed)
            this.rejectReady(typed)
            break
          }
          this.setStatus('down', typed)
        }
      } finally {
        abort.abort(new Resync('done'))
      }
      const isStable = this.delivered || this.isLost || this.now() - openedAt >= this.stableAfterMs
      this.isLost = false
      failures = isStable ? 0 : failures + 1
    }
  }

  /** One request and its stream, until EOF; throws on failure or when a fresh snapshot is needed. */
  private async attempt(signal: AbortSignal): Promise<void> {
    const isResume = !this.needsSnapshot && this.id !== undefined && this.lastChangeId !== undefined
    let stream: OpenStream
    try {
      stream = isResume
        ? await this.client.openSubscription({kind: 'resume', id: this.id!, from: this.lastChangeId!}, signal)
        : await this.client.openSubscription({kind: 'create', statement: this.statement}, signal)
    } catch (error) {
      if (signal.reason instanceof Resync) throw signal.reason
      throw error
    }
    if (stream.status !== 200) {
      const failure = await this.client.subscriptionError(stream)
      if (isResume && stream.status === 404) {
        // The agent lost the subscription (unused for 10 min, a restart that could not restore it,
        // a new agent): it answers, so start over at once; this is not a failed attempt.
        this.id = undefined
        this.isLost = true
        throw new Resync(failure.message)
      }
      if (failure.isSqlError && stream.status === 400) throw new CorrosionSqlError(failure.message, 400)
      throw new CorrosionRequestError(this.client.url, stream.status, failure.message)
    }
    const header = stream.headers['corro-query-id']
    const id = Array.isArray(header) ? header[0] : header
    if (id) this.id = id
    if (isResume) this.setStatus('connected')

    let pendingColumns: string[] | undefined
    let pendingRows: Map<number, SqliteValue[]> | undefined
    let isLive = isResume
    try {
      for await (const event of readNdjson(stream.body)) {
        this.delivered = true
        switch (event.type) {
          case 'columns':
            pendingColumns = event.columns
            pendingRows = new Map()
            break
          case 'row':
            if (!pendingRows) throw new Resync('row before columns')
            pendingRows.set(event.rowid, event.cells)
            break
          case 'eoq': {
            if (!pendingRows || !pendingColumns) throw new Resync('eoq before columns')
            this.columns = pendingColumns
            this.rows.clear()
            for (const [rowid, cells] of pendingRows) this.rows.set(rowid, cells)
            pendingRows = undefined
            this.lastChangeId = event.changeId ?? 0
            const snapshot: SubscriptionSnapshot = {columns: this.columns, rows: this.rows, changeId: this.lastChangeId, isResync: this.hasSnapshot}
            this.hasSnapshot = true
            this.needsSnapshot = false
            isLive = true
            this.setStatus('connected')
            try {
              this.handlers.snapshot?.(snapshot)
            } catch {
              // handler failures are the caller's; keep the stream
            }
            this.resolveReady(snapshot)
            break
          }
          case 'change': {
            if (!isLive || this.lastChangeId === undefined) throw new Resync('change before eoq')
            if (event.changeId <= this.lastChangeId) break // already applied (a replayed id)
            if (event.changeId !== this.lastChangeId + 1) {
              throw new Resync(`missed changes: expected change id ${this.lastChangeId + 1}, got ${event.changeId}`)
            }
            if (event.changeType === 'delete') this.rows.delete(event.rowid)
            else this.rows.set(event.rowid, event.cells)
            this.lastChangeId = event.changeId
            try {
              this.handlers.change?.({type: event.changeType, rowid: event.rowid, cells: event.cells, changeId: event.changeId})
            } catch {
              // as above
            }
            break
          }
          case 'error':
            // Every error event ends the stream (§4.3). The retention error and the others alike
            // need a fresh snapshot: resuming from the same id would fail the same way.
            throw new Resync(event.message.includes(RETENTION_ERROR) ? event.message : `agent error: ${event.message}`)
          default:
            break
        }
      }
    } catch (error) {
      stream.body.destroy()
      if (signal.reason instanceof Resync && !(error instanceof Resync)) throw signal.reason
      throw error
    }
  }
}
