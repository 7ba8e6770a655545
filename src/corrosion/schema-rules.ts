// Checks schema SQL against the rules a Corrosion agent enforces (corrosion-api.md §8.2), in the agent's
// order and with its exact texts, and diffs an existing table so a change only ever appends columns.
// It reads SQL text only: it does not talk to an agent or know which tables edgeproxy uses.
import {CorrosionSchemaError} from './errors.js'
import {isWord, renderStatement, significant, splitStatements, unquote, type Token} from './sql-lexer.js'

export interface ParsedColumn {
  name: string
  /** The definition after the name, as written. */
  definition: string
  /** Tokens compared the way Corrosion compares parsed columns: keywords case-folded, spacing ignored. */
  key: string
  isNotNull: boolean
  hasDefault: boolean
  isPrimaryKey: boolean
  /** The name is written without quotes (`id`, not `"id"`, `[id]` or `'id'`). */
  isNameBare: boolean
  hasReferences: boolean
  isUnique: boolean
  isAutoincrement: boolean
}

export interface ParsedTable {
  name: string
  columns: ParsedColumn[]
  pk: string[]
  hasPkExpression: boolean
  hasTableUnique: boolean
  hasTableForeignKey: boolean
  hasAutoincrement: boolean
  indexes: ParsedIndex[]
}

export interface ParsedIndex {
  name: string
  table: string
  isUnique: boolean
}

export interface ParsedSchema {
  tables: Map<string, ParsedTable>
  droppedIndexes: string[]
}

const CONSTRAINT_START = new Set(['CONSTRAINT', 'PRIMARY', 'NOT', 'NULL', 'UNIQUE', 'CHECK', 'DEFAULT', 'COLLATE', 'REFERENCES', 'GENERATED', 'AS'])
const TABLE_CONSTRAINT_START = new Set(['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN'])
const KEYWORDS = new Set([
  ...CONSTRAINT_START,
  'KEY', 'ASC', 'DESC', 'AUTOINCREMENT', 'ON', 'CONFLICT', 'ROLLBACK', 'ABORT', 'FAIL', 'IGNORE', 'REPLACE', 'DEFERRABLE',
  'INITIALLY', 'DEFERRED', 'IMMEDIATE', 'MATCH', 'DELETE', 'UPDATE', 'SET', 'CASCADE', 'RESTRICT', 'NO', 'ACTION',
  'ALWAYS', 'STORED', 'VIRTUAL', 'TRUE', 'FALSE', 'CURRENT_TIME', 'CURRENT_DATE', 'CURRENT_TIMESTAMP',
])

/** A statement as Corrosion's errors show it: the text with its whitespace collapsed. */
function shown(text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}

class RuleError extends Error {}

function splitTopLevel(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]]
  let depth = 0
  for (const t of tokens) {
    if (t.kind === 'punct' && t.text === '(') depth++
    if (t.kind === 'punct' && t.text === ')') depth--
    if (depth === 0 && t.kind === 'punct' && t.text === ',') parts.push([])
    else parts.at(-1)!.push(t)
  }
  return parts.filter((p) => p.length > 0)
}

/** A name, optionally followed by COLLATE x and ASC/DESC; anything else is an expression. */
function isPlainIndexedColumn(item: Token[]): boolean {
  if (item[0]!.kind !== 'word' && item[0]!.kind !== 'quoted') return false
  let k = 1
  while (k < item.length) {
    if (isWord(item[k], 'COLLATE') && item[k + 1]) k += 2
    else if (isWord(item[k], 'ASC', 'DESC')) k++
    else return false
  }
  return true
}

function columnKey(tokens: Token[]): string {
  let inType = true
  return tokens
    .map((t, i) => {
      if (i === 0) return unquote(t.text)
      const upper = t.text.toUpperCase()
      if (t.kind === 'word' && CONSTRAINT_START.has(upper)) inType = false
      if (t.kind === 'word' && !inType && KEYWORDS.has(upper)) return upper
      if (t.kind === 'quoted') return unquote(t.text)
      return t.text
    })
    .join(' ')
}

