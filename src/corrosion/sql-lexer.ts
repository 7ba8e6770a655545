// A small SQLite tokenizer: enough to split statements, find parameters and read CREATE TABLE
// column definitions without being fooled by strings, quoted names or comments. It is not a parser
// and does not know what any statement means.

export type TokenKind = 'space' | 'comment' | 'string' | 'blob' | 'quoted' | 'word' | 'number' | 'param' | 'punct'

export interface Token {
  kind: TokenKind
  text: string
  start: number
  end: number
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/

function readQuoted(sql: string, start: number, close: string): number {
  let i = start + 1
  while (i < sql.length) {
    if (sql[i] === close) {
      if (close !== ']' && sql[i + 1] === close) {
        i += 2
        continue
      }
      return i + 1
    }
    i++
  }
  return sql.length
}

/** Every token, whitespace and comments included, so the text can be rebuilt exactly. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < sql.length) {
    const c = sql[i]!
    const start = i
    let kind: TokenKind
    if (/\s/.test(c)) {
      while (i < sql.length && /\s/.test(sql[i]!)) i++
      kind = 'space'
    } else if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i)
      i = nl === -1 ? sql.length : nl
      kind = 'comment'
    } else if (c === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2)
      i = close === -1 ? sql.length : close + 2
      kind = 'comment'
    } else if (c === "'") {
      i = readQuoted(sql, i, "'")
      kind = 'string'
    } else if ((c === 'x' || c === 'X') && sql[i + 1] === "'") {
      i = readQuoted(sql, i + 1, "'")
      kind = 'blob'
    } else if (c === '"' || c === '`') {
      i = readQuoted(sql, i, c)
      kind = 'quoted'
    } else if (c === '[') {
      i = readQuoted(sql, i, ']')
      kind = 'quoted'
    } else if (c === '?') {
      i++
      while (i < sql.length && /[0-9]/.test(sql[i]!)) i++
      kind = 'param'
    } else if ((c === ':' || c === '@' || c === '$') && i + 1 < sql.length && WORD_PART.test(sql[i + 1]!)) {
      i++
      while (i < sql.length && (WORD_PART.test(sql[i]!) || sql[i] === ':')) i++
      kind = 'param'
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      while (i < sql.length && /[0-9A-Za-z_.]/.test(sql[i]!)) {
        if ((sql[i] === 'e' || sql[i] === 'E') && (sql[i + 1] === '+' || sql[i + 1] === '-')) i++
        i++
      }
      kind = 'number'
    } else if (WORD_START.test(c)) {
      while (i < sql.length && WORD_PART.test(sql[i]!)) i++
      kind = 'word'
    } else {
      const two = sql.slice(i, i + 2)
      i += ['||', '<=', '>=', '==', '!=', '<>', '<<', '>>', '->'].includes(two) ? (sql.slice(i, i + 3) === '->>' ? 3 : 2) : 1
      kind = 'punct'
    }
    tokens.push({kind, text: sql.slice(start, i), start, end: i})
  }
  return tokens
}

/** Tokens that carry meaning (no whitespace, no comments). */
export function significant(tokens: readonly Token[]): Token[] {
  return tokens.filter((t) => t.kind !== 'space' && t.kind !== 'comment')
}

/** The statements of a script, split on top-level `;`, trimmed, empty ones dropped. */
export function splitStatements(sql: string): {text: string; tokens: Token[]}[] {
  const out: {text: string; tokens: Token[]}[] = []
  let current: Token[] = []
  const flush = () => {
    const sig = significant(current)
    if (sig.length > 0) out.push({text: sql.slice(sig[0]!.start, sig.at(-1)!.end), tokens: current})
    current = []
  }
  for (const token of tokenize(sql)) {
    if (token.kind === 'punct' && token.text === ';') flush()
    else current.push(token)
  }
  flush()
  return out
}

/** A quoted name without its quotes ("a""b" → a"b); other tokens unchanged. */
export function unquote(text: string): string {
  const first = text[0]
  if (first === '"' || first === '`' || first === "'") return text.slice(1, -1).replaceAll(first + first, first)
  if (first === '[') return text.slice(1, -1)
  return text
}

/** The same statement with every run of whitespace or comments outside tokens turned into one space. */
export function normalizeSql(sql: string): string {
  const parts: string[] = []
  let needSpace = false
  for (const token of tokenize(sql)) {
    if (token.kind === 'space' || token.kind === 'comment') {
      needSpace = parts.length > 0
      continue
    }
    if (needSpace) parts.push(' ')
    needSpace = false
    parts.push(token.text)
  }
  let text = parts.join('').trim()
  while (text.endsWith(';')) text = text.slice(0, -1).trimEnd()
  return text
}

/**
 * A statement as Corrosion prints it in schema errors (`{cmd}` is sqlite3-parser 0.12's `Display for
 * Cmd`: its FmtTokenStream puts one space between tokens, none after `(` or `.`, none before `,`
 * `;` `)` `.`, and ends with `;`). Keywords keep the case they were written in here; the parser
 * prints them upper-case.
 */
export function renderStatement(tokens: readonly Token[]): string {
  let out = ''
  let isSpaced = true
  const sig = significant(tokens)
  sig.forEach((token, i) => {
    if (token.kind === 'punct' && token.text === ';') return
    if (!isSpaced && !(token.kind === 'punct' && [',', ')', '.'].includes(token.text))) out += ' '
    // CREATE TEMPORARY TABLE prints as TK_TEMP: "TEMP"
    out += i === 1 && isWord(sig[0], 'CREATE') && isWord(token, 'TEMPORARY') ? 'TEMP' : token.text
    isSpaced = token.kind === 'punct' && (token.text === '(' || token.text === '.')
  })
  return `${out};`
}

/** Keyword check on a token, case-insensitive. */
export function isWord(token: Token | undefined, ...words: string[]): boolean {
  return token !== undefined && token.kind === 'word' && words.includes(token.text.toUpperCase())
}
