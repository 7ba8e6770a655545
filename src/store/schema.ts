// The one `backends` table both stores use, declared the way Corrosion accepts it (NOT NULL primary
// key, a DEFAULT on every NOT NULL column, no UNIQUE, no foreign keys), plus the mapping from a
// stored row to the balancer's Backend. Columns are only ever appended: Corrosion refuses any edit
// to an existing column's text, so never change a definition below, add a new column instead. A new
// column is NOT NULL with a DEFAULT, or nullable (rows written before it, or by SQL, hold NULL).
import {CHECK_TYPES, type Backend, type CheckType} from '../balancer/backend.js'

export interface Column {
  name: string
  /** The column's definition after its name, exactly as it goes into CREATE TABLE. */
  definition: string
  /** What the column holds, for the README and `--help`. */
  doc: string
}

export const BACKENDS_TABLE = 'backends'

export const BACKEND_COLUMNS: readonly Column[] = [
  {name: 'id', definition: 'TEXT NOT NULL PRIMARY KEY', doc: 'unique backend id, 1-64 of [A-Za-z0-9._-]'},
  {name: 'app', definition: "TEXT NOT NULL DEFAULT ''", doc: 'application the backend serves'},
  {name: 'region', definition: "TEXT NOT NULL DEFAULT ''", doc: 'region: sa, us, eu or ap'},
  {name: 'wg_ip', definition: "TEXT NOT NULL DEFAULT ''", doc: 'address the proxy dials (IPv4 or IPv6 literal, usually a WireGuard address)'},
  {name: 'port', definition: 'INTEGER NOT NULL DEFAULT 0', doc: 'TCP port the proxy dials'},
  {name: 'healthy', definition: 'INTEGER NOT NULL DEFAULT 1', doc: '1 takes traffic, 0 does not (disable/enable)'},
  {name: 'weight', definition: 'INTEGER NOT NULL DEFAULT 2', doc: 'relative capacity; 0 counts as 1'},
  {name: 'soft_limit', definition: 'INTEGER NOT NULL DEFAULT 100', doc: 'connections at which load_factor reaches 1; 0 counts as 1'},
  {name: 'hard_limit', definition: 'INTEGER NOT NULL DEFAULT 150', doc: 'connections per POP never exceeded; 0 = no limit'},
  {name: 'deleted', definition: 'INTEGER NOT NULL DEFAULT 0', doc: 'unused since deregister deletes the row; a row with 1 (older versions, or SQL) counts as absent everywhere'},
  {name: 'country', definition: "TEXT NOT NULL DEFAULT ''", doc: "ISO 3166 alpha-2 country of the backend; '' = unknown"},
  {name: 'draining', definition: 'INTEGER NOT NULL DEFAULT 0', doc: '1 = no new connections, open ones continue'},
  {name: 'lease_expires_at_ms', definition: 'INTEGER NOT NULL DEFAULT 0', doc: 'unix ms when the heartbeat lease runs out; 0 = no lease, never expires'},
  {name: 'heartbeat_at_ms', definition: 'INTEGER NOT NULL DEFAULT 0', doc: 'unix ms of the last stored heartbeat; 0 = never'},
  {name: 'registered_at_ms', definition: 'INTEGER NOT NULL DEFAULT 0', doc: 'unix ms of the first registration; 0 = inserted by SQL'},
  {name: 'updated_at_ms', definition: 'INTEGER NOT NULL DEFAULT 0', doc: 'unix ms of the last change made by edgeproxy'},
  {name: 'wg_ip6', definition: "TEXT NOT NULL DEFAULT ''", doc: "IPv6 address of a dual-stack backend, for DNS AAAA answers beside wg_ip's; '' = none (the proxy dials wg_ip)"},
  {name: 'check_type', definition: "TEXT NOT NULL DEFAULT ''", doc: "active check: tcp, tls, http or none (never checked); '' = EDGEPROXY_HEALTH_CHECK_TYPE"},
  {name: 'check_port', definition: 'INTEGER NOT NULL DEFAULT 0', doc: 'port the active check connects to; 0 = EDGEPROXY_HEALTH_CHECK_PORT, else the data port'},
  {name: 'check_path', definition: "TEXT NOT NULL DEFAULT ''", doc: "path of an http check; '' = EDGEPROXY_HEALTH_CHECK_PATH"},
  {name: 'drained_at_ms', definition: 'INTEGER NOT NULL DEFAULT 0', doc: 'unix ms of the last drain through edgeproxy; 0 = never'},
  {name: 'disabled_at_ms', definition: 'INTEGER NOT NULL DEFAULT 0', doc: 'unix ms of the last disable through edgeproxy; 0 = never'},
  {name: 'enabled_at_ms', definition: 'INTEGER NOT NULL DEFAULT 0', doc: 'unix ms of the last enable through edgeproxy; 0 = never'},
  {
    name: 'registered_by',
    definition: 'TEXT',
    doc: "the POP whose Auto-Discovery API took the last register, by its EDGEPROXY_REGION; NULL = written by SQL or by a backend command's --db/--corrosion-url",
  },
]

export const BACKEND_COLUMN_NAMES: readonly string[] = BACKEND_COLUMNS.map((c) => c.name)

