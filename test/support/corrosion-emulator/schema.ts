// Schema files as the emulated agent applies them (corrosion-api.md §8.1–8.2): parse (only CREATE
// TABLE / CREATE INDEX / DROP INDEX IF EXISTS), constrain the merged schema, then apply: new tables
// become "CRRs" (a <table>__crsql_clock table plus change-capture triggers), existing tables may only
// gain columns. Every refusal carries Corrosion's or cr-sqlite's exact text.
import fs from 'node:fs'
import path from 'node:path'

import Database from 'better-sqlite3'

import {ensureClocks} from './crdt.js'
import {kw, lex, meaningful, quoteIdent, renderCmd, statements, unq, type Tok} from './sql.js'

export class SchemaRefused extends Error {}

export interface EmuColumn {
  name: string
  /** The full column definition text, name included. */
  text: string
  /** Compared to detect an edited column (Corrosion compares parsed ASTs). */
  key: string
  hasReferences: boolean
}

export interface EmuIndex {
  name: string
  table: string
  unique: boolean
  /** Text after the index name, normalized; an index whose key changes is dropped and recreated. */
  key: string
  /** CREATE INDEX text without UNIQUE / IF NOT EXISTS, as Corrosion recreates it. */
  createSql: string
}

export interface EmuTable {
  name: string
  columns: EmuColumn[]
  pk: string[]
  pkExpr: boolean
  createSql: string
  indexes: Map<string, EmuIndex>
}

export type EmuSchema = Map<string, EmuTable>

const CONSTRAINT_WORDS = new Set(['CONSTRAINT', 'PRIMARY', 'NOT', 'NULL', 'UNIQUE', 'CHECK', 'DEFAULT', 'COLLATE', 'REFERENCES', 'GENERATED', 'AS'])
const TABLE_CONSTRAINT_WORDS = new Set(['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN'])

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim()

function groups(toks: Tok[]): Tok[][] {
  const out: Tok[][] = [[]]
  let depth = 0
  for (const k of toks) {
    if (k.s === '(') depth++
    if (k.s === ')') depth--
    if (depth === 0 && k.s === ',') out.push([])
    else out.at(-1)!.push(k)
  }
  return out.filter((g) => g.length > 0)
}

function key(toks: Tok[], keepFirst: boolean): string {
  let isType = true
  return toks
    .map((k, i) => {
      if (i === 0 && keepFirst) return unq(k.s)
      if (k.t === 'word' && CONSTRAINT_WORDS.has(k.s.toUpperCase())) isType = false
      if (k.t === 'qid') return unq(k.s)
      return k.t === 'word' && !isType ? k.s.toUpperCase() : k.s
    })
    .join(' ')
}

function closing(toks: Tok[], open: number): number {
  let depth = 0
  for (let i = open; i < toks.length; i++) {
    if (toks[i]!.s === '(') depth++
    if (toks[i]!.s === ')' && --depth === 0) return i
  }
  return -1
}

