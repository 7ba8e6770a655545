// Corrosion's four Statement forms (corrosion-api.md §1.1–1.2), checked before they are sent and
// serialized to the exact JSON the agent's serde accepts. Values are always bound parameters;
// nothing here pastes a value into SQL text. It does not know about HTTP.
import {CorrosionStatementError} from './errors.js'
import {normalizeSql, significant, splitStatements, tokenize} from './sql-lexer.js'

/**
 * A value to bind. `boolean` binds as INTEGER 1/0; a `number` with a fraction (or beyond ±2^53)
 * would bind as REAL, so integers beyond ±2^53 must be passed as `bigint` (serialized as exact
 * digits, i64 range only); `Uint8Array` and arrays of bytes bind as BLOB. Objects are refused:
 * pass `JSON.stringify(obj)`.
 */
export type SqliteParam = null | boolean | number | bigint | string | Uint8Array | readonly number[]
export type NamedParams = Readonly<Record<string, SqliteParam>>

export type Statement =
  | string
  | readonly [string, readonly SqliteParam[]]
  | readonly [string, NamedParams]
  | {readonly query: string; readonly params?: readonly SqliteParam[]; readonly named_params?: NamedParams}

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n

/** `["… ?", [params]]`; a statement with no params is sent as the bare string. */
export function statement(query: string, params: readonly SqliteParam[] = []): Statement {
  return params.length === 0 ? query : [query, params]
}

/** `["… :id", {":id": 1}]`. Keys must carry their sigil (`:`, `@` or `$`), exactly as in the SQL. */
export function namedStatement(query: string, params: NamedParams): Statement {
  return [query, params]
}

/**
 * A tagged template that binds every interpolation as a positional parameter:
 * sql`SELECT * FROM backends WHERE id = ${id}` → ["SELECT * FROM backends WHERE id = ?", [id]].
 */
