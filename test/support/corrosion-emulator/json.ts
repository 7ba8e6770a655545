// JSON in and out the way the agent's serde_json sees it: integer literals that fit i64 parse as
// bigint (SQLite INTEGER), every other number as a JS number (REAL); errors carry serde's
// "at line L column C"; output writes bigints exactly, REALs as 1.0, blobs as byte arrays.

export type JsonValue = null | boolean | string | bigint | number | JsonValue[] | {[key: string]: JsonValue}

export class JsonSyntaxError extends Error {}

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n

export function position(text: string, offset: number): string {
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  const column = offset - (before.lastIndexOf('\n') + 1)
  return `line ${line} column ${column}`
}

/** Parses `text`; for a top-level array also returns where each element ends (for serde columns). */
export function parseJson(text: string): {value: JsonValue; elementEnds: number[]} {
  let i = 0
  const elementEnds: number[] = []
  const fail = (msg: string, at = i): never => {
    throw new JsonSyntaxError(`${msg} at ${position(text, Math.min(at + 1, text.length))}`)
  }
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }
  const value = (depth: number): JsonValue => {
    ws()
    if (i >= text.length) return fail('EOF while parsing a value')
    const c = text[i]!
    if (c === '{') {
      i++
      const obj: {[k: string]: JsonValue} = {}
      ws()
      if (text[i] === '}') {
        i++
        return obj
      }
      for (;;) {
        ws()
        if (i >= text.length) return fail('EOF while parsing an object')
        if (text[i] !== '"') return fail('key must be a string')
        const key = str()
        ws()
        if (text[i] !== ':') return fail('expected `:`')
        i++
        obj[key] = value(depth + 1)
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === '}') {
          i++
          return obj
        }
        return fail(i >= text.length ? 'EOF while parsing an object' : 'expected `,` or `}`')
      }
    }
    if (c === '[') {
      i++
      const arr: JsonValue[] = []
      ws()
      if (text[i] === ']') {
        i++
        return arr
      }
      for (;;) {
        arr.push(value(depth + 1))
        if (depth === 0) elementEnds.push(i)
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === ']') {
          i++
          return arr
        }
        return fail(i >= text.length ? 'EOF while parsing a list' : 'expected `,` or `]`')
      }
    }
    if (c === '"') return str()
    if (text.startsWith('true', i)) {
      i += 4
      return true
    }
    if (text.startsWith('false', i)) {
      i += 5
      return false
    }
    if (text.startsWith('null', i)) {
      i += 4
      return null
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i))
    if (!m || m[0] === '-') return fail('expected value')
    i += m[0].length
    if (m[2] === undefined && m[3] === undefined) {
      const big = BigInt(m[0])
      if (big >= I64_MIN && big <= I64_MAX) return big
    }
    return Number(m[0])
  }
  const str = (): string => {
    const start = i
    i++
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++
      i++
    }
    if (i >= text.length) return fail('EOF while parsing a string')
    i++
    try {
      return JSON.parse(text.slice(start, i)) as string
    } catch {
      return fail('invalid escape', start)
    }
  }
  const result = value(0)
  ws()
  if (i < text.length) fail('trailing characters')
  return {value: result, elementEnds}
}

/** Serializes like serde_json: bigint exact, integral REAL as `1.0`, non-finite REAL as null, Buffer as bytes. */
export function toJson(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return 'null'
    return Number.isInteger(value) && Math.abs(value) < 1e16 ? `${value}.0` : JSON.stringify(value)
  }
  if (typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value)
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `[${Array.from(value).join(',')}]`
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
      .join(',')}}`
  }
  return 'null'
}