/** The value SQLite gives a row that lacks the column (its `DEFAULT` literal; null when it has none). */
export function columnDefault(column: Column): string | number | null {
  const m = /\bDEFAULT\s+('(?:[^']|'')*'|-?\d+)/i.exec(column.definition)
  if (!m) return null
  const literal = m[1]!
  return literal.startsWith("'") ? literal.slice(1, -1).replaceAll("''", "'") : Number(literal)
}

/** `CREATE TABLE backends (...)`; with `ifNotExists` for the local SQLite store. */
export function backendsTableDdl(options: {ifNotExists?: boolean} = {}): string {
  const cols = BACKEND_COLUMNS.map((c) => `    ${c.name} ${c.definition}`).join(',\n')
  return `CREATE TABLE ${options.ifNotExists ? 'IF NOT EXISTS ' : ''}${BACKENDS_TABLE} (\n${cols}\n);\n`
}

/** The row as SQLite returns it; older or hand-made tables may hold NULLs or miss columns. */
export type BackendRow = Partial<Record<(typeof BACKEND_COLUMNS)[number]['name'], unknown>> & Record<string, unknown>

function int(value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value)
  if (typeof value === 'bigint') return Number(value)
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value)
  return 0
}

function text(value: unknown): string {
  if (typeof value === 'string') return value.trim()
  if (typeof value === 'number' || typeof value === 'bigint') return String(value)
  return ''
}

const unbracket = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host)

/** An unknown check type (a row written by hand) falls back to the POP's global one. */
function checkType(value: unknown): CheckType | '' {
  const t = text(value).toLowerCase()
  return (CHECK_TYPES as readonly string[]).includes(t) ? (t as CheckType) : ''
}

/**
 * Drained or disabled: the last operator action wins by its time. Replication merges column by
 * column (Corrosion's cr-sqlite decides two writes to one column by version count, then value, never
 * by time), so a drain at one POP and an enable at another, made before either saw the other, can
 * leave `draining` as the one written more often. Each action also stamps its own column, and the
 * latest stamp decides; a tie goes to enable. Rows no edgeproxy action touched (inserted or edited
 * by SQL) keep `healthy` and `draining` as written.
 */
function operatorState(row: BackendRow): {isHealthy: boolean; isDraining: boolean} {
  const drainedAt = int(row.drained_at_ms)
  const disabledAt = int(row.disabled_at_ms)
  const enabledAt = int(row.enabled_at_ms)
  if (drainedAt === 0 && disabledAt === 0 && enabledAt === 0) return {isHealthy: int(row.healthy) === 1, isDraining: int(row.draining) === 1}
  return {isHealthy: disabledAt <= enabledAt, isDraining: drainedAt > enabledAt}
}

export type RowResult =
  | {backend: Backend; problem?: undefined; isAbsent?: undefined}
  | {backend?: undefined; problem: string; isAbsent?: undefined}
  | {backend?: undefined; problem?: undefined; isAbsent: true}

/**
 * Maps a stored row to a Backend, or says why the row cannot be routed to. A row marked
 * deleted = 1 (older versions kept tombstones) is absent: no backend and no problem.
 */
export function rowToBackend(row: BackendRow): RowResult {
  if (int(row.deleted) === 1) return {isAbsent: true}
  // The id is the key every command and URL uses: kept exactly as stored, never trimmed.
  const id = typeof row.id === 'string' ? row.id : text(row.id)
  if (id === '') return {problem: 'empty id'}
  const host = text(row.wg_ip)
  const port = int(row.port)
  if (host === '') return {problem: `backend ${JSON.stringify(id)} has no wg_ip`}
  if (port < 1 || port > 65_535) return {problem: `backend ${JSON.stringify(id)} has port ${JSON.stringify(row.port)} (1-65535 expected)`}
  const checkPort = int(row.check_port)
  return {
    backend: {
      id,
      app: text(row.app),
      region: text(row.region).toLowerCase(),
      country: text(row.country).toUpperCase(),
      host: unbracket(host),
      // Only when set, so single-address backends keep the shape they always had.
      ...(text(row.wg_ip6) === '' ? {} : {host6: unbracket(text(row.wg_ip6))}),
      port,
      ...operatorState(row),
      weight: Math.max(0, int(row.weight)),
      softLimit: Math.max(0, int(row.soft_limit)),
      hardLimit: Math.max(0, int(row.hard_limit)),
      leaseExpiresAtMs: int(row.lease_expires_at_ms),
      heartbeatAtMs: int(row.heartbeat_at_ms),
      registeredAtMs: int(row.registered_at_ms),
      updatedAtMs: int(row.updated_at_ms),
      checkType: checkType(row.check_type),
      checkPort: checkPort >= 1 && checkPort <= 65_535 ? checkPort : 0,
      checkPath: text(row.check_path),
      // Only when known: rows written by SQL (or before the column existed) hold NULL.
      ...(text(row.registered_by) === '' ? {} : {registeredBy: text(row.registered_by)}),
    },
  }
}

/** Maps rows, collecting the ones that cannot be routed (with the reason) instead of failing. */
export function rowsToBackends(rows: readonly BackendRow[]): {backends: Backend[]; problems: string[]} {
  const backends: Backend[] = []
  const problems: string[] = []
  for (const row of rows) {
    const r = rowToBackend(row)
    if (r.backend) backends.push(r.backend)
    else if (r.problem !== undefined) problems.push(r.problem)
  }
  backends.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return {backends, problems}
}
