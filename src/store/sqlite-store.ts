// The local routing store: one SQLite file (WAL mode) holding the backends table, and the one
// connection a process keeps to it (the routing feed and the API's writes share it). Before every
// use the file at the path is checked (same file? still a SQLite database? readable and writable?
// its WAL still the one in use?), so a replaced, deleted, garbled or locked-out file is either
// reopened or reported, never written to behind the operator's back. Reads never wait on a lock
// (busy_timeout 0), so a reload cannot stall the proxy. It does not decide what a failed read means
// for routing: callers keep their last good table.
import fs from 'node:fs'
import path from 'node:path'

import Database from 'better-sqlite3'

import {EdgeproxyError, ExitCode} from '../errors.js'
import {BACKEND_COLUMNS, BACKENDS_TABLE, backendsTableDdl, type BackendRow} from './schema.js'

/** Who opened the store and through which setting, so an error names the right setting and advice. */
export interface StoreContext {
  /** The setting that names the file, as the operator types it: `EDGEPROXY_DB_PATH (--db-path)`, `--db`. */
  setting: string
  /** `proxy`: edgeproxy start (it keeps routing on its last table); `cli`: a backend command (it exits). */
  user: 'proxy' | 'cli'
}

export const PROXY_STORE_CONTEXT: StoreContext = {setting: 'EDGEPROXY_DB_PATH (--db-path)', user: 'proxy'}
export const CLI_STORE_CONTEXT: StoreContext = {setting: '--db', user: 'cli'}

export type StoreProblem =
  | 'missing'
  | 'directory_missing'
  | 'permission_denied'
  | 'read_only'
  | 'not_a_database'
  | 'incomplete'
  | 'locked'
  | 'busy'
  | 'failed'

const PROBLEM_CODE: Record<StoreProblem, string> = {
  missing: 'EP_STORE_MISSING',
  directory_missing: 'EP_STORE_MISSING',
  permission_denied: 'EP_STORE_PERMISSION_DENIED',
  read_only: 'EP_STORE_READ_ONLY',
  not_a_database: 'EP_STORE_CORRUPT',
  incomplete: 'EP_STORE_INCOMPLETE',
  locked: 'EP_STORE_BUSY', // one code for one cause: another process holds the lock (at open, or past a write's retries)
  busy: 'EP_STORE_BUSY',
  failed: 'EP_STORE_READ_FAILED',
}

export class StoreError extends EdgeproxyError {
  readonly problem: StoreProblem

  constructor(problem: StoreProblem, message: string, options: {suggestion?: string; cause?: unknown} = {}) {
    super(PROBLEM_CODE[problem], message, problem === 'busy' || problem === 'locked' ? ExitCode.unavailable : ExitCode.invalid, options)
    this.problem = problem
  }
}

/**
 * The error for `problem` with the store's path, the setting that named it and advice that fits who
 * met it: the proxy at start-up (it exits), the proxy at run time (it keeps routing), or a command.
 */