/** Corrosion's parse_sql_to_schema over a joined script. */
export function parseSchema(script: string): EmuSchema {
  const schema: EmuSchema = new Map()
  const dropped: string[] = []
  for (const st of statements(script)) {
    const m = meaningful(st.toks)
    const text = oneLine(st.text)
    if (kw(m[0], 'CREATE') && kw(m[1], 'TEMP', 'TEMPORARY')) throw new SchemaRefused(`temporary tables are not supported: ${renderCmd(m)}`)
    if (kw(m[0], 'CREATE') && kw(m[1], 'TABLE')) {
      let i = 2
      if (kw(m[i], 'IF')) i += 3
      if (m[i + 1]?.s === '.') i += 2
      const nameTok = m[i]
      if (!nameTok) throw new SchemaRefused(`near "${text}": syntax error`)
      const name = unq(nameTok.s)
      if (kw(m[i + 1], 'AS')) throw new SchemaRefused(`temporary tables are not supported: ${renderCmd(m)}`)
      const open = i + 1
      if (m[open]?.s !== '(') throw new SchemaRefused(`near "${m[open]?.s ?? ''}": syntax error`)
      const close = closing(m, open)
      if (close < 0) throw new SchemaRefused('incomplete input')
      const table: EmuTable = {name, columns: [], pk: [], pkExpr: false, createSql: '', indexes: new Map()}
      let tablePk: string[] | undefined
      for (const g of groups(m.slice(open + 1, close))) {
        if (g[0]!.t === 'word' && TABLE_CONSTRAINT_WORDS.has(g[0]!.s.toUpperCase())) {
          const at = g.findIndex((k, j) => kw(k, 'PRIMARY') && kw(g[j + 1], 'KEY'))
          if (at >= 0) {
            const o = at + 2
            tablePk = []
            for (const item of groups(g.slice(o + 1, closing(g, o)))) {
              const plain = (item[0]!.t === 'word' || item[0]!.t === 'qid') && item.slice(1).every((k, j, rest) => kw(k, 'ASC', 'DESC', 'COLLATE') || kw(rest[j - 1], 'COLLATE'))
              if (plain) tablePk.push(unq(item[0]!.s))
              else table.pkExpr = true
            }
          }
          continue
        }
        table.columns.push({
          name: unq(g[0]!.s),
          text: script.slice(g[0]!.at, g.at(-1)!.at + g.at(-1)!.s.length),
          key: key(g, true),
          hasReferences: g.some((k) => kw(k, 'REFERENCES')),
        })
      }
      table.pk =
        tablePk ??
        table.columns
          .filter((c) => {
            const t = meaningful(lex(c.text))
            return t.some((k, j) => kw(k, 'PRIMARY') && kw(t[j + 1], 'KEY'))
          })
          .map((c) => c.name)
      table.createSql = `CREATE TABLE ${nameTok.s} ${script.slice(m[open]!.at, m.at(-1)!.at + m.at(-1)!.s.length)}`
      schema.set(name, table)
      continue
    }
    const unique = kw(m[0], 'CREATE') && kw(m[1], 'UNIQUE') && kw(m[2], 'INDEX')
    if (kw(m[0], 'CREATE') && (kw(m[1], 'INDEX') || unique)) {
      let i = unique ? 3 : 2
      if (kw(m[i], 'IF')) i += 3
      const name = unq(m[i]?.s ?? '')
      const on = m.findIndex((k, j) => j > i && kw(k, 'ON'))
      const tableName = unq(m[on + 1]?.s ?? '')
      const table = schema.get(tableName)
      if (!table) throw new SchemaRefused(`missing table for index (table: '${tableName}', index: '${name}')`)
      const rest = script.slice(m[on]!.at, m.at(-1)!.at + m.at(-1)!.s.length)
      table.indexes.set(name, {name, table: tableName, unique, key: key(m.slice(on), false), createSql: `CREATE INDEX ${quoteIdent(name)} ${rest}`})
      continue
    }
    if (kw(m[0], 'DROP') && kw(m[1], 'INDEX')) {
      const ifExists = kw(m[2], 'IF') && kw(m[3], 'EXISTS')
      const name = unq(m[ifExists ? 4 : 2]?.s ?? '')
      if (!ifExists) throw new SchemaRefused(`DROP INDEX without IF EXISTS is not supported; use 'DROP INDEX IF EXISTS ${name}'`)
      dropped.push(name)
      continue
    }
    throw new SchemaRefused(`unsupported command: ${renderCmd(m)}`)
  }
  for (const name of dropped) {
    for (const t of schema.values()) {
      if (t.indexes.has(name)) throw new SchemaRefused(`DROP INDEX conflicts with a CREATE INDEX in the same schema for '${name}' (would cause create/destroy loop)`)
    }
  }
  return schema
}

interface ColumnInfo {
  name: string
  notnull: number
  dflt_value: unknown
  pk: number
}

