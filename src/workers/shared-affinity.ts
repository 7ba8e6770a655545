// Client affinity in shared memory, so a client finds its binding whichever worker accepts it: a
// fixed-size open-addressing table (a probe window of 8 entries from the key's hash) of
// (hash1, hash2) → slot word, with the last use beside it. A binding expires `ttlMs` after its last
// use; at the cap (or a full window) the least recently used entry of the window goes, so the
// eviction is LRU within a window rather than over the whole table. Keys are two independent
// 32-bit hashes of the client address (a false match needs both to collide: about 1 in 2^64 per
// pair). One futex-style lock guards the table; every section under it is a few reads.
import {lockMutex, unlockMutex} from './mutex.js'
import {H_AFFINITY_EVICTED, H_AFFINITY_LOCK, H_AFFINITY_SIZE, sharedNow, type SharedMemory} from './shared-memory.js'

const WINDOW = 8

/** FNV-1a over the UTF-16 code units, with two seeds. */
function hash(text: string, seed: number): number {
  let h = seed
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  // Never 0: an entry with hash1 0 would read as empty after a torn view (there is none under the lock, but it costs nothing).
  return h | 1
}

export interface SharedAffinityOptions {
  ttlMs: number
  maxEntries: number
  now?: () => number
}

export class SharedAffinity {
  private readonly keys: Int32Array
  private readonly used: Float64Array
  private readonly header: Int32Array
  private readonly mask: number
  private readonly ttlMs: number
  private readonly maxEntries: number
  private readonly now: () => number
  // The last address hashed: acquire() looks a client up and may bind it right after.
  private lastText = ''
  private h1 = 0
  private h2 = 0

  constructor(
    memory: SharedMemory,
    options: SharedAffinityOptions,
  ) {
    this.keys = memory.affinityKeys
    this.used = memory.affinityUsed
    this.header = memory.header
    this.mask = memory.layout.affinityCapacity - 1
    this.ttlMs = options.ttlMs
    this.maxEntries = Math.max(1, Math.min(options.maxEntries, memory.layout.affinityCapacity))
    this.now = options.now ?? sharedNow
  }

  private hashKey(text: string): void {
    if (text === this.lastText && text !== '') return
    this.lastText = text
    this.h1 = hash(text, 0x811c9dc5 | 0)
    this.h2 = hash(text, 0x2f6b_3c1d)
  }

  private lock(): void {
    lockMutex(this.header, H_AFFINITY_LOCK)
  }

  private unlock(): void {
    unlockMutex(this.header, H_AFFINITY_LOCK)
  }

  /** The entry index of the key in its window, or -1. Under the lock. */
  private find(): number {
    const keys = this.keys
    const start = this.h1 & this.mask
    for (let k = 0; k < WINDOW; k++) {
      const e = (start + k) & this.mask
      const at = e * 3
      if (keys[at + 2] !== 0 && keys[at] === this.h1 && keys[at + 1] === this.h2) return e
    }
    return -1
  }

  private clear(e: number): void {
    this.keys[e * 3 + 2] = 0
    this.header[H_AFFINITY_SIZE]--
  }

  /** The slot word bound to the client, refreshing the binding; 0 when none or expired. */
  get(clientIp: string): number {
    this.hashKey(clientIp)
    const now = this.now()
    this.lock()
    let word = 0
    const e = this.find()
    if (e >= 0) {
      if (now - this.used[e] > this.ttlMs) this.clear(e)
      else {
        this.used[e] = now
        word = this.keys[e * 3 + 2]
      }
    }
    this.unlock()
    return word
  }

  /** The slot word bound to the client without refreshing it; 0 when none or expired. */
  peek(clientIp: string): number {
    this.hashKey(clientIp)
    const now = this.now()
    this.lock()
    const e = this.find()
    const word = e >= 0 && now - this.used[e] <= this.ttlMs ? this.keys[e * 3 + 2] : 0
    this.unlock()
    return word
  }

  /**
   * Binds the client to `word`. When the client already has a live binding to another word and
   * `isLive(thatWord)` says its backend still exists, that binding stays (another worker made it
   * first) and its word is returned, unless `isForced`. Returns the word bound now.
   */
  set(clientIp: string, word: number, isLive: (word: number) => boolean, isForced = false): number {
    this.hashKey(clientIp)
    const now = this.now()
    const keys = this.keys
    this.lock()
    let e = this.find()
    if (e >= 0) {
      const bound = keys[e * 3 + 2]
      if (!isForced && bound !== word && now - this.used[e] <= this.ttlMs && isLive(bound)) {
        this.used[e] = now
        this.unlock()
        return bound
      }
    } else {
      e = this.freeEntry(now)
      keys[e * 3] = this.h1
      keys[e * 3 + 1] = this.h2
      this.header[H_AFFINITY_SIZE]++
    }
    keys[e * 3 + 2] = word
    this.used[e] = now
    this.unlock()
    return word
  }

  /** An entry of the key's window to write a new binding to: a free or expired one, else the oldest (evicted). Under the lock. */
  private freeEntry(now: number): number {
    const keys = this.keys
    const start = this.h1 & this.mask
    const isFull = this.header[H_AFFINITY_SIZE] >= this.maxEntries
    let oldest = -1
    for (let k = 0; k < WINDOW; k++) {
      const e = (start + k) & this.mask
      if (keys[e * 3 + 2] === 0) {
        if (!isFull) return e
        continue
      }
      if (now - this.used[e] > this.ttlMs) {
        this.clear(e)
        return e
      }
      if (oldest < 0 || this.used[e] < this.used[oldest]) oldest = e
    }
    // At the cap with an empty window: some other binding goes to make room.
    if (oldest < 0) return this.evictAnywhere(start)
    this.clear(oldest)
    this.header[H_AFFINITY_EVICTED]++
    return oldest
  }

  /** At the cap with an empty window: the nearest occupied entry after it goes, and its place is used here. */
  private evictAnywhere(start: number): number {
    const keys = this.keys
    for (let k = WINDOW; k <= this.mask; k++) {
      const e = (start + k) & this.mask
      if (keys[e * 3 + 2] !== 0) {
        this.clear(e)
        this.header[H_AFFINITY_EVICTED]++
        return start
      }
    }
    return start
  }

  delete(clientIp: string): void {
    this.hashKey(clientIp)
    this.lock()
    const e = this.find()
    if (e >= 0) this.clear(e)
    this.unlock()
  }

  /** Forgets every binding to a word `isLive` rejects and every expired one; returns how many went. */
  sweep(isLive?: (word: number) => boolean): number {
    const keys = this.keys
    const now = this.now()
    let removed = 0
    // In chunks, so a worker waiting for the lock waits for one chunk at most.
    for (let from = 0; from <= this.mask; from += 4096) {
      this.lock()
      const to = Math.min(this.mask + 1, from + 4096)
      for (let e = from; e < to; e++) {
        const word = keys[e * 3 + 2]
        if (word === 0) continue
        if (now - this.used[e] > this.ttlMs || (isLive !== undefined && !isLive(word))) {
          this.clear(e)
          removed++
        }
      }
      this.unlock()
    }
    return removed
  }

  get size(): number {
    return Atomics.load(this.header, H_AFFINITY_SIZE)
  }

  get evicted(): number {
    return Atomics.load(this.header, H_AFFINITY_EVICTED)
  }
}