export function storeError(problem: StoreProblem, file: string, context: StoreContext, options: {isStartup?: boolean; detail?: string; cause?: unknown} = {}): StoreError {
  const dir = path.dirname(file)
  const cause: Record<StoreProblem, string> = {
    missing: 'not found',
    directory_missing: `its directory ${dir} does not exist`,
    permission_denied: 'permission denied',
    read_only: `read-only (SQLite must write ${path.basename(file)}, ${path.basename(file)}-wal and ${path.basename(file)}-shm in ${dir})`,
    not_a_database: 'not a SQLite database',
    incomplete: 'shorter than its header says (a copy still being written?)',
    locked: 'locked by another process',
    busy: 'stayed locked by another writer past the retry time',
    failed: 'cannot be read',
  }
  const detail = options.detail ? ` (${options.detail})` : ''
  const message = `routing store ${file} (${context.setting}): ${cause[problem]}${detail}`
  const isCli = context.user === 'cli'
  const atRun = !isCli && !options.isStartup
  const meanwhile = atRun ? '; routing continues on the last good table and API writes answer 503 until then' : ''
  const setting = context.setting
  let suggestion: string
  switch (problem) {
    case 'missing':
      suggestion = isCli
        ? `check the path given to ${setting}; \`edgeproxy start --db-path ${file}\` creates a store, or drop ${setting} to go through a running proxy's API`
        : `restore ${file} (or set ${setting} to the right file)${meanwhile}`
      break
    case 'directory_missing':
      suggestion = isCli ? `check the path given to ${setting}: ${dir} does not exist` : `create ${dir} or set ${setting} to a path in an existing directory${meanwhile}`
      break
    case 'permission_denied':
      suggestion = isCli
        ? `run the command as a user who can read and write ${file} and its directory, or drop ${setting} to go through a running proxy's API`
        : `give the user running edgeproxy read and write access to ${file} and its directory (or set ${setting} to a writable path)${meanwhile}`
      break
    case 'read_only':
      suggestion = `make ${dir} writable for the user running ${isCli ? 'the command' : 'edgeproxy'}, or set ${setting} to a path on a writable file system${meanwhile}`
      break
    case 'not_a_database':
      suggestion = isCli
        ? `check that ${setting} names the routing store, not another file; restore it from a backup if it is damaged`
        : `restore ${file} from a backup${options.isStartup ? ', or move it away so edgeproxy start creates a fresh one' : ''}${meanwhile}`
      break
    case 'incomplete':
      suggestion = `let the copy finish; replace ${path.basename(file)} by writing the new file next to it and moving it into place with mv (a copy over the file is not atomic)${meanwhile}`
      break
    case 'locked':
    case 'busy':
      suggestion = isCli
        ? `finish or roll back the transaction of the process holding ${file}, then run the command again`
        : `finish or roll back the other process's transaction on ${file}${atRun ? '; edgeproxy retries on the next reload, and a refused API write can be retried' : ', then start again'}`
      break
    default:
      suggestion = isCli ? `check ${file} with sqlite3 and run the command again` : `check ${file} with sqlite3${meanwhile}`
  }
  return new StoreError(problem, message, {suggestion, cause: options.cause})
}

interface FileIdentity {
  dev: number
  ino: number
}

const sameFile = (a: FileIdentity | undefined, b: FileIdentity | undefined) => a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino

export interface SqliteOpenOptions {
  /** Create the file and the table when absent (start-up); false when the file must exist. */
  create: boolean
  /** The setting and user for error messages; the proxy's by default. */
  context?: StoreContext
}

function sqliteCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as {code: unknown}).code) : ''
}

export function isBusyError(error: unknown): boolean {
  const code = sqliteCode(error)
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')
}

function problemOfErrno(code: string | undefined): StoreProblem | undefined {
  switch (code) {
    case 'ENOENT':
      return 'missing'
    case 'EACCES':
    case 'EPERM':
      return 'permission_denied'
    case 'EROFS':
      return 'read_only'
    default:
      return undefined
  }
}

const MAGIC = Buffer.from('SQLite format 3\0', 'latin1')
const HEADER_BYTES = 100

/**
 * The size the database header declares (page size × page count), or undefined when the header
 * does not say (the count is valid only while the version-valid-for number matches the change
 * counter; SQLite before 3.7.0 did not keep it).
 */
function declaredSize(header: Buffer): number | undefined {
  const raw = header.readUInt16BE(16)
  const pageSize = raw === 1 ? 65_536 : raw
  const pages = header.readUInt32BE(28)
  if (pageSize < 512 || pages === 0 || header.readUInt32BE(24) !== header.readUInt32BE(92)) return undefined
  return pageSize * pages
}

/**
 * What is at `file` now: its identity, or the reason it cannot be the routing store (missing,
 * permission denied, read-only, not a SQLite database, shorter than its header says: a copy in
 * progress). One open, a 100-byte read and an fstat. An empty file (which SQLite would take for a
 * new database and initialise) is accepted only at start-up.
 */
function inspectFile(file: string, context: StoreContext, isStartup: boolean): FileIdentity & {size: number} {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR)
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code
    if (errno === 'EISDIR') throw storeError('not_a_database', file, context, {isStartup, detail: 'a directory', cause: error})
    throw storeError(problemOfErrno(errno) ?? 'failed', file, context, {isStartup, detail: problemOfErrno(errno) ? undefined : errno, cause: error})
  }
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile()) throw storeError('not_a_database', file, context, {isStartup, detail: 'not a regular file'})
    if (st.size === 0) {
      if (!isStartup) throw storeError('not_a_database', file, context, {isStartup, detail: 'an empty file'})
      return {dev: st.dev, ino: st.ino, size: 0}
    }
    const head = Buffer.alloc(HEADER_BYTES)
    const n = fs.readSync(fd, head, 0, HEADER_BYTES, 0)
    if (n < MAGIC.length || !head.subarray(0, MAGIC.length).equals(MAGIC)) throw storeError('not_a_database', file, context, {isStartup})
    const declared = n < HEADER_BYTES ? Infinity : declaredSize(head)
    if (declared !== undefined && st.size < declared) {
      throw storeError('incomplete', file, context, {isStartup, detail: `${st.size} of ${declared === Infinity ? 'at least 100' : declared} bytes`})
    }
    return {dev: st.dev, ino: st.ino, size: st.size}
  } finally {
    fs.closeSync(fd)
  }
}