/** Corrosion's Schema::constrain, with NOT NULL / DEFAULT / PK read from SQLite itself. */
function constrain(schema: EmuSchema): void {
  const scratch = new Database(':memory:')
  try {
    for (const table of schema.values()) {
      if (table.pkExpr) throw new SchemaRefused('expr used as primary')
      try {
        scratch.exec(table.createSql)
      } catch (error) {
        throw new SchemaRefused((error as Error).message)
      }
      const info = scratch.prepare('SELECT name, "notnull", dflt_value, pk FROM pragma_table_info(?)').all(table.name) as ColumnInfo[]
      for (const col of table.columns) {
        const i = info.find((c) => c.name === col.name)
        // Column::primary_key is `pk.contains(&def.col_name.0)`: the name token as written, so a
        // quoted PK column ("id") counts as not-primary here (corro-types schema.rs prepare_table).
        const isPrimary = table.pk.includes(col.name) && /^[A-Za-z_\u0080-\uffff]/.test(col.text)
        if (i && i.notnull === 1 && i.dflt_value === null && !isPrimary) {
          throw new SchemaRefused(`not nullable column '${col.name}' on table '${table.name}' needs a default value for forward schema compatibility`)
        }
        if (col.hasReferences) throw new SchemaRefused(`foreign keys are not supported (table: '${table.name}', column: '${col.name}')`)
      }
      for (const index of table.indexes.values()) if (index.unique) throw new SchemaRefused(`unique indexes are not supported: ${index.name}`)
    }
  } finally {
    scratch.close()
  }
}

/** cr-sqlite's crsql_as_crr compatibility checks, in its order, on the live table. */
function asCrr(db: Database.Database, t: string): void {
  const count = (sql: string, ...args: unknown[]) => (db.prepare(sql).pluck().get(...args) as number | bigint | undefined) ?? 0
  if (Number(count(`SELECT count(*) FROM pragma_index_list(?) WHERE origin != 'pk' AND "unique" = 1`, t)) > 0) {
    throw new SchemaRefused(`Table ${t} has unique indices besidesthe primary key. This is not allowed for CRRs`)
  }
  const pks = Number(count('SELECT count(*) FROM pragma_table_info(?) WHERE pk > 0', t))
  const notNullPks = Number(count('SELECT count(*) FROM pragma_table_info(?) WHERE pk > 0 AND "notnull" > 0', t))
  if (pks === 0 || (pks === 1 && notNullPks === 0)) {
    throw new SchemaRefused(`Table ${t} has no primary key or primary key is nullable. CRRs must have a non nullable primary key`)
  }
  if (notNullPks < pks) throw new SchemaRefused(`Table ${t} has composite primary key part of which is nullable. CRRs must have a non nullable primary key`)
  if (db.prepare(`SELECT 1 FROM sqlite_master WHERE name = ? AND type = 'table' AND sql LIKE '%autoincrement%' LIMIT 1`).get(t)) {
    throw new SchemaRefused(
      `${t} has auto-increment primary keys. This is likely a mistake as two concurrent nodes will assign unrelated rows the same primary key. Either use a primary key that represents the identity of your row or use a database friendly UUID such as UUIDv7`,
    )
  }
  if (Number(count('SELECT count(*) FROM pragma_foreign_key_list(?)', t)) > 0) {
    throw new SchemaRefused(
      `Table ${t} has checked foreign key constraints. CRRs may have foreign keys but must not have checked foreign key constraints as they can be violated by row level security or replication.`,
    )
  }
  if (Number(count('SELECT count(*) FROM pragma_table_xinfo(?) WHERE "notnull" = 1 AND dflt_value IS NULL AND pk = 0', t)) > 0) {
    throw new SchemaRefused(
      `Table ${t} has a NOT NULL column without a DEFAULT VALUE. This is not allowed as it prevents forwards and backwards compatibility between schema versions. Make the column nullable or assign a default value to it.`,
    )
  }
}

export const CHANGES_TABLE = '__corro_emu_changes'

/**
 * Triggers that log every real change of a CRR table, per column, as cr-sqlite's do: an insert, each
 * column an UPDATE really changes (the same value is no change), a delete; a changed primary key is
 * a delete of the old row and an insert of the new one.
 */
