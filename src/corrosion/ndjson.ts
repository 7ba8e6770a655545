// Reads Corrosion's NDJSON bodies (queries, subscriptions, updates) into typed events: one JSON object
// per line, with lines split or coalesced arbitrarily across chunks. It knows the event shapes of
// corrosion-api.md §1.5, not what a caller does with them (eoq handling, resume and so on).
import {CorrosionProtocolError} from './errors.js'

/** A cell as Corrosion sends it: NULL, INTEGER/REAL (±2^53 precision in JS), TEXT, or a BLOB as bytes. */
export type SqliteValue = null | number | string | number[]
export type ChangeType = 'insert' | 'update' | 'delete'

export type QueryEvent =
  | {type: 'columns'; columns: string[]}
  | {type: 'row'; rowid: number; cells: SqliteValue[]}
  | {type: 'eoq'; time: number; changeId?: number}
  | {type: 'change'; changeType: ChangeType; rowid: number; cells: SqliteValue[]; changeId: number}
  | {type: 'error'; message: string}
  | {type: 'notify'; changeType: 'update' | 'delete'; pk: SqliteValue[]}

const CHANGE_TYPES = new Set(['insert', 'update', 'delete'])

function isCells(value: unknown): value is SqliteValue[] {
  return Array.isArray(value)
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0
}

function bad(line: string, why: string): CorrosionProtocolError {
  return new CorrosionProtocolError(`unexpected event from Corrosion (${why}): ${line.slice(0, 200)}`)
}

/** One parsed line → a typed event; throws CorrosionProtocolError on anything else. */
export function parseQueryEvent(line: string): QueryEvent {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    throw bad(line, 'not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(line, 'not an object')
  const keys = Object.keys(value)
  if (keys.length !== 1) throw bad(line, 'expected exactly one key')
  const key = keys[0]!
  const body = (value as Record<string, unknown>)[key]
  switch (key) {
    case 'columns':
      if (!Array.isArray(body) || !body.every((c) => typeof c === 'string')) throw bad(line, 'columns is not a list of names')
      return {type: 'columns', columns: body as string[]}
    case 'row': {
      if (!Array.isArray(body) || body.length !== 2 || !isCount(body[0]) || !isCells(body[1])) throw bad(line, 'row is not [rowid, cells]')
      return {type: 'row', rowid: body[0], cells: body[1]}
    }
    case 'eoq': {
      if (typeof body !== 'object' || body === null) throw bad(line, 'eoq is not an object')
      const {time, change_id: changeId} = body as {time?: unknown; change_id?: unknown}
      if (changeId !== undefined && changeId !== null && !isCount(changeId)) throw bad(line, 'eoq.change_id is not a count')
      return {type: 'eoq', time: typeof time === 'number' ? time : 0, ...(isCount(changeId) ? {changeId} : {})}
    }
    case 'change': {
      if (!Array.isArray(body) || body.length !== 4) throw bad(line, 'change is not [type, rowid, cells, change_id]')
      const [changeType, rowid, cells, changeId] = body as unknown[]
      if (typeof changeType !== 'string' || !CHANGE_TYPES.has(changeType) || !isCount(rowid) || !isCells(cells) || !isCount(changeId)) {
        throw bad(line, 'change is not [type, rowid, cells, change_id]')
      }
      return {type: 'change', changeType: changeType as ChangeType, rowid, cells, changeId}
    }
    case 'error':
      return {type: 'error', message: typeof body === 'string' ? body : JSON.stringify(body)}
    case 'notify': {
      if (!Array.isArray(body) || body.length !== 2 || (body[0] !== 'update' && body[0] !== 'delete') || !isCells(body[1])) {
        throw bad(line, 'notify is not [type, pk]')
      }
      return {type: 'notify', changeType: body[0], pk: body[1]}
    }
    default:
      throw bad(line, `unknown event ${JSON.stringify(key)}`)
  }
}

/**
 * Splits a byte stream into lines and parses each. A multi-byte character split across chunks is
 * decoded correctly (TextDecoder stream mode); a final line without `\n` is still parsed.
 */
export async function* readNdjson(body: AsyncIterable<Uint8Array>): AsyncGenerator<QueryEvent> {
  const decoder = new TextDecoder('utf-8', {fatal: false})
  let pending = ''
  for await (const chunk of body) {
    pending += decoder.decode(chunk, {stream: true})
    let start = 0
    let newline = pending.indexOf('\n', start)
    while (newline !== -1) {
      const line = pending.slice(start, newline).trim()
      start = newline + 1
      if (line !== '') yield parseQueryEvent(line)
      newline = pending.indexOf('\n', start)
    }
    pending = pending.slice(start)
  }
  pending += decoder.decode()
  const last = pending.trim()
  if (last !== '') yield parseQueryEvent(last)
}