export function sql(strings: TemplateStringsArray, ...values: SqliteParam[]): Statement {
  return statement(strings.join('?'), values)
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`
  try {
    return JSON.stringify(value)?.slice(0, 60) ?? String(value)
  } catch {
    return String(value)
  }
}

function paramJson(value: SqliteParam, where: string): string {
  if (value === null) return 'null'
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') {
    if (value < I64_MIN || value > I64_MAX) throw new CorrosionStatementError(`${where} ${value}n is outside the SQLite INTEGER range (i64)`)
    return value.toString()
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CorrosionStatementError(`${where} ${value} is not a finite number`)
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
      throw new CorrosionStatementError(`${where} ${value} is an integer beyond ±2^53 and has already lost precision`, {
        suggestion: 'pass integers above 2^53 as a BigInt (e.g. 9007199254740993n)',
      })
    }
    return JSON.stringify(value)
  }
  if (value instanceof Uint8Array) return `[${Array.from(value).join(',')}]`
  if (Array.isArray(value)) {
    if (value.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b <= 255)) return `[${value.join(',')}]`
    throw new CorrosionStatementError(`${where} ${describe(value)} is an array that is not a list of bytes (0-255)`, {
      suggestion: 'send JSON as text: JSON.stringify(value); only byte arrays bind (as BLOB)',
    })
  }
  throw new CorrosionStatementError(`${where} ${describe(value)} is an object; Corrosion refuses object parameters (422)`, {
    suggestion: 'bind JSON.stringify(value) and read it with json_extract()',
  })
}

function checkSql(query: unknown): string {
  if (typeof query !== 'string') throw new CorrosionStatementError(`statement SQL ${describe(query)} is not a string`)
  const statements = splitStatements(query)
  if (statements.length === 0) throw new CorrosionStatementError(`statement SQL ${describe(query)} is empty`)
  if (statements.length > 1) {
    throw new CorrosionStatementError(`statement ${describe(query)} holds ${statements.length} statements; Corrosion takes one per string (Multiple statements provided)`, {
      suggestion: 'send one statement per array element of execute([...])',
    })
  }
  return query
}

interface Placeholders {
  positional: number
  names: Set<string>
  numbered: boolean
}

function placeholders(query: string): Placeholders {
  const names = new Set<string>()
  let positional = 0
  let numbered = false
  for (const token of significant(tokenize(query))) {
    if (token.kind !== 'param') continue
    if (token.text === '?') positional++
    else if (token.text.startsWith('?')) numbered = true
    else names.add(token.text)
  }
  return {positional, names, numbered}
}

function positionalJson(query: string, params: readonly SqliteParam[]): string {
  if (!Array.isArray(params)) throw new CorrosionStatementError(`params of ${describe(query)} must be an array`)
  const p = placeholders(query)
  if (!p.numbered && p.names.size === 0 && p.positional !== params.length) {
    throw new CorrosionStatementError(`statement ${describe(query)} has ${p.positional} ? placeholder(s) but ${params.length} parameter(s) were given`)
  }
  return `[${params.map((v, i) => paramJson(v, `parameter ${i + 1} of ${describe(query)}:`)).join(',')}]`
}

function namedJson(query: string, params: NamedParams): string {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new CorrosionStatementError(`named params of ${describe(query)} must be an object`)
  }
  const p = placeholders(query)
  const parts: string[] = []
  for (const [key, value] of Object.entries(params)) {
    if (!/^[:@$]./.test(key)) {
      throw new CorrosionStatementError(`named parameter key ${JSON.stringify(key)} has no sigil; Corrosion binds by exact name (Invalid parameter name: ${key})`, {
        suggestion: `write the key as it appears in the SQL, e.g. ${JSON.stringify(':' + key)}`,
      })
    }
    if (!p.names.has(key)) {
      throw new CorrosionStatementError(`named parameter ${JSON.stringify(key)} does not appear in ${describe(query)}`)
    }
    parts.push(`${JSON.stringify(key)}:${paramJson(value, `parameter ${key} of ${describe(query)}:`)}`)
  }
  return `{${parts.join(',')}}`
}

/** The statement as the JSON text Corrosion's serde accepts; throws CorrosionStatementError first. */
export function serializeStatement(s: Statement): string {
  if (typeof s === 'string') {
    checkSql(s)
    const p = placeholders(s)
    if (p.positional > 0 || p.names.size > 0 || p.numbered) {
      throw new CorrosionStatementError(`statement ${describe(s)} has placeholders but no parameters`, {suggestion: 'pass the values: statement(sql, [values])'})
    }
    return JSON.stringify(s)
  }
  if (Array.isArray(s)) {
    if (s.length !== 2) throw new CorrosionStatementError(`statement ${describe(s)} must be [sql, params]`)
    const [query, params] = s as [unknown, unknown]
    const text = checkSql(query)
    const body = Array.isArray(params) ? positionalJson(text, params as SqliteParam[]) : namedJson(text, params as NamedParams)
    return `[${JSON.stringify(text)},${body}]`
  }
  if (typeof s === 'object' && s !== null) {
    const v = s as {query?: unknown; params?: readonly SqliteParam[]; named_params?: NamedParams; sql?: unknown}
    if (v.query === undefined) {
      throw new CorrosionStatementError(`statement ${describe(s)} has no "query" key${v.sql !== undefined ? ' ("sql" is not a Corrosion key)' : ''}`, {
        suggestion: 'use {query: "...", params: [...]}',
      })
    }
    const text = checkSql(v.query)
    if (v.params !== undefined && v.named_params !== undefined) {
      throw new CorrosionStatementError(`statement ${describe(text)} sets both params and named_params; Corrosion would ignore named_params`)
    }
    const parts = [`"query":${JSON.stringify(text)}`]
    if (v.params !== undefined) parts.push(`"params":${positionalJson(text, v.params)}`)
    else if (v.named_params !== undefined) parts.push(`"named_params":${namedJson(text, v.named_params)}`)
    else {
      const p = placeholders(text)
      if (p.positional > 0 || p.names.size > 0 || p.numbered) throw new CorrosionStatementError(`statement ${describe(text)} has placeholders but no parameters`)
    }
    return `{${parts.join(',')}}`
  }
  throw new CorrosionStatementError(`statement ${describe(s)} is not one of the four Statement forms`)
}

/** A JSON array of statements for POST /v1/transactions. */
export function serializeStatements(statements: readonly Statement[]): string {
  return `[${statements.map(serializeStatement).join(',')}]`
}

/** The SQL text of a statement, whatever its form. */
export function statementSql(s: Statement): string {
  if (typeof s === 'string') return s
  if (Array.isArray(s)) return s[0] as string
  return (s as {query: string}).query
}

/**
 * The same statement with its SQL whitespace-normalized, so equivalent subscriptions share one
 * server-side subscription (Corrosion keys them by the exact expanded text, §4.1).
 */
export function normalizeStatement(s: Statement): Statement {
  if (typeof s === 'string') return normalizeSql(s)
  if (Array.isArray(s)) return [normalizeSql(s[0] as string), s[1]] as Statement
  const v = s as {query: string; params?: readonly SqliteParam[]; named_params?: NamedParams}
  return {...v, query: normalizeSql(v.query)}
}
