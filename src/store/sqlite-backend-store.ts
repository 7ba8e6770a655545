// BackendStore over the local SQLite routing store: every change one IMMEDIATE transaction on the
// connection SqliteRoutingStore checks before each use, so a write lands in the file at the path
// (the one routing reads) or fails with a StoreError naming why; it never reaches a file that was
// deleted or replaced. It never blocks the event loop waiting for a lock: a busy file is retried
// asynchronously with backoff, then reported as EP_STORE_BUSY (the API answers 503).
import type Database from 'better-sqlite3'

import type {Backend} from '../balancer/backend.js'
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
import {CLI_STORE_CONTEXT, isBusyError, SqliteRoutingStore, storeError, type StoreContext} from './sqlite-store.js'

const RETRY_DELAYS_MS = [5, 10, 20, 40, 80, 160, 320, 640]

export class SqliteBackendStore implements BackendStore {
  readonly kind = 'sqlite' as const
  private readonly ownsStore: boolean

  /**
   * Writes through `store`'s connection (the engine shares it with the routing feed, so the API
   * writes and reads exactly the file routing follows). close() closes `store` only when `ownsStore`.
   */
  constructor(
    private readonly store: SqliteRoutingStore,
    options: {ownsStore?: boolean} = {},
  ) {
    this.ownsStore = options.ownsStore ?? false
  }

  /** A store of its own on `file` (the `--db` commands): the file must exist unless `create`. */
  static open(file: string, options: {create?: boolean; context?: StoreContext} = {}): SqliteBackendStore {
    const store = SqliteRoutingStore.open(file, {create: options.create ?? false, context: options.context ?? CLI_STORE_CONTEXT})
    return new SqliteBackendStore(store, {ownsStore: true})
  }

  describe(): string {
    return this.store.describe()
  }

  private row(db: Database.Database, id: string): Backend | undefined {
    const row = db.prepare(SELECT_BACKEND).get(id) as BackendRow | undefined
    return row === undefined ? undefined : rowToBackend(row).backend
  }

  /** Runs `fn` in an IMMEDIATE transaction, retrying while another process holds the write lock. */
  private async write<T>(fn: (db: Database.Database) => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      // Checked again on every attempt: the file may be replaced while this write waits.
      const db = this.store.connection()
      try {
        const result = db.transaction(() => fn(db)).immediate()
        this.store.noteWrite()
        this.store.checkpoint()
        return result
      } catch (error) {
        if (!isBusyError(error)) throw error
        if (attempt >= RETRY_DELAYS_MS.length) throw storeError('busy', this.store.path, this.store.context, {cause: error})
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]))
      }
    }
  }

  private read<T>(fn: (db: Database.Database) => T): T {
    const db = this.store.connection()
    try {
      return fn(db)
    } catch (error) {
      if (isBusyError(error)) throw storeError('locked', this.store.path, this.store.context, {cause: error})
      throw error
    }
  }

  private run(db: Database.Database, statement: BoundStatement): number {
    return db.prepare(statement.sql).run(...statement.params).changes
  }

  register(input: RegisterInput, nowMs: number, leaseMs: number): Promise<RegisterResult> {
    return this.write((db) => {
      const before = this.row(db, input.id)
      this.run(db, registerStatement(input, nowMs, leaseMs))
      return {backend: this.row(db, input.id)!, created: before === undefined}
    })
  }

  renewLease(id: string, nowMs: number, leaseMs: number): Promise<Backend | undefined> {
    return this.write((db) => {
      this.run(db, renewLeaseStatement(id, nowMs, leaseMs))
      return this.row(db, id)
    })
  }

  change(id: string, change: StateChange, nowMs: number): Promise<Backend | undefined> {
    return this.write((db) => (this.run(db, changeStatement(id, change, nowMs)) === 0 ? undefined : this.row(db, id)))
  }

  deregister(id: string): Promise<Backend | undefined> {
    return this.write((db) => {
      const before = this.row(db, id)
      if (before === undefined) return undefined
      this.run(db, deregisterStatement(id))
      return before
    })
  }

  async get(id: string): Promise<Backend | undefined> {
    return this.read((db) => this.row(db, id))
  }

  async list(): Promise<Backend[]> {
    return this.read((db) => rowsToBackends(db.prepare(SELECT_BACKENDS).all() as BackendRow[]).backends)
  }

  close(): void {
    if (this.ownsStore) this.store.close()
  }
}
