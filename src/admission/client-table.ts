// Per-client-key state of admission in shared memory, so every worker of a process counts a client
// in one place: a fixed-size open-addressing table (a probe window of 16 entries from the key's
// hash, 2 entries of one cache line each per EDGEPROXY_RATE_LIMIT_MAX_ENTRIES) of key → token
// bucket and open connections.
// It knows no address and no policy: keys are a kind and four 32-bit words (src/admission/client-key.ts),
// and the caller decides under the entry's lock (src/admission/admission.ts).
//
// Concurrency. Each entry has a lock word (compare-and-swap 0 → 1; the sections under it are a few
// reads and writes). A known key is found by reading the window without a lock, then locked and
// checked again. A new key is inserted under one table-wide lock (so two workers never insert it
// twice), into a free entry of its window or in place of the least recently used entry without open
// connections. An entry with open connections is never evicted, so nobody escapes the cap by
// evictions; when no entry a new key may use is free of open connections, the key is refused.
// A connection ends with an atomic decrement of its entry's count, without the lock.

import {lockMutex, unlockMutex} from '../workers/mutex.js'

const WINDOW = 16
// Header words (Int32).
const H_INSERT_LOCK = 0
const H_SIZE = 1
const H_EVICTED = 2
/** Shared-clock second of the last `admission_table_full` line (one line per 10 s over every worker). */
const H_FULL_LOGGED_SEC = 3
const H_DRY_RUN = 4
const HEADER_WORDS = 8
// An entry is one 64-byte cache line: eight Int32 words, then three Float64 values (and 8 bytes spare).
const ENTRY_BYTES = 64
const E_LOCK = 0
const E_KIND = 1
const E_HASH = 2
const E_KEY = 3
const E_OPEN = 7
const ENTRY_WORDS = ENTRY_BYTES / 4
// Float64 values: tokens, when they were counted, last use (ms); at byte 32 of the entry.
const F_TOKENS = 4
const F_AT = 5
const F_USED = 6
const ENTRY_F64 = ENTRY_BYTES / 8

/** Entries for a bound of `maxEntries` keys: room for a probe window of free entries at the bound. */
export function capacityFor(maxEntries: number): number {
  return Math.max(64, Math.ceil(maxEntries) * 2)
}

/** Bytes of shared memory a table for `maxEntries` keys takes (128 per key of the bound, and a header line). */
export function bytesFor(maxEntries: number): number {
  return (capacityFor(maxEntries) + 1) * ENTRY_BYTES
}

export class ClientTable {
  readonly buffer: SharedArrayBuffer
  readonly maxEntries: number
  readonly capacity: number
  private readonly header: Int32Array
  private readonly words: Int32Array
  private readonly values: Float64Array

  /** A new table, or (with `buffer`) the view of another thread's. */
  constructor(maxEntries: number, buffer?: SharedArrayBuffer) {
    this.maxEntries = Math.max(1, maxEntries)
    this.capacity = capacityFor(this.maxEntries)
    this.buffer = buffer ?? new SharedArrayBuffer(bytesFor(this.maxEntries))
    // The header has a line of its own; the entries follow (the same bytes seen as Int32 and as Float64).
    this.header = new Int32Array(this.buffer, 0, HEADER_WORDS)
    this.words = new Int32Array(this.buffer, ENTRY_BYTES, this.capacity * ENTRY_WORDS)
    this.values = new Float64Array(this.buffer, ENTRY_BYTES, this.capacity * ENTRY_F64)
  }

  get size(): number {
    return Atomics.load(this.header, H_SIZE)
  }

  /** Keys dropped to make room for new ones since start (all workers). */
  get evicted(): number {
    return Atomics.load(this.header, H_EVICTED)
  }

  /** Connections a dry run let through that would have been refused (all workers). */
  get dryRunWouldRefuse(): number {
    return Atomics.load(this.header, H_DRY_RUN)
  }

  countDryRun(): void {
    Atomics.add(this.header, H_DRY_RUN, 1)
  }

