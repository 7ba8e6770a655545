// SQL text helpers of the emulator (written apart from src/corrosion on purpose, so a bug there is
// not mirrored here): a tokenizer, statement splitting, parameter discovery, sqlite3_expanded_sql
// style expansion, and the single-table SELECT shape the emulator's subscriptions support.

export interface Tok {
  t: 'ws' | 'comment' | 'str' | 'blob' | 'qid' | 'word' | 'num' | 'param' | 'op'
  s: string
  at: number
}

export function lex(sql: string): Tok[] {
  const out: Tok[] = []
  let i = 0
  const push = (t: Tok['t'], start: number) => out.push({t, s: sql.slice(start, i), at: start})
  while (i < sql.length) {
    const start = i
    const c = sql[i]!
    const n = sql[i + 1]
    if (/\s/.test(c)) {
      while (i < sql.length && /\s/.test(sql[i]!)) i++
      push('ws', start)
    } else if (c === '-' && n === '-') {
      while (i < sql.length && sql[i] !== '\n') i++
      push('comment', start)
    } else if (c === '/' && n === '*') {
      const end = sql.indexOf('*/', i + 2)
      i = end < 0 ? sql.length : end + 2
      push('comment', start)
    } else if (c === "'" || c === '"' || c === '`' || c === '[' || ((c === 'x' || c === 'X') && n === "'")) {
      const isBlob = c === 'x' || c === 'X'
      if (isBlob) i++
      const q = sql[i]!
      const close = q === '[' ? ']' : q
      i++
      while (i < sql.length) {
        if (sql[i] === close) {
          if (close !== ']' && sql[i + 1] === close) {
            i += 2
            continue
          }
          i++
          break
        }
        i++
      }
      push(isBlob ? 'blob' : q === "'" ? 'str' : 'qid', start)
    } else if (c === '?') {
      i++
      while (/[0-9]/.test(sql[i] ?? '')) i++
      push('param', start)
    } else if ((c === ':' || c === '@' || c === '$') && /[A-Za-z0-9_]/.test(n ?? '')) {
      i++
      while (/[A-Za-z0-9_$]/.test(sql[i] ?? '')) i++
      push('param', start)
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(n ?? ''))) {
      while (/[0-9A-Za-z_.]/.test(sql[i] ?? '') || (/[eE]/.test(sql[i - 1] ?? '') && /[+-]/.test(sql[i] ?? ''))) i++
      push('num', start)
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      while (/[A-Za-z0-9_$\u0080-\uffff]/.test(sql[i] ?? '')) i++
      push('word', start)
    } else {
      i++
      push('op', start)
    }
  }
  return out
}

export const meaningful = (toks: Tok[]): Tok[] => toks.filter((k) => k.t !== 'ws' && k.t !== 'comment')

/**
 * sqlite3-parser 0.12 `Display for Cmd` spacing (one space between tokens, none after `(` `.`, none
 * before `,` `)` `.`), ending with `;`: how Corrosion shows a statement in schema errors.
 * Keywords keep their written case (the parser upper-cases them).
 */
export function renderCmd(toks: Tok[]): string {
  let out = ''
  let isSpaced = true
  const m = meaningful(toks)
  m.forEach((k, i) => {
    if (k.t === 'op' && k.s === ';') return
    if (!isSpaced && !(k.t === 'op' && [',', ')', '.'].includes(k.s))) out += ' '
    out += i === 1 && kw(m[0], 'CREATE') && kw(k, 'TEMPORARY') ? 'TEMP' : k.s
    isSpaced = k.t === 'op' && (k.s === '(' || k.s === '.')
  })
  return `${out};`
}

export function kw(tok: Tok | undefined, ...words: string[]): boolean {
  return tok?.t === 'word' && words.includes(tok.s.toUpperCase())
}

export function unq(s: string): string {
  const q = s[0]
  if (q === '"' || q === '`' || q === "'") return s.slice(1, -1).split(q + q).join(q)
  if (q === '[') return s.slice(1, -1)
  return s
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** Statements of a script split on top-level `;`; each is its exact source text. */
export function statements(sql: string): {text: string; toks: Tok[]}[] {
  const out: {text: string; toks: Tok[]}[] = []
  let cur: Tok[] = []
  const end = () => {
    const m = meaningful(cur)
    if (m.length > 0) out.push({text: sql.slice(m[0]!.at, m.at(-1)!.at + m.at(-1)!.s.length), toks: cur})
    cur = []
  }
  for (const tok of lex(sql)) {
    if (tok.t === 'op' && tok.s === ';') end()
    else cur.push(tok)
  }
  end()
  return out
}

export interface ParamInfo {
  /** sqlite3_bind_parameter_count */
  count: number
  /** Named parameters with their sigil, in first-appearance order. */
  names: string[]
}

export function params(sql: string): ParamInfo {
  const names: string[] = []
  let count = 0
  for (const tok of lex(sql)) {
    if (tok.t !== 'param') continue
    if (tok.s === '?') count++
    else if (tok.s.startsWith('?')) count = Math.max(count, Number(tok.s.slice(1)))
    else if (!names.includes(tok.s)) {
      names.push(tok.s)
      count++
    }
  }
  return {count, names}
}

export function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'number') return Number.isInteger(value) ? `${value}.0` : String(value)
  if (typeof value === 'string') return `'${value.replaceAll("'", "''")}'`
  if (Buffer.isBuffer(value)) return `x'${value.toString('hex')}'`
  return 'NULL'
}