export function installTriggers(db: Database.Database, table: EmuTable): void {
  const t = table.name
  const lit = (s: string) => `'${s.replaceAll("'", "''")}'`
  const pk = (row: 'NEW' | 'OLD') => `json_array(${table.pk.map((c) => `${row}.${quoteIdent(c)}`).join(', ')})`
  const log = (row: 'NEW' | 'OLD', col: string, kind: string, when: string) =>
    `INSERT INTO ${CHANGES_TABLE} (tbl, pk, col, kind) SELECT ${lit(t)}, ${pk(row)}, ${lit(col)}, '${kind}' WHERE ${when};`
  const samePk = `${pk('OLD')} IS ${pk('NEW')}`
  const columnLogs = table.columns
    .filter((c) => !table.pk.includes(c.name))
    .map((c) => log('NEW', c.name, 'update', `${samePk} AND OLD.${quoteIdent(c.name)} IS NOT NEW.${quoteIdent(c.name)}`))
    .join(' ')
  const name = (s: string) => quoteIdent(`__corro_emu_${t}_${s}`)
  db.exec(`DROP TRIGGER IF EXISTS ${name('ins')}; DROP TRIGGER IF EXISTS ${name('upd')}; DROP TRIGGER IF EXISTS ${name('del')};`)
  db.exec(`CREATE TRIGGER ${name('ins')} AFTER INSERT ON ${quoteIdent(t)} BEGIN ${log('NEW', '-1', 'insert', '1')} END;`)
  db.exec(
    `CREATE TRIGGER ${name('upd')} AFTER UPDATE ON ${quoteIdent(t)} BEGIN ${log('OLD', '-1', 'delete', `NOT (${samePk})`)} ${log('NEW', '-1', 'insert', `NOT (${samePk})`)} ${columnLogs} END;`,
  )
  db.exec(`CREATE TRIGGER ${name('del')} AFTER DELETE ON ${quoteIdent(t)} BEGIN ${log('OLD', '-1', 'delete', '1')} END;`)
}