  /** Whether this thread should log the table being full now: true once per `intervalSecs` over every thread. */
  claimFullLog(nowMs: number, intervalSecs: number): boolean {
    // + 1: 0 stands for never.
    const sec = (Math.floor(nowMs / 1000) + 1) | 0
    const last = Atomics.load(this.header, H_FULL_LOGGED_SEC)
    if (last !== 0 && sec - last < intervalSecs) return false
    return Atomics.compareExchange(this.header, H_FULL_LOGGED_SEC, last, sec) === last
  }

  private matches(e: number, kind: number, hash: number, key: Int32Array): boolean {
    const w = this.words
    const at = e * ENTRY_WORDS
    return w[at + E_HASH] === hash && w[at + E_KIND] === kind && w[at + E_KEY] === key[0] && w[at + E_KEY + 1] === key[1] && w[at + E_KEY + 2] === key[2] && w[at + E_KEY + 3] === key[3]
  }

  /** The entry holding the key, or -1; read without a lock, so the caller checks again under the entry's. */
  find(kind: number, hash: number, key: Int32Array): number {
    const w = this.words
    const cap = this.capacity
    let e = (hash >>> 0) % cap
    for (let k = 0; k < WINDOW; k++) {
      const at = e * ENTRY_WORDS
      if (w[at + E_HASH] === hash && this.matches(e, kind, hash, key)) return e
      if (++e === cap) e = 0
    }
    return -1
  }

  private lockEntry(e: number): void {
    const w = this.words
    const at = e * ENTRY_WORDS + E_LOCK
    // Held for a few writes at most: spin, and yield the core for a moment if it takes long (the holder was descheduled).
    for (let spins = 0; Atomics.compareExchange(w, at, 0, 1) !== 0; spins++) if (spins > 64) Atomics.wait(w, at, 1, 0.05)
  }

  unlock(e: number): void {
    Atomics.store(this.words, e * ENTRY_WORDS + E_LOCK, 0)
  }

  /**
   * The entry of the key, locked (the caller reads and writes it, then unlock()s), created with
   * `tokens` counted at `nowMs` when new; -1 when the key is new and every entry it may use holds a
   * client with open connections.
   */
  lock(kind: number, hash: number, key: Int32Array, nowMs: number, tokens: number): number {
    const e = this.find(kind, hash, key)
    if (e >= 0) {
      this.lockEntry(e)
      if (this.matches(e, kind, hash, key)) {
        this.values[e * ENTRY_F64 + F_USED] = nowMs
        return e
      }
      // Evicted between the look and the lock: insert it again.
      this.unlock(e)
    }
    return this.insert(kind, hash, key, nowMs, tokens)
  }

  // Only inserts take the table-wide mutex.
  private lockInserts(): void {
    lockMutex(this.header, H_INSERT_LOCK)
  }

  private unlockInserts(): void {
    unlockMutex(this.header, H_INSERT_LOCK)
  }

  private insert(kind: number, hash: number, key: Int32Array, nowMs: number, tokens: number): number {
    this.lockInserts()
    try {
      // Another thread may have inserted it meanwhile: inserts are serialised, so one look under the lock settles it.
      const found = this.find(kind, hash, key)
      if (found >= 0) {
        this.lockEntry(found)
        if (this.matches(found, kind, hash, key)) {
          this.values[found * ENTRY_F64 + F_USED] = nowMs
          return found
        }
        this.unlock(found)
      }
      const e = this.claim(hash)
      if (e < 0) return -1
      const w = this.words
      const at = e * ENTRY_WORDS
      w[at + E_KEY] = key[0]
      w[at + E_KEY + 1] = key[1]
      w[at + E_KEY + 2] = key[2]
      w[at + E_KEY + 3] = key[3]
      w[at + E_KIND] = kind
      Atomics.store(w, at + E_OPEN, 0)
      Atomics.store(w, at + E_HASH, hash)
      const v = e * ENTRY_F64
      this.values[v + F_TOKENS] = tokens
      this.values[v + F_AT] = nowMs
      this.values[v + F_USED] = nowMs
      return e
    } finally {
      this.unlockInserts()
    }
  }

