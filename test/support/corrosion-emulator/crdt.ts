// cr-sqlite's merge rules as the emulated agent applies them (vlcn-io/cr-sqlite core/rs/core/src:
// local_writes/*, changes_vtab_write.rs, compare_values.rs; Corrosion turns on merge-equal-values in
// crates/corro-types/src/agent.rs). Each row has a causal length (odd: it exists, even: deleted) kept
// in its sentinel clock '-1'; each column a version counter. A change from another agent carries the
// row's causal length and, per changed column, its value, version and site:
//   - a smaller causal length is ignored; a larger even one deletes the row (a delete beats every
//     concurrent update); a larger odd one resurrects it (its column clocks restart at 0, so the
//     incoming columns win);
//   - with equal causal lengths each column is merged alone: the higher version wins, then the
//     larger value (cr-sqlite's order: INTEGER > REAL > TEXT > BLOB > NULL, then by value), then
//     the larger site id. Time is never compared.
// Local writes bump the version of every column they really change (an UPDATE to the same value
// changes nothing); an INSERT marks every column; a DELETE drops the column clocks.
import type Database from 'better-sqlite3'

import {quoteIdent} from './sql.js'
import type {EmuSchema, EmuTable} from './schema.js'

export const CLOCK_TABLE = '__corro_emu_clock'
/** The sentinel column: its version is the row's causal length. */
const SENTINEL = '-1'

export interface ColumnChange {
  value: unknown
  version: number
  site: string
}

/** One row's change as it travels between agents. */
export interface RowChange {
  table: string
  /** JSON array of the primary-key values. */
  pk: string
  /** Causal length: odd, the row exists; even, it was deleted. */
  cl: number
  /** The changed columns (every column after an insert); none for a delete. */
  columns: Record<string, ColumnChange>
  /** Site (actor id) that last set the causal length. */
  site: string
}

/** A change logged by the emulator's triggers, in commit order. */
export interface LoggedChange {
  tbl: string
  pk: string
  col: string
  kind: 'insert' | 'update' | 'delete'
}

