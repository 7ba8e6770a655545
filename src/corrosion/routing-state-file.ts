// The last good routing table of a Corrosion-mode POP, kept on disk (like HAProxy's
// server-state-file) so a POP restarted while its agent is down still routes. It holds the rows as
// the agent served them (they are validated again when loaded), is written atomically (temp file,
// fsync, rename) with mode 0600, at most once per interval and only when the table changed. It knows
// nothing of the agent or the feed: rows in, rows out.
import fs from 'node:fs'
import path from 'node:path'

import {errorMessage} from '../errors.js'
import type {BackendRow} from '../store/schema.js'

const FORMAT = 'edgeproxy-routing-state/1'

export interface SavedTable {
  /** Unix ms when the table was written. */
  savedAtMs: number
  /** The store the rows came from, `corrosion:http://…`. */
  source: string
  rows: BackendRow[]
}

/** The saved table at `file`; `problem` says why there is none (missing, unreadable, not ours). */
export function loadRoutingState(file: string): {table?: SavedTable; problem?: string} {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return {problem: code === 'ENOENT' ? `no saved routing table at ${file}` : `cannot read the saved routing table ${file}: ${errorMessage(error)}`}
  }
  try {
    const parsed = JSON.parse(text) as Partial<SavedTable> & {format?: unknown}
    if (parsed.format !== FORMAT || typeof parsed.savedAtMs !== 'number' || !Array.isArray(parsed.rows)) throw new Error(`not a ${FORMAT} file`)
    const rows = parsed.rows.filter((r): r is BackendRow => typeof r === 'object' && r !== null && !Array.isArray(r))
    return {table: {savedAtMs: parsed.savedAtMs, source: String(parsed.source ?? ''), rows}}
  } catch (error) {
    return {problem: `the saved routing table ${file} is unusable (${errorMessage(error)})`}
  }
}

export interface RoutingStateWriterOptions {
  file: string
  source: string
  /** Fewest ms between two writes (default 1000). */
  minIntervalMs?: number
  now?: () => number
  /** A write failed (the next change tries again). */
  onError: (error: unknown) => void
  /** A table reached the disk. */
  onWritten?: (savedAtMs: number) => void
}

/**
 * Writes the table when it changed, at most once per `minIntervalMs`: `changed(rows)` only marks it
 * dirty, and the rows are read and serialized when the write is due, so a busy feed costs one
 * serialization per interval.
 */
export class RoutingStateWriter {
  private rows?: () => readonly BackendRow[]
  private timer?: NodeJS.Timeout
  private writing?: Promise<void>
  private lastWrittenAtMs = -Infinity
  private lastText = ''
  private isClosed = false
  private readonly minIntervalMs: number
  private readonly now: () => number

  constructor(private readonly options: RoutingStateWriterOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 1000
    this.now = options.now ?? Date.now
  }

  /** The routing table changed; `rows` is read when the write is due. */
  changed(rows: () => readonly BackendRow[]): void {
    if (this.isClosed) return
    this.rows = rows
    if (this.timer || this.writing) return
    const wait = Math.max(0, this.lastWrittenAtMs + this.minIntervalMs - this.now())
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.write()
    }, wait) // not unref'd: close() clears it, and a pending table is worth waiting a second for
  }

  /** Writes what is pending now, then stops. */
  async close(): Promise<void> {
    this.isClosed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    await this.writing
    if (this.rows) await this.write()
  }

  private async write(): Promise<void> {
    const rows = this.rows
    if (!rows) return
    this.rows = undefined
    const savedAtMs = this.now()
    const text = JSON.stringify({format: FORMAT, savedAtMs, source: this.options.source, rows: rows()})
    // Same rows as the last write (savedAtMs aside): nothing to do.
    const body = text.slice(text.indexOf(',"source"'))
    if (body === this.lastText) return
    this.lastWrittenAtMs = this.now()
    this.writing = writeAtomically(this.options.file, text + '\n')
      .then(() => {
        this.lastText = body
        this.options.onWritten?.(savedAtMs)
      })
      .catch((error: unknown) => this.options.onError(error))
      .finally(() => {
        this.writing = undefined
        if (this.rows && !this.isClosed) this.changed(this.rows)
      })
    await this.writing
  }
}

/** temp file beside the target (same filesystem), 0600, fsync, rename: a reader sees the old or the new file. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  const handle = await fs.promises.open(tmp, 'w', 0o600)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await fs.promises.chmod(tmp, 0o600) // the mode of open() is filtered by the umask
    await fs.promises.rename(tmp, file)
  } catch (error) {
    await fs.promises.rm(tmp, {force: true})
    throw error
  }
}