function parseColumn(tokens: Token[], source: string): ParsedColumn {
  const name = unquote(tokens[0]!.text)
  const rest = tokens.slice(1)
  const words = rest.map((t) => (t.kind === 'word' ? t.text.toUpperCase() : t.text))
  const has = (...seq: string[]) => words.some((_, i) => seq.every((w, j) => words[i + j] === w))
  return {
    name,
    definition: rest.length === 0 ? '' : source.slice(rest[0]!.start, rest.at(-1)!.end),
    key: columnKey(tokens),
    isNotNull: has('NOT', 'NULL'),
    hasDefault: words.includes('DEFAULT'),
    isPrimaryKey: has('PRIMARY', 'KEY'),
    isNameBare: tokens[0]!.kind === 'word',
    hasReferences: words.includes('REFERENCES'),
    isUnique: words.includes('UNIQUE'),
    isAutoincrement: words.includes('AUTOINCREMENT'),
  }
}

function parseCreateTable(sig: Token[], text: string, source: string): ParsedTable {
  // CREATE TABLE [IF NOT EXISTS] [schema.]name ( … ) [WITHOUT ROWID] [, STRICT]
  let i = 2
  if (isWord(sig[i], 'IF') && isWord(sig[i + 1], 'NOT') && isWord(sig[i + 2], 'EXISTS')) i += 3
  let nameToken = sig[i]
  if (sig[i + 1]?.text === '.') {
    i += 2
    nameToken = sig[i]
  }
  if (!nameToken) throw new RuleError(`near "${shown(text)}": syntax error`)
  const name = unquote(nameToken.text)
  i++
  if (isWord(sig[i], 'AS')) throw new RuleError(`temporary tables are not supported: ${renderStatement(sig)}`)
  if (sig[i]?.text !== '(') throw new RuleError(`near "${sig[i]?.text ?? ''}": syntax error in ${shown(text)}`)
  let depth = 0
  let close = -1
  for (let j = i; j < sig.length; j++) {
    if (sig[j]!.text === '(') depth++
    if (sig[j]!.text === ')') depth--
    if (depth === 0) {
      close = j
      break
    }
  }
  if (close === -1) throw new RuleError(`incomplete input: ${shown(text)}`)
  const table: ParsedTable = {
    name,
    columns: [],
    pk: [],
    hasPkExpression: false,
    hasTableUnique: false,
    hasTableForeignKey: false,
    hasAutoincrement: /autoincrement/i.test(text),
    indexes: [],
  }
  let tablePk: string[] | undefined
  for (const part of splitTopLevel(sig.slice(i + 1, close))) {
    const first = part[0]!
    if (first.kind === 'word' && TABLE_CONSTRAINT_START.has(first.text.toUpperCase())) {
      const words = part.map((t) => (t.kind === 'word' ? t.text.toUpperCase() : t.text))
      const pkAt = words.findIndex((w, k) => w === 'PRIMARY' && words[k + 1] === 'KEY')
      if (pkAt !== -1 && tablePk === undefined) {
        const open = pkAt + 2
        const items = splitTopLevel(part.slice(open + 1, part.findLastIndex((t) => t.text === ')')))
        tablePk = []
        for (const item of items) {
          if (isPlainIndexedColumn(item)) tablePk.push(unquote(item[0]!.text))
          else table.hasPkExpression = true
        }
      }
      if (words.includes('UNIQUE')) table.hasTableUnique = true
      if (words.includes('FOREIGN')) table.hasTableForeignKey = true
      continue
    }
    table.columns.push(parseColumn(part, source))
  }
  table.pk = tablePk ?? table.columns.filter((c) => c.isPrimaryKey).map((c) => c.name)
  for (const c of table.columns) c.isPrimaryKey = table.pk.includes(c.name)
  return table
}

/**
 * Parses a schema script the way Corrosion's `parse_sql_to_schema` does: only CREATE TABLE,
 * CREATE INDEX and DROP INDEX IF EXISTS. Throws the first SchemaError text Corrosion would return.
 */