function identityOf(file: string): FileIdentity | undefined {
  try {
    const st = fs.statSync(file)
    return {dev: st.dev, ino: st.ino}
  } catch {
    return undefined
  }
}

/** A SQLite failure as a StoreError naming the cause; the directory is checked when SQLite could not open a file. */
function describeSqliteError(file: string, context: StoreContext, error: unknown, isStartup: boolean): StoreError {
  if (error instanceof StoreError) return error
  const code = sqliteCode(error)
  const detail = error instanceof Error ? error.message : String(error)
  if (isBusyError(error)) return storeError('locked', file, context, {isStartup, cause: error})
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return storeError('not_a_database', file, context, {isStartup, cause: error})
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_AUTH')) {
    // SQLite creates the -wal and -shm files next to the database: a directory it cannot write to
    // fails here even when the file itself is writable.
    try {
      fs.accessSync(path.dirname(file), fs.constants.W_OK)
    } catch {
      return storeError('read_only', file, context, {isStartup, cause: error})
    }
    return storeError(code.startsWith('SQLITE_READONLY') ? 'read_only' : 'permission_denied', file, context, {isStartup, detail, cause: error})
  }
  return storeError('failed', file, context, {isStartup, detail, cause: error})
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

interface OpenConnection {
  db: Database.Database
  identity: FileIdentity
  /** The -wal file this connection uses, once it exists (SQLite creates it at the first read). */
  wal?: FileIdentity
  selectAll: Database.Statement
  dataVersion: Database.Statement
}

export class SqliteRoutingStore {
  readonly kind = 'sqlite' as const
  /** Absolute path of the file. */
  readonly path: string
  readonly context: StoreContext
  /** True when open() created the file: a start-up that fails removes it again (removeIfCreated). */
  readonly isCreated: boolean
  private open_?: OpenConnection
  private lastDataVersion = -1
  /** Writes made through this connection: PRAGMA data_version counts only other connections' commits. */
  private localWrites = 0
  private lastLocalWrites = 0
  private readonly createdIdentity: FileIdentity

  private constructor(file: string, context: StoreContext, open: OpenConnection, isCreated: boolean) {
    this.path = file
    this.context = context
    this.open_ = open
    this.isCreated = isCreated
    this.createdIdentity = open.identity
  }

  /** Opens the store (creating the file and table when `create` and absent); throws StoreError. */
  static open(file: string, options: SqliteOpenOptions): SqliteRoutingStore {
    const absolute = path.resolve(file)
    const context = options.context ?? PROXY_STORE_CONTEXT
    const exists = fs.existsSync(absolute)
    if (!exists) {
      if (!fs.existsSync(path.dirname(absolute))) throw storeError('directory_missing', absolute, context, {isStartup: true})
      if (!options.create) throw storeError('missing', absolute, context, {isStartup: true})
    }
    const opened = SqliteRoutingStore.connect(absolute, context, {mayCreate: !exists, isStartup: true})
    return new SqliteRoutingStore(absolute, context, opened, !exists)
  }

  private static connect(file: string, context: StoreContext, options: {mayCreate: boolean; isStartup: boolean}): OpenConnection {
    if (!options.mayCreate) inspectFile(file, context, options.isStartup)
    let db: Database.Database | undefined
    try {
      db = new Database(file, {fileMustExist: !options.mayCreate})
      // At start-up another process may be creating the same file: wait for it a little.
      // A reopen at run time must never block the event loop, so it does not wait at all.
      db.pragma(`busy_timeout = ${options.isStartup ? 2000 : 0}`)
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = NORMAL')
      ensureSchema(db)
      db.pragma('busy_timeout = 0')
      const identity = identityOf(file)
      if (identity === undefined) throw storeError('missing', file, context, {isStartup: options.isStartup})
      return {
        db,
        identity,
        wal: identityOf(`${file}-wal`),
        selectAll: db.prepare(`SELECT * FROM ${BACKENDS_TABLE} ORDER BY id`),
        dataVersion: db.prepare('PRAGMA data_version').pluck(),
      }
    } catch (error) {
      db?.close()
      throw describeSqliteError(file, context, error, options.isStartup)
    }
  }