export function ensureBookkeeping(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS __corro_schema (tbl_name TEXT NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL, sql TEXT NOT NULL, source TEXT NOT NULL, PRIMARY KEY (tbl_name, type, name)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS ${CHANGES_TABLE} (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, col TEXT NOT NULL, kind TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS __corro_emu_meta (key TEXT NOT NULL PRIMARY KEY, value);
    CREATE TABLE IF NOT EXISTS __corro_members (actor_id BLOB PRIMARY KEY NOT NULL, address TEXT NOT NULL, foca_state JSON, rtt_min INTEGER, updated_at DATETIME NOT NULL DEFAULT 0) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS __corro_bookkeeping_gaps (actor_id BLOB NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, PRIMARY KEY (actor_id, start)) WITHOUT ROWID;`)
  ensureClocks(db)
}

/** The schema the agent knows (tables and their indexes), as stored in __corro_schema. */
export function loadSchema(db: Database.Database): EmuSchema {
  const rows = db.prepare(`SELECT type, sql FROM __corro_schema ORDER BY type DESC, tbl_name, name`).all() as {type: string; sql: string}[]
  if (rows.length === 0) return new Map()
  return parseSchema(rows.map((r) => r.sql).join(';'))
}

/** Applies a partial schema (Corrosion's execute_schema). Throws SchemaRefused; the DB is unchanged then. */
export function applySchema(db: Database.Database, scripts: string[]): {tables: string[]} {
  const partial = parseSchema(scripts.join(';'))
  const current = loadSchema(db)
  const merged: EmuSchema = new Map(current)
  for (const [name, table] of partial) merged.set(name, table)
  constrain(merged)

  db.exec('BEGIN IMMEDIATE')
  try {
    for (const [name, table] of partial) {
      const before = current.get(name)
      if (!before) {
        const existing = db.prepare(`SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type = 'table' AND sql IS NOT NULL`).pluck().all(name) as string[]
        let isImported = false
        if (existing.length > 0) {
          const parsed = parseSchema(existing.join(';')).get(name)!
          if (parsed.pk.join(',') !== table.pk.join(',')) {
            throw new SchemaRefused(`existing schema for table '${name}' primary keys mismatched, expected: {${table.pk.map((c) => JSON.stringify(c)).join(', ')}}, got: {${parsed.pk.map((c) => JSON.stringify(c)).join(', ')}}`)
          }
          if (parsed.columns.map((c) => c.key).join('\n') !== table.columns.map((c) => c.key).join('\n')) {
            throw new SchemaRefused(
              `existing schema for table '${name}' columns mismatched, expected: {${table.columns.map((c) => JSON.stringify(c.name)).join(', ')}}, got: {${parsed.columns.map((c) => JSON.stringify(c.name)).join(', ')}}`,
            )
          }
          isImported = true
        } else {
          db.exec(table.createSql)
        }
        asCrr(db, name)
        db.exec(
          `CREATE TABLE IF NOT EXISTS ${quoteIdent(`${name}__crsql_clock`)} (key INTEGER NOT NULL, col_name TEXT NOT NULL, col_version INTEGER NOT NULL, db_version INTEGER NOT NULL, site_id INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL, PRIMARY KEY (key, col_name)) WITHOUT ROWID;
           CREATE INDEX IF NOT EXISTS ${quoteIdent(`corro_${name}__crsql_clock_site_id_dbv`)} ON ${quoteIdent(`${name}__crsql_clock`)} (site_id, db_version);`,
        )
        if (!isImported) for (const index of table.indexes.values()) db.exec(index.createSql)
      } else {
        const names = new Set(table.columns.map((c) => c.name))
        const removed = before.columns.find((c) => !names.has(c.name))
        if (removed) throw new SchemaRefused(`won't remove column without the destructive flag set (table: '${name}', column: '${removed.name}')`)
        const changed = before.columns.filter((c) => {
          const now = table.columns.find((n) => n.name === c.name)
          return now !== undefined && now.key !== c.key
        })
        if (changed.length > 0) {
          throw new SchemaRefused(`won't change column without the destructive flag set (table: '${name}', column: '${changed.map((c) => c.name).join(',')}')`)
        }
        for (const col of table.columns.filter((c) => !before.columns.some((b) => b.name === c.name))) {
          if (table.pk.includes(col.name) && /^[A-Za-z_\u0080-\uffff]/.test(col.text)) throw new SchemaRefused(`can't add a primary key (table: '${name}', columns: '${col.name}')`)
          db.exec(`ALTER TABLE ${quoteIdent(name)} ADD COLUMN ${col.text}`)
        }
        for (const [idx, index] of table.indexes) {
          const old = before.indexes.get(idx)
          if (!old) db.exec(index.createSql)
          else if (old.key !== index.key) db.exec(`DROP INDEX ${quoteIdent(idx)}; ${index.createSql}`)
        }
        for (const idx of before.indexes.keys()) if (!table.indexes.has(idx)) db.exec(`DROP INDEX IF EXISTS ${quoteIdent(idx)}`)
      }
      installTriggers(db, table)
      db.prepare('DELETE FROM __corro_schema WHERE tbl_name = ?').run(name)
      db.prepare(
        `INSERT INTO __corro_schema SELECT tbl_name, type, name, sql, 'api' FROM sqlite_master WHERE tbl_name = ? AND type IN ('table', 'index') AND name IS NOT NULL AND sql IS NOT NULL`,
      ).run(name)
    }
    db.exec('COMMIT')
  } catch (error) {
    db.exec('ROLLBACK')
    if (error instanceof SchemaRefused) throw error
    throw new SchemaRefused((error as Error).message)
  }
  return {tables: [...partial.keys()]}
}

/** The *.sql files of the schema paths (directories sorted by path), like corro_utils::read_files_from_paths. */
export function readSchemaPaths(paths: readonly string[], log: (line: string) => void = () => {}): string[] {
  const out: string[] = []
  for (const p of paths) {
    let stat: fs.Stats
    try {
      stat = fs.statSync(p)
    } catch (error) {
      log(`could not read schema path ${p}: ${(error as Error).message}`)
      continue
    }
    const files = stat.isDirectory()
      ? fs
          .readdirSync(p)
          .filter((n) => n.endsWith('.sql'))
          .map((n) => path.join(p, n))
          .sort()
      : [p]
    for (const f of files) {
      try {
        out.push(fs.readFileSync(f, 'utf8'))
      } catch (error) {
        log(`could not read schema file ${f}: ${(error as Error).message}`)
      }
    }
  }
  return out
}
