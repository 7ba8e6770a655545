// `corrosion init-schema` without the CLI: writes backends.sql, applies it (POST /v1/migrations, else
// admin-socket Reload, else `corrosion reload`) and verifies via /v1/queries. It refuses what the agent
// would refuse before sending anything, and never sends DDL through /v1/transactions.
import fs from 'node:fs'
import path from 'node:path'

import {BACKEND_COLUMNS, BACKENDS_TABLE, backendsTableDdl} from '../store/schema.js'
import {DEFAULT_ADMIN_SOCKET, findCorrosionBinary, reloadSchema, runCorrosionReload} from './admin.js'
import type {CorrosionClient} from './client.js'
import {
  CorrosionAdminError,
  CorrosionErrorCode,
  CorrosionMigrationsUnsupportedError,
  CorrosionSchemaError,
} from './errors.js'
import {checkSchema, parseSchemaSql} from './schema-rules.js'
import {InvalidInputError, UnavailableError} from '../errors.js'

export const BACKENDS_SCHEMA_FILE = `${BACKENDS_TABLE}.sql`
export const CLOCK_SUFFIX = '__crsql_clock'

export type ApplyMethod = 'migrations' | 'admin-socket' | 'corrosion-reload' | 'already-applied'

export interface InitSchemaOptions {
  client: CorrosionClient
  schemaDir: string
  /** The agent's admin.path; when absent, the default socket is tried if it exists. */
  adminSocket?: string
  /** `corrosion` binary; undefined = look on PATH, null = never run it. */
  corrosionBinary?: string | null
  /** Agent config for `corrosion --config … reload`. */
  corrosionConfig?: string
  adminTimeoutMs?: number
  /** Progress lines for a person (stderr on a TTY); never data. */
  onProgress?: (line: string) => void
}

export interface ApplyAttempt {
  method: Exclude<ApplyMethod, 'already-applied'>
  outcome: 'applied' | 'unavailable'
  detail?: string
}

export interface InitSchemaResult {
  table: string
  file: string
  isFileWritten: boolean
  method: ApplyMethod
  isNewTable: boolean
  addedColumns: string[]
  columns: string[]
  isCrr: boolean
  attempts: ApplyAttempt[]
}

export interface AgentTableState {
  /** CREATE TABLE text from sqlite_master, undefined if the table does not exist. */
  sql?: string
  columns: string[]
  isCrr: boolean
}

/** What the agent has for a table, read through /v1/queries with bound parameters only. */
export async function readTableState(client: CorrosionClient, table: string): Promise<AgentTableState> {
  const master = await client.queryObjects(['SELECT name, sql FROM sqlite_master WHERE type = ? AND name IN (?, ?)', ['table', table, `${table}${CLOCK_SUFFIX}`]])
  const tableRow = master.find((r) => r.name === table)
  const isCrr = master.some((r) => r.name === `${table}${CLOCK_SUFFIX}`)
  const columns = tableRow ? (await client.queryObjects(['SELECT name FROM pragma_table_info(?)', [table]])).map((r) => String(r.name)) : []
  return {...(typeof tableRow?.sql === 'string' ? {sql: tableRow.sql} : {}), columns, isCrr}
}

function readSchemaDir(dir: string): {file: string; text: string}[] {
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new InvalidInputError(CorrosionErrorCode.config, `cannot read the schema directory ${dir} (${(error as NodeJS.ErrnoException).code})`, {
      suggestion: 'pass --schema-dir with a directory listed in the agent\'s db.schema_paths',
    })
  }
  return names
    .filter((n) => n.endsWith('.sql'))
    .map((n) => path.join(dir, n))
    .sort()
    .filter((f) => fs.statSync(f).isFile())
    .map((file) => ({file, text: fs.readFileSync(file, 'utf8')}))
}

/** Writes through a temporary file in the same directory and a rename, so the agent never reads half a file. */
export function writeFileAtomic(file: string, text: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), {recursive: true})
  // The temporary name does not end in .sql: Corrosion only reads *.sql files from a directory.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  const fd = fs.openSync(tmp, 'w', mode)
  try {
    fs.writeSync(fd, text)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, file)
}

/** True when `text` declares exactly the table of `ddl` (comments and spacing aside), e.g. bootstrap's file. */
function definesSameTable(text: string, ddl: string): boolean {
  if (text === ddl) return true
  const a = parseSchemaSql(text).schema
  const b = parseSchemaSql(ddl).schema
  if (!a || !b || a.tables.size !== 1 || a.droppedIndexes.length > 0) return false
  const [ta, tb] = [a.tables.get(BACKENDS_TABLE), b.tables.get(BACKENDS_TABLE)]
  if (!ta || !tb || ta.indexes.length > 0) return false
  return ta.columns.map((c) => c.key).join('\n') === tb.columns.map((c) => c.key).join('\n')
}

function refuse(violations: string[], where?: string): never {
  throw new CorrosionSchemaError(`Corrosion would refuse the schema${where ? ` in ${where}` : ''}: ${violations[0]}`, violations)
}