function parseOrThrow(sql: string): ParsedSchema {
  const schema: ParsedSchema = {tables: new Map(), droppedIndexes: []}
  for (const stmt of splitStatements(sql)) {
    const sig = significant(stmt.tokens)
    const text = stmt.text
    if (isWord(sig[0], 'CREATE')) {
      if (isWord(sig[1], 'TEMP', 'TEMPORARY') && isWord(sig[2], 'TABLE')) throw new RuleError(`temporary tables are not supported: ${renderStatement(sig)}`)
      if (isWord(sig[1], 'TABLE')) {
        const table = parseCreateTable(sig, text, sql)
        schema.tables.set(table.name, table)
        continue
      }
      const isUnique = isWord(sig[1], 'UNIQUE')
      const at = isUnique ? 2 : 1
      if (isWord(sig[at], 'INDEX')) {
        let i = at + 1
        if (isWord(sig[i], 'IF') && isWord(sig[i + 1], 'NOT') && isWord(sig[i + 2], 'EXISTS')) i += 3
        if (sig[i + 1]?.text === '.') i += 2
        const name = unquote(sig[i]?.text ?? '')
        const onAt = sig.findIndex((t, k) => k > i && isWord(t, 'ON'))
        const tableName = unquote(sig[onAt + 1]?.text ?? '')
        const table = schema.tables.get(tableName)
        if (!table) throw new RuleError(`missing table for index (table: '${tableName}', index: '${name}')`)
        table.indexes.push({name, table: tableName, isUnique})
        continue
      }
    }
    if (isWord(sig[0], 'DROP') && isWord(sig[1], 'INDEX')) {
      const hasIfExists = isWord(sig[2], 'IF') && isWord(sig[3], 'EXISTS')
      const nameAt = hasIfExists ? 4 : 2
      const name = unquote(sig[nameAt + 1]?.text === '.' ? (sig[nameAt + 2]?.text ?? '') : (sig[nameAt]?.text ?? ''))
      if (!hasIfExists) throw new RuleError(`DROP INDEX without IF EXISTS is not supported; use 'DROP INDEX IF EXISTS ${name}'`)
      schema.droppedIndexes.push(name)
      continue
    }
    throw new RuleError(`unsupported command: ${renderStatement(sig)}`)
  }
  for (const name of schema.droppedIndexes) {
    for (const table of schema.tables.values()) {
      if (table.indexes.some((i) => i.name === name)) {
        throw new RuleError(`DROP INDEX conflicts with a CREATE INDEX in the same schema for '${name}' (would cause create/destroy loop)`)
      }
    }
  }
  return schema
}

/** The parsed schema, or the parse error Corrosion would give. */
export function parseSchemaSql(sql: string): {schema: ParsedSchema; error?: undefined} | {schema?: undefined; error: string} {
  try {
    return {schema: parseOrThrow(sql)}
  } catch (error) {
    if (error instanceof RuleError) return {error: error.message}
    throw error
  }
}

/** Corrosion's `Schema::constrain` over one table, in its order. */
/**
 * Corrosion's own `Column::primary_key`: `pk.contains(&def.col_name.0)` compares the unquoted PK
 * names with the column name token as written (corro-types schema.rs prepare_table), so a quoted
 * name (`"id"`) is never a primary key to Corrosion's checks, though it is one to SQLite.
 */
function isCorrosionPrimaryKey(c: ParsedColumn): boolean {
  return c.isPrimaryKey && c.isNameBare
}

function constrainViolations(table: ParsedTable): string[] {
  const out: string[] = []
  if (table.hasPkExpression) out.push('expr used as primary')
  for (const c of table.columns) {
    if (!isCorrosionPrimaryKey(c) && c.isNotNull && !c.hasDefault) {
      out.push(`not nullable column '${c.name}' on table '${table.name}' needs a default value for forward schema compatibility`)
    }
    if (c.hasReferences) out.push(`foreign keys are not supported (table: '${table.name}', column: '${c.name}')`)
  }
  for (const index of table.indexes) if (index.isUnique) out.push(`unique indexes are not supported: ${index.name}`)
  return out
}

