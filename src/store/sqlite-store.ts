// The local routing store: one SQLite file (WAL mode) holding the backends table. Reads are cheap
// and never wait on a lock (busy_timeout 0), so a reload cannot stall the proxy; change detection
// uses PRAGMA data_version plus the file's identity, so a file replaced on disk is reopened.
// It does not decide what a failed read means for routing: callers keep their last good table.
import fs from 'node:fs'
import path from 'node:path'

import Database from 'better-sqlite3'

import {EdgeproxyError, ExitCode} from '../errors.js'
import {BACKEND_COLUMNS, BACKENDS_TABLE, backendsTableDdl, type BackendRow} from './schema.js'

export class StoreError extends EdgeproxyError {
  constructor(code: string, message: string, options: {suggestion?: string; cause?: unknown} = {}) {
    super(code, message, ExitCode.invalid, options)
  }
}

interface FileIdentity {
  dev: number
  ino: number
}

export interface SqliteOpenOptions {
  /** Create the file and the table when absent (start-up); false when reopening a replaced file. */
  create: boolean
  readonly?: boolean
}

function sqliteCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as {code: unknown}).code) : ''
}

function describeSqliteError(file: string, error: unknown): StoreError {
  const code = sqliteCode(error)
  const message = error instanceof Error ? error.message : String(error)
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new StoreError('EP_STORE_LOCKED', `routing store ${file} is locked by another process (${message})`, {
      suggestion: 'finish or roll back the other transaction; edgeproxy retries on the next reload',
      cause: error,
    })
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StoreError('EP_STORE_CORRUPT', `routing store ${file} is not a valid SQLite database (${message})`, {
      suggestion: `restore ${file} from a backup or move it away so edgeproxy can create a fresh one`,
      cause: error,
    })
  }
  return new StoreError('EP_STORE_READ_FAILED', `cannot read routing store ${file}: ${message}`, {cause: error})
}

export class SqliteRoutingStore {
  readonly kind = 'sqlite' as const
  readonly path: string
  private db: Database.Database
  private identity: FileIdentity
  private lastDataVersion = -1
  private selectAll: Database.Statement
  private dataVersionStmt: Database.Statement

  private constructor(file: string, db: Database.Database) {
    this.path = file
    this.db = db
    this.identity = SqliteRoutingStore.identityOf(file)
    this.selectAll = db.prepare(`SELECT * FROM ${BACKENDS_TABLE} ORDER BY id`)
    this.dataVersionStmt = db.prepare('PRAGMA data_version').pluck()
  }

  static open(file: string, options: SqliteOpenOptions): SqliteRoutingStore {
    const absolute = path.resolve(file)
    const exists = fs.existsSync(absolute)
    if (!exists && !options.create) {
      throw new StoreError('EP_STORE_MISSING', `routing store ${absolute} does not exist`, {
        suggestion: 'restore the file or point EDGEPROXY_DB_PATH (--db-path) at it; edgeproxy keeps routing on its last table meanwhile',
      })
    }
    if (!exists) {
      const dir = path.dirname(absolute)
      if (!fs.existsSync(dir)) {
        throw new StoreError('EP_STORE_MISSING', `the directory of routing store ${absolute} does not exist`, {
          suggestion: `create ${dir} or set EDGEPROXY_DB_PATH (--db-path) to a path in an existing directory`,
        })
      }
    }
    let db: Database.Database | undefined
    try {
      db = new Database(absolute, {fileMustExist: exists, readonly: options.readonly ?? false})
      // At start-up (create) another process may be creating the same file: wait for it a little.
      // A reopen at run time must never block the event loop, so it does not wait at all.
      db.pragma(`busy_timeout = ${options.create ? 2000 : 0}`)
      if (!options.readonly) {
        db.pragma('journal_mode = WAL')
        db.pragma('synchronous = NORMAL')
        ensureSchema(db)
      }
      db.pragma('busy_timeout = 0')
      return new SqliteRoutingStore(absolute, db)
    } catch (error) {
      db?.close()
      if (error instanceof StoreError) throw error
      throw describeSqliteError(absolute, error)
    }
  }

  private static identityOf(file: string): FileIdentity {
    const st = fs.statSync(file)
    return {dev: st.dev, ino: st.ino}
  }

  describe(): string {
    return `sqlite:${this.path}`
  }

  /** The underlying connection, for the writer in the same process. */
  get database(): Database.Database {
    return this.db
  }

  /**
   * Reads every row when the table changed since the last call (or the file was replaced);
   * returns null when nothing changed. Throws StoreError on a missing, locked or corrupt file,
   * leaving the caller's last table in place.
   */
  poll(): BackendRow[] | null {
    let current: FileIdentity
    try {
      current = SqliteRoutingStore.identityOf(this.path)
    } catch {
      throw new StoreError('EP_STORE_MISSING', `routing store ${this.path} is missing`, {
        suggestion: 'restore the file; edgeproxy keeps routing on its last table and reopens it when it is back',
      })
    }
    if (current.dev !== this.identity.dev || current.ino !== this.identity.ino) this.reopen()
    try {
      const version = this.dataVersionStmt.get() as number
      if (version === this.lastDataVersion) return null
      const rows = this.selectAll.all() as BackendRow[]
      this.lastDataVersion = version
      return rows
    } catch (error) {
      throw describeSqliteError(this.path, error)
    }
  }

  /** Every row now, whether or not it changed. */
  readAll(): BackendRow[] {
    try {
      return this.selectAll.all() as BackendRow[]
    } catch (error) {
      throw describeSqliteError(this.path, error)
    }
  }

  private reopen(): void {
    const next = SqliteRoutingStore.open(this.path, {create: false})
    this.db.close()
    this.db = next.db
    this.identity = next.identity
    this.selectAll = next.selectAll
    this.dataVersionStmt = next.dataVersionStmt
    this.lastDataVersion = -1
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

/** Creates the table, or appends the columns an older table lacks (never changes existing ones). */
export function ensureSchema(db: Database.Database): {addedColumns: string[]} {
  db.exec(backendsTableDdl({ifNotExists: true}))
  const existing = new Set((db.prepare(`PRAGMA table_info(${BACKENDS_TABLE})`).all() as {name: string}[]).map((c) => c.name))
  const added: string[] = []
  for (const column of BACKEND_COLUMNS) {
    if (existing.has(column.name)) continue
    db.exec(`ALTER TABLE ${BACKENDS_TABLE} ADD COLUMN ${column.name} ${column.definition}`)
    added.push(column.name)
  }
  return {addedColumns: added}
}