export function ensureClocks(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS ${CLOCK_TABLE} (tbl TEXT NOT NULL, pk TEXT NOT NULL, col TEXT NOT NULL, version INTEGER NOT NULL, site TEXT NOT NULL, PRIMARY KEY (tbl, pk, col)) WITHOUT ROWID`)
}

function clock(db: Database.Database, tbl: string, pk: string, col: string): {version: number; site: string} | undefined {
  const r = db.prepare(`SELECT version, site FROM ${CLOCK_TABLE} WHERE tbl = ? AND pk = ? AND col = ?`).get(tbl, pk, col) as {version: number | bigint; site: string} | undefined
  return r === undefined ? undefined : {version: Number(r.version), site: r.site}
}

function setClock(db: Database.Database, tbl: string, pk: string, col: string, version: number, site: string): void {
  db.prepare(`INSERT INTO ${CLOCK_TABLE} (tbl, pk, col, version, site) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tbl, pk, col) DO UPDATE SET version = excluded.version, site = excluded.site`).run(
    tbl,
    pk,
    col,
    version,
    site,
  )
}

function causalLength(db: Database.Database, tbl: string, pk: string): number {
  return clock(db, tbl, pk, SENTINEL)?.version ?? 0
}

function where(table: EmuTable): string {
  return table.pk.map((p, i) => `${quoteIdent(p)} = json_extract(?, '$[${i}]')`).join(' AND ')
}

function readRow(db: Database.Database, table: EmuTable, pk: string): Record<string, unknown> | undefined {
  return db.prepare(`SELECT * FROM ${quoteIdent(table.name)} WHERE ${where(table)}`).get(...table.pk.map(() => pk)) as Record<string, unknown> | undefined
}

const nonPk = (table: EmuTable) => table.columns.map((c) => c.name).filter((c) => !table.pk.includes(c))

/**
 * Local writes → clocks (cr-sqlite's after_insert / after_update / after_delete) and the changes to
 * send: per touched row, its causal length and the columns written, with their values.
 */
export function recordLocal(db: Database.Database, schema: EmuSchema, log: readonly LoggedChange[], site: string): RowChange[] {
  const touched = new Map<string, {table: EmuTable; pk: string; columns: Set<string>}>()
  for (const entry of log) {
    const table = schema.get(entry.tbl)
    if (!table) continue
    const key = `${entry.tbl}\u0000${entry.pk}`
    const row = touched.get(key) ?? {table, pk: entry.pk, columns: new Set<string>()}
    touched.set(key, row)
    const bump = (col: string) => setClock(db, entry.tbl, entry.pk, col, (clock(db, entry.tbl, entry.pk, col)?.version ?? 0) + 1, site)
    if (entry.kind === 'insert') {
      const cl = causalLength(db, entry.tbl, entry.pk)
      setClock(db, entry.tbl, entry.pk, SENTINEL, cl === 0 ? 1 : cl % 2 === 0 ? cl + 1 : cl + 2, site)
      for (const col of nonPk(table)) {
        bump(col)
        row.columns.add(col)
      }
    } else if (entry.kind === 'update') {
      bump(entry.col)
      row.columns.add(entry.col)
    } else {
      const cl = causalLength(db, entry.tbl, entry.pk)
      setClock(db, entry.tbl, entry.pk, SENTINEL, cl === 0 ? 2 : cl + 1, site)
      db.prepare(`DELETE FROM ${CLOCK_TABLE} WHERE tbl = ? AND pk = ? AND col != ?`).run(entry.tbl, entry.pk, SENTINEL)
      row.columns.clear()
    }
  }
  const out: RowChange[] = []
  for (const {table, pk, columns} of touched.values()) {
    const cl = causalLength(db, table.name, pk)
    const change: RowChange = {table: table.name, pk, cl, columns: {}, site}
    const current = cl % 2 === 1 ? readRow(db, table, pk) : undefined
    if (current) {
      for (const col of columns) {
        const c = clock(db, table.name, pk, col)
        if (c) change.columns[col] = {value: current[col], version: c.version, site: c.site}
      }
    }
    out.push(change)
  }
  return out
}

/** cr-sqlite's ordinal of a value's type: INTEGER 1, REAL 2, TEXT 3, BLOB 4, NULL 5. */
function typeOrdinal(v: unknown): number {
  // The agent's database reads integers as bigint (defaultSafeIntegers), so a number is a REAL.
  if (typeof v === 'bigint') return 1
  if (typeof v === 'number') return 2
  if (typeof v === 'string') return 3
  if (Buffer.isBuffer(v)) return 4
  return 5
}

/** crsql_compare_sqlite_values: > 0 when `a` is the larger (a smaller type ordinal is larger; NULL is least). */
export function compareValues(a: unknown, b: unknown): number {
  const ta = typeOrdinal(a)
  const tb = typeOrdinal(b)
  if (ta !== tb) return tb - ta
  if (ta === 1) {
    return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0
  }
  if (ta === 2) return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0
  if (ta === 3) return Buffer.compare(Buffer.from(a as string, 'utf8'), Buffer.from(b as string, 'utf8'))
  if (ta === 4) return Buffer.compare(a as Buffer, b as Buffer)
  return 0
}

/**
 * Merges another agent's change into this database (changes_vtab_write.rs merge_insert). Returns
 * whether anything was written.
 */
export function mergeRemote(db: Database.Database, schema: EmuSchema, change: RowChange): boolean {
  const table = schema.get(change.table)
  if (!table) return false
  const t = quoteIdent(table.name)
  const pkValues = JSON.parse(change.pk) as unknown[]
  const local = causalLength(db, table.name, change.pk)
  if (change.cl < local) return false
  if (change.cl % 2 === 0) {
    if (change.cl === local) return false
    db.prepare(`DELETE FROM ${t} WHERE ${where(table)}`).run(...table.pk.map(() => change.pk))
    setClock(db, table.name, change.pk, SENTINEL, change.cl, change.site)
    db.prepare(`DELETE FROM ${CLOCK_TABLE} WHERE tbl = ? AND pk = ? AND col != ?`).run(table.name, change.pk, SENTINEL)
    return true
  }
  const pkList = table.pk.map(quoteIdent).join(', ')
  const pkParams = table.pk.map(() => '?').join(', ')
  const needsResurrect = change.cl > local
  let isWritten = false
  if (needsResurrect) {
    db.prepare(`INSERT INTO ${t} (${pkList}) VALUES (${pkParams}) ON CONFLICT DO NOTHING`).run(...(pkValues as never[]))
    db.prepare(`UPDATE ${CLOCK_TABLE} SET version = 0 WHERE tbl = ? AND pk = ? AND col != ?`).run(table.name, change.pk, SENTINEL)
    setClock(db, table.name, change.pk, SENTINEL, change.cl, change.site)
    isWritten = true
  }
  const known = new Set(nonPk(table))
  for (const [col, incoming] of Object.entries(change.columns)) {
    if (!known.has(col)) continue // a column this agent's schema does not have yet
    let wins = needsResurrect
    if (!wins) {
      const mine = clock(db, table.name, change.pk, col)
      if (mine === undefined || incoming.version > mine.version) wins = true
      else if (incoming.version === mine.version) {
        const current = readRow(db, table, change.pk)?.[col]
        const order = compareValues(incoming.value, current)
        wins = order > 0 || (order === 0 && incoming.site > mine.site)
      }
    }
    if (!wins) continue
    const c = quoteIdent(col)
    db.prepare(`INSERT INTO ${t} (${pkList}, ${c}) VALUES (${pkParams}, ?) ON CONFLICT (${pkList}) DO UPDATE SET ${c} = excluded.${c}`).run(
      ...(pkValues as never[]),
      incoming.value as never,
    )
    setClock(db, table.name, change.pk, col, incoming.version, incoming.site)
    isWritten = true
  }
  return isWritten
}