export async function initSchema(options: InitSchemaOptions): Promise<InitSchemaResult> {
  const {client} = options
  const progress = options.onProgress ?? (() => {})
  const ddl = backendsTableDdl()
  const file = path.resolve(options.schemaDir, BACKENDS_SCHEMA_FILE)

  // 1. The script the agent will read: every *.sql of the directory, ours replaced, joined like Corrosion joins them.
  const others = readSchemaDir(options.schemaDir).filter((f) => f.file !== file)
  for (const other of others) {
    const parsed = parseSchemaSql(other.text)
    if (parsed.error) refuse([parsed.error], other.file)
  }
  const script = [...others, {file, text: ddl}]
    .sort((a, b) => (a.file < b.file ? -1 : 1))
    .map((f) => f.text)
    .join(';')

  // 2. What the agent has now, so the check is against the merged schema, as the agent does it.
  const state = await readTableState(client, BACKENDS_TABLE)
  if (state.sql !== undefined && !state.isCrr) {
    // Created outside Corrosion's schema (e.g. through /v1/transactions): the agent adopts it only if it matches exactly.
    const wanted = BACKEND_COLUMNS.map((c) => c.name)
    if (state.columns.join(',') !== wanted.join(',')) {
      refuse([`existing schema for table '${BACKENDS_TABLE}' columns mismatched, expected: ${wanted.join(',')}, got: ${state.columns.join(',')}`])
    }
  }
  const check = checkSchema(script, state.isCrr && state.sql ? [state.sql] : [])
  if (check.violations.length > 0) refuse(check.violations)
  const addedColumns = check.addedColumns[BACKENDS_TABLE] ?? []
  const isNewTable = !state.isCrr
  const needsApply = isNewTable || addedColumns.length > 0

  // 3. The file, only rewritten when it differs (idempotent).
  let current: string | undefined
  try {
    current = fs.readFileSync(file, 'utf8')
  } catch {
    current = undefined
  }
  const isFileWritten = current === undefined || !definesSameTable(current, ddl)
  if (isFileWritten) {
    writeFileAtomic(file, ddl)
    progress(`wrote ${file}`)
  }

  // 4. Apply.
  const attempts: ApplyAttempt[] = []
  let method: ApplyMethod = 'already-applied'
  if (needsApply) method = await apply(options, ddl, attempts, progress)

  // 5. Verify through /v1/queries.
  const after = await readTableState(client, BACKENDS_TABLE)
  const missing = BACKEND_COLUMNS.map((c) => c.name).filter((c) => !after.columns.includes(c))
  if (missing.length > 0 || !after.isCrr) {
    const what = missing.length > 0 ? `lacks column(s) ${missing.join(', ')}` : `has no ${BACKENDS_TABLE}${CLOCK_SUFFIX} (not replicated)`
    throw new InvalidInputError(CorrosionErrorCode.schemaMismatch, `after ${method}, table ${BACKENDS_TABLE} on ${client.url} ${what}`, {
      suggestion: `make ${path.resolve(options.schemaDir)} one of the agent's db.schema_paths (restart the agent after editing its config), then run init-schema again`,
    })
  }
  return {table: BACKENDS_TABLE, file, isFileWritten, method, isNewTable, addedColumns, columns: after.columns, isCrr: after.isCrr, attempts}
}

async function apply(options: InitSchemaOptions, ddl: string, attempts: ApplyAttempt[], progress: (line: string) => void): Promise<ApplyMethod> {
  try {
    await options.client.migrations([ddl])
    attempts.push({method: 'migrations', outcome: 'applied'})
    progress('applied through POST /v1/migrations')
    return 'migrations'
  } catch (error) {
    if (!(error instanceof CorrosionMigrationsUnsupportedError)) throw error
    attempts.push({method: 'migrations', outcome: 'unavailable', detail: 'POST /v1/migrations answered 404'})
  }

  const socket = options.adminSocket ?? (fs.existsSync(DEFAULT_ADMIN_SOCKET) ? DEFAULT_ADMIN_SOCKET : undefined)
  if (socket !== undefined) {
    try {
      await reloadSchema(socket, {timeoutMs: options.adminTimeoutMs})
      attempts.push({method: 'admin-socket', outcome: 'applied', detail: socket})
      progress(`reloaded through the admin socket ${socket}`)
      return 'admin-socket'
    } catch (error) {
      if (!(error instanceof CorrosionAdminError)) throw error
      attempts.push({method: 'admin-socket', outcome: 'unavailable', detail: error.message})
    }
  } else {
    attempts.push({method: 'admin-socket', outcome: 'unavailable', detail: `no socket at ${DEFAULT_ADMIN_SOCKET}`})
  }

  const binary = options.corrosionBinary === null ? undefined : (options.corrosionBinary ?? findCorrosionBinary())
  if (binary !== undefined) {
    try {
      await runCorrosionReload({binary, adminPath: socket, configPath: options.corrosionConfig, timeoutMs: options.adminTimeoutMs})
      attempts.push({method: 'corrosion-reload', outcome: 'applied', detail: binary})
      progress(`reloaded with ${binary} reload`)
      return 'corrosion-reload'
    } catch (error) {
      if (!(error instanceof CorrosionAdminError)) throw error
      attempts.push({method: 'corrosion-reload', outcome: 'unavailable', detail: error.message})
    }
  } else {
    attempts.push({method: 'corrosion-reload', outcome: 'unavailable', detail: 'no corrosion binary on PATH'})
  }

  throw new UnavailableError(
    CorrosionErrorCode.noApplyPath,
    `the schema file is written but nothing could apply it: ${attempts.map((a) => `${a.method}: ${a.detail}`).join('; ')}`,
    {suggestion: 'pass --admin-socket with the agent\'s admin.path, put the corrosion binary on PATH, or restart the agent (systemctl restart corrosion)'},
  )
}
