// BackendStore over the local SQLite routing store: its own connection, every change one IMMEDIATE
// transaction. It never blocks the event loop waiting for a lock: a busy file is retried
// asynchronously with backoff, then reported as EP_STORE_BUSY (the API answers 503).
import path from 'node:path'

import Database from 'better-sqlite3'

import type {Backend} from '../balancer/backend.js'
import {EdgeproxyError, ExitCode} from '../errors.js'
import type {BackendStore, RegisterInput, RegisterResult, StateChange} from './backend-store.js'
import {
  changeStatement,
  deregisterStatement,
  registerStatement,
  renewLeaseStatement,
  SELECT_BACKEND,
  SELECT_BACKENDS,
  type BoundStatement,
} from './backend-sql.js'
import {rowToBackend, rowsToBackends, type BackendRow} from './schema.js'
import {SqliteRoutingStore} from './sqlite-store.js'

export class StoreBusyError extends EdgeproxyError {
  constructor(target: string, cause: unknown) {
    super('EP_STORE_BUSY', `routing store ${target} stayed locked by another process`, ExitCode.unavailable, {
      suggestion: 'retry; if it persists, find the process holding a write transaction on the file',
      cause,
    })
  }
}

const RETRY_DELAYS_MS = [5, 10, 20, 40, 80, 160, 320, 640]

function isBusy(error: unknown): boolean {
  const code = (error as {code?: string}).code
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED'
}

export class SqliteBackendStore implements BackendStore {
  readonly kind = 'sqlite' as const
  private readonly db: Database.Database

  /**
   * Opens (and creates, with the table, when `create`) the routing store at `file`. `isSchemaReady`:
   * the caller has just opened it with SqliteRoutingStore (the engine), so the check is skipped.
   */
  constructor(file: string, options: {create: boolean; isSchemaReady?: boolean}) {
    // The routing store's own open() creates the file, sets WAL and appends missing columns.
    if (!options.isSchemaReady) SqliteRoutingStore.open(file, {create: options.create}).close()
    this.db = new Database(path.resolve(file), {fileMustExist: true})
    this.db.pragma('busy_timeout = 0')
  }

  describe(): string {
    return `sqlite:${this.db.name}`
  }

  private row(id: string): Backend | undefined {
    const row = this.db.prepare(SELECT_BACKEND).get(id) as BackendRow | undefined
    return row === undefined ? undefined : rowToBackend(row).backend
  }

  /** Runs `fn` in an IMMEDIATE transaction, retrying while another process holds the write lock. */
  private async write<T>(fn: () => T): Promise<T> {
    const tx = this.db.transaction(fn)
    for (let attempt = 0; ; attempt++) {
      try {
        return tx.immediate()
      } catch (error) {
        if (!isBusy(error)) throw error
        if (attempt >= RETRY_DELAYS_MS.length) throw new StoreBusyError(this.db.name, error)
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]))
      }
    }
  }

  private run(statement: BoundStatement): number {
    return this.db.prepare(statement.sql).run(...statement.params).changes
  }

  register(input: RegisterInput, nowMs: number, leaseMs: number): Promise<RegisterResult> {
    return this.write(() => {
      const before = this.row(input.id)
      this.run(registerStatement(input, nowMs, leaseMs))
      return {backend: this.row(input.id)!, created: before === undefined || before.isDeleted}
    })
  }

  renewLease(id: string, nowMs: number, leaseMs: number): Promise<Backend | undefined> {
    return this.write(() => {
      this.run(renewLeaseStatement(id, nowMs, leaseMs))
      const b = this.row(id)
      return b === undefined || b.isDeleted ? undefined : b
    })
  }

  change(id: string, change: StateChange, nowMs: number): Promise<Backend | undefined> {
    return this.write(() => (this.run(changeStatement(id, change, nowMs)) === 0 ? undefined : this.row(id)))
  }

  deregister(id: string, nowMs: number): Promise<Backend | undefined> {
    return this.write(() => (this.run(deregisterStatement(id, nowMs)) === 0 ? undefined : this.row(id)))
  }

  async get(id: string): Promise<Backend | undefined> {
    return this.row(id)
  }

  async list(): Promise<Backend[]> {
    return rowsToBackends(this.db.prepare(SELECT_BACKENDS).all() as BackendRow[]).backends
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}