/** cr-sqlite's `crsql_as_crr` compatibility checks for a new table, in its order. */
function crrViolations(table: ParsedTable): string[] {
  const t = table.name
  const out: string[] = []
  if (table.hasTableUnique || table.columns.some((c) => c.isUnique)) out.push(`Table ${t} has unique indices besidesthe primary key. This is not allowed for CRRs`)
  const pkColumns = table.columns.filter((c) => c.isPrimaryKey)
  const nullablePk = pkColumns.filter((c) => !c.isNotNull)
  if (pkColumns.length === 0 || (pkColumns.length === 1 && nullablePk.length === 1)) {
    out.push(`Table ${t} has no primary key or primary key is nullable. CRRs must have a non nullable primary key`)
  } else if (nullablePk.length > 0) {
    out.push(`Table ${t} has composite primary key part of which is nullable. CRRs must have a non nullable primary key`)
  }
  if (table.hasAutoincrement) {
    out.push(
      `${t} has auto-increment primary keys. This is likely a mistake as two concurrent nodes will assign unrelated rows the same primary key. Either use a primary key that represents the identity of your row or use a database friendly UUID such as UUIDv7`,
    )
  }
  if (table.hasTableForeignKey) {
    out.push(
      `Table ${t} has checked foreign key constraints. CRRs may have foreign keys but must not have checked foreign key constraints as they can be violated by row level security or replication.`,
    )
  }
  return out
}

/** What changing `current` into `desired` means; violations use Corrosion's ApplySchemaError texts. */
export function diffTable(current: ParsedTable, desired: ParsedTable): {addedColumns: string[]; violations: string[]} {
  const violations: string[] = []
  const desiredByName = new Map(desired.columns.map((c) => [c.name, c]))
  const currentNames = new Set(current.columns.map((c) => c.name))
  const removed = current.columns.find((c) => !desiredByName.has(c.name))
  if (removed) violations.push(`won't remove column without the destructive flag set (table: '${current.name}', column: '${removed.name}')`)
  const changed = current.columns.filter((c) => desiredByName.has(c.name) && desiredByName.get(c.name)!.key !== c.key).map((c) => c.name)
  if (changed.length > 0) violations.push(`won't change column without the destructive flag set (table: '${current.name}', column: '${changed.join(',')}')`)
  const added = desired.columns.filter((c) => !currentNames.has(c.name))
  for (const c of added) {
    if (isCorrosionPrimaryKey(c)) violations.push(`can't add a primary key (table: '${current.name}', columns: '${c.name}')`)
  }
  return {addedColumns: added.map((c) => c.name), violations}
}

export interface SchemaCheck {
  /** Every violation, in the order Corrosion checks; the first is the one the agent would answer. */
  violations: string[]
  schema?: ParsedSchema
  /** Per table already known to the agent: the columns the script appends. */
  addedColumns: Record<string, string[]>
  newTables: string[]
}

/**
 * Checks a schema script against the rules, merged over the tables the agent already has
 * (`current`: their CREATE TABLE texts, e.g. from sqlite_master). Tables absent from the script are
 * kept as they are, like Corrosion does.
 */
export function checkSchema(sql: string, current: readonly string[] = []): SchemaCheck {
  const parsed = parseSchemaSql(sql)
  if (!parsed.schema) return {violations: [parsed.error], addedColumns: {}, newTables: []}
  const existing = new Map<string, ParsedTable>()
  for (const text of current) {
    const p = parseSchemaSql(text)
    if (p.schema) for (const [name, table] of p.schema.tables) existing.set(name, table)
  }
  const violations: string[] = []
  for (const table of parsed.schema.tables.values()) violations.push(...constrainViolations(table))
  const addedColumns: Record<string, string[]> = {}
  const newTables: string[] = []
  for (const table of parsed.schema.tables.values()) {
    const before = existing.get(table.name)
    if (before) {
      const diff = diffTable(before, table)
      violations.push(...diff.violations)
      addedColumns[table.name] = diff.addedColumns
    } else {
      newTables.push(table.name)
      violations.push(...crrViolations(table))
    }
  }
  return {violations, schema: parsed.schema, addedColumns, newTables}
}

/** Throws CorrosionSchemaError naming the first rule the agent would refuse, if any. */
export function assertSchemaAccepted(sql: string, current: readonly string[] = []): SchemaCheck {
  const check = checkSchema(sql, current)
  if (check.violations.length > 0) {
    throw new CorrosionSchemaError(`Corrosion would refuse this schema: ${check.violations[0]}`, check.violations)
  }
  return check
}