/**
 * sqlite3_expanded_sql: parameters replaced by literals. Positional values fill `?` in order,
 * named ones by exact name; a name with no value stays NULL (the subscription rule of §1.1).
 */
export function expand(sql: string, positional: unknown[], named: Map<string, unknown>): string {
  let next = 0
  return lex(sql)
    .map((tok) => {
      if (tok.t !== 'param') return tok.s
      if (tok.s === '?') return literal(positional[next++])
      if (tok.s.startsWith('?')) return literal(positional[Number(tok.s.slice(1)) - 1])
      return literal(named.has(tok.s) ? named.get(tok.s) : null)
    })
    .join('')
}

export interface SelectShape {
  table: string
  /** What to prefix the PK columns with: the alias, or the table name. */
  qualifier: string
  /** Text from SELECT's column list start up to FROM. */
  columnsText: string
  /** Text from FROM to the end. */
  fromText: string
}

/** A single-table SELECT (no JOIN, no comma join, no compound), or an error text. */
export function selectShape(sql: string): SelectShape | {error: string} {
  const toks = meaningful(lex(sql)).filter((k, i, all) => !(k.t === 'op' && k.s === ';' && i === all.length - 1))
  if (!kw(toks[0], 'SELECT')) return {error: 'unsupported statement'}
  let depth = 0
  let fromAt = -1
  for (let i = 1; i < toks.length; i++) {
    const k = toks[i]!
    if (k.s === '(') depth++
    if (k.s === ')') depth--
    if (depth !== 0) continue
    if (kw(k, 'UNION', 'INTERSECT', 'EXCEPT')) return {error: 'unsupported statement'}
    if (fromAt === -1 && kw(k, 'FROM')) fromAt = i
    if (fromAt !== -1 && (kw(k, 'JOIN') || (k.s === ',' && i > fromAt && !toks.slice(fromAt, i).some((x) => kw(x, 'WHERE', 'GROUP', 'ORDER', 'LIMIT')))))
      return {error: 'JOIN .. ON expression is not supported by the emulator'}
  }
  if (fromAt === -1) return {error: 'at least 1 table is required in FROM / JOIN clause'}
  const tableTok = toks[fromAt + 1]
  if (!tableTok || (tableTok.t !== 'word' && tableTok.t !== 'qid')) return {error: 'at least 1 table is required in FROM / JOIN clause'}
  const table = unq(tableTok.s)
  let qualifier = table
  const after = toks[fromAt + 2]
  if (kw(after, 'AS') && toks[fromAt + 3]) qualifier = unq(toks[fromAt + 3]!.s)
  else if (after && (after.t === 'word' || after.t === 'qid') && !kw(after, 'WHERE', 'GROUP', 'ORDER', 'LIMIT', 'WINDOW', 'HAVING')) qualifier = unq(after.s)
  const selectEnd = toks[0]!.at + toks[0]!.s.length
  return {table, qualifier, columnsText: sql.slice(selectEnd, toks[fromAt]!.at), fromText: sql.slice(toks[fromAt]!.at).replace(/;\s*$/, '')}
}

/**
 * The result columns with every `*` and `<qualifier>.*` item replaced by the table's columns as
 * they are now, as the agent's matcher does when it creates a subscription (pubsub.rs
 * extract_columns): the subscription keeps serving exactly those columns until it is restored.
 */
export function expandStars(columnsText: string, qualifier: string, columns: readonly string[]): string {
  const toks = lex(columnsText)
  const q = quoteIdent(qualifier)
  const list = columns.map((c) => `${q}.${quoteIdent(c)}`).join(', ')
  let out = ''
  let depth = 0
  let previous: Tok | undefined
  for (let i = 0; i < toks.length; i++) {
    const k = toks[i]!
    if (k.s === '(') depth++
    if (k.s === ')') depth--
    const isItemStart = previous === undefined || previous.s === ','
    if (depth === 0 && k.t === 'op' && k.s === '*' && isItemStart) {
      out += list
    } else if (depth === 0 && (k.t === 'word' || k.t === 'qid') && isItemStart) {
      // `t.*`: the qualifier, a dot and a star (whitespace between them allowed).
      const rest = meaningful(toks.slice(i + 1))
      if (rest[0]?.s === '.' && rest[1]?.s === '*') {
        out += list
        i = toks.indexOf(rest[1])
        previous = rest[1]
        continue
      }
      out += k.s
    } else out += k.s
    if (k.t !== 'ws' && k.t !== 'comment') previous = k
  }
  return out
}