  /**
   * A locked entry of the window to write a new key to: a free one while the table is under its
   * bound, else the least recently used one without open connections (evicted); -1 when none.
   * Under the insert lock (no other thread changes which key an entry holds meanwhile).
   */
  private claim(hash: number): number {
    const w = this.words
    const cap = this.capacity
    const start = (hash >>> 0) % cap
    const isFull = Atomics.load(this.header, H_SIZE) >= this.maxEntries
    // At most a window's worth of tries: an entry seen idle may have had a connection opened before it was locked.
    for (let tries = 0; tries < WINDOW; tries++) {
      let free = -1
      let oldest = -1
      for (let k = 0, e = start; k < WINDOW; k++, e = e + 1 === cap ? 0 : e + 1) {
        const at = e * ENTRY_WORDS
        if (Atomics.load(w, at + E_HASH) === 0) {
          if (free < 0) free = e
        } else if (Atomics.load(w, at + E_OPEN) === 0 && (oldest < 0 || this.values[e * ENTRY_F64 + F_USED] < this.values[oldest * ENTRY_F64 + F_USED])) {
          oldest = e
        }
      }
      if (free >= 0 && !isFull) {
        this.lockEntry(free)
        Atomics.add(this.header, H_SIZE, 1)
        return free
      }
      if (oldest < 0) {
        // At the bound with a window of free entries and busy ones only: an idle key elsewhere makes room.
        if (free >= 0 && this.evictElsewhere(start)) {
          this.lockEntry(free)
          return free
        }
        return -1
      }
      this.lockEntry(oldest)
      if (Atomics.load(w, oldest * ENTRY_WORDS + E_OPEN) === 0) {
        Atomics.add(this.header, H_EVICTED, 1)
        return oldest
      }
      this.unlock(oldest)
    }
    return -1
  }

  /** Drops the first key without open connections after the window (the size stays: the caller fills a free entry). */
  private evictElsewhere(start: number): boolean {
    const w = this.words
    const cap = this.capacity
    for (let k = WINDOW, e = (start + WINDOW) % cap; k < cap; k++, e = e + 1 === cap ? 0 : e + 1) {
      const at = e * ENTRY_WORDS
      if (Atomics.load(w, at + E_HASH) === 0 || Atomics.load(w, at + E_OPEN) !== 0) continue
      this.lockEntry(e)
      if (Atomics.load(w, at + E_OPEN) === 0) {
        Atomics.store(w, at + E_HASH, 0)
        w[at + E_KIND] = 0
        this.unlock(e)
        Atomics.add(this.header, H_EVICTED, 1)
        return true
      }
      this.unlock(e)
    }
    return false
  }

  // ---- entry fields: under the entry's lock (open() and release() excepted) ----------------------

  tokens(e: number): number {
    return this.values[e * ENTRY_F64 + F_TOKENS]
  }

  countedAt(e: number): number {
    return this.values[e * ENTRY_F64 + F_AT]
  }

  setTokens(e: number, tokens: number, atMs: number): void {
    const v = e * ENTRY_F64
    this.values[v + F_TOKENS] = tokens
    this.values[v + F_AT] = atMs
  }

  /**
   * Open connections of the entry's key (all workers). A plain read: under the entry's lock only
   * releases race with it, so it may read one too many, never one too few.
   */
  open(e: number): number {
    return this.words[e * ENTRY_WORDS + E_OPEN]
  }

  /** One more open connection (under the lock, after the checks). */
  opened(e: number): void {
    Atomics.add(this.words, e * ENTRY_WORDS + E_OPEN, 1)
  }

  /** A connection of the entry's key closed (no lock: the entry cannot go while it counts one). */
  release(e: number): void {
    Atomics.sub(this.words, e * ENTRY_WORDS + E_OPEN, 1)
  }
}