  describe(): string {
    return `sqlite:${this.path}`
  }

  /**
   * The connection to the file that is at the path now. A file replaced since the last call is
   * reopened (the old connection is closed first, so SQLite never touches the new file's WAL from
   * the old one); a missing, unreadable or garbled file throws StoreError and closes the
   * connection, so nothing is read from or written to a file the operator has taken away.
   */
  connection(): Database.Database {
    let current: FileIdentity
    try {
      current = inspectFile(this.path, this.context, false)
    } catch (error) {
      this.drop()
      throw error
    }
    const open = this.open_
    if (open !== undefined && sameFile(open.identity, current)) {
      // The WAL removed (or replaced) under an open connection: its writes would go to a file no
      // other process reads. Reopen: closing checkpoints what it holds into the (same) main file.
      const wal = identityOf(`${this.path}-wal`)
      if (open.wal === undefined) open.wal = wal
      else if (!sameFile(open.wal, wal)) this.drop()
      if (this.open_ !== undefined) return this.open_.db
    } else {
      this.drop()
    }
    this.open_ = SqliteRoutingStore.connect(this.path, this.context, {mayCreate: false, isStartup: false})
    this.lastDataVersion = -1
    return this.open_.db
  }

  /** Closes the current connection (a file that went away or was replaced). */
  private drop(): void {
    const open = this.open_
    this.open_ = undefined
    if (open?.db.open) open.db.close()
  }

  /** The open connection after connection() has checked it. */
  private get current(): OpenConnection {
    this.connection()
    return this.open_!
  }

  /**
   * Reads every row when the table changed since the last call (or the file was replaced);
   * returns null when nothing changed. Throws StoreError on a missing, locked or corrupt file,
   * leaving the caller's last table in place.
   */
  poll(): BackendRow[] | null {
    try {
      const open = this.current
      const version = open.dataVersion.get() as number
      if (version === this.lastDataVersion && this.localWrites === this.lastLocalWrites) return null
      const rows = open.selectAll.all() as BackendRow[]
      this.lastDataVersion = version
      this.lastLocalWrites = this.localWrites
      // Another process's writes stay in the WAL while this connection is open; move them into
      // the main file so the WAL never holds pages a restored or replaced file could inherit.
      this.checkpoint()
      return rows
    } catch (error) {
      throw describeSqliteError(this.path, this.context, error, false)
    }
  }

  /** Every row now, whether or not it changed. */
  readAll(): BackendRow[] {
    try {
      return this.current.selectAll.all() as BackendRow[]
    } catch (error) {
      throw describeSqliteError(this.path, this.context, error, false)
    }
  }

  /** A write was committed through connection(): the next poll() reads the table again. */
  noteWrite(): void {
    this.localWrites++
  }

  /**
   * Moves the WAL's pages into the main file and empties it (best effort, never waits): a WAL left
   * beside a file that is later deleted or replaced then holds nothing that could be replayed
   * into the wrong database.
   */
  checkpoint(): void {
    try {
      this.open_?.db.pragma('wal_checkpoint(TRUNCATE)')
    } catch {
      // Busy readers or a vanished file: the next write or reload tries again.
    }
  }

  close(): void {
    this.drop()
  }

  /**
   * After a failed start-up: closes the store and removes the file if open() created it and it
   * still is that file with no rows (nobody else has written to it meanwhile). Works whether or not
   * the store was closed already.
   */
  removeIfCreated(): void {
    this.drop()
    if (!this.isCreated || !sameFile(this.createdIdentity, identityOf(this.path))) return
    // A -wal or -shm left after closing means another process has the file open: keep it.
    if (fs.existsSync(`${this.path}-wal`) || fs.existsSync(`${this.path}-shm`)) return
    try {
      const db = new Database(this.path, {fileMustExist: true})
      try {
        if ((db.prepare(`SELECT count(*) FROM ${BACKENDS_TABLE}`).pluck().get() as number) > 0) return
      } finally {
        db.close()
      }
    } catch {
      return
    }
    fs.rmSync(this.path, {force: true})
  }
}
