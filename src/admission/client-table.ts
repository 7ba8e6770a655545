// Per-client-key state of admission: a token bucket (new connections per second, with a burst) and
// the count of open connections, in a table bounded to `maxEntries` keys with least-recently-used
// eviction, so memory stays bounded whatever the client population. Keys with open connections are
// evicted last. Pure: the clock is injected, nothing here touches a socket.
//
// Cost per connection of a known key: one Map lookup, a few arithmetic operations and six pointer
// writes (the entry moves to the back of an intrusive LRU list), no allocation. The list, not the
// Map's own order, finds the oldest entry: evicting from the front of a Map leaves deleted slots
// that every later walk from the front would step over again.

export interface ClientEntry {
  readonly key: string
  /** Tokens left (fractions refill continuously), as of refilledAtMs. */
  tokens: number
  refilledAtMs: number
  /** Open connections of this key. */
  active: number
  /** Neighbours in the LRU list (older, newer); null at the ends. */
  older: ClientEntry | null
  newer: ClientEntry | null
}

export interface BucketOptions {
  /** Tokens added per millisecond (max_requests / window). */
  refillPerMs: number
  /** Bucket size: the most new connections in a burst. */
  burst: number
}

/** Refills the bucket to `nowMs` and takes one token; false (nothing taken) when there is none. */
export function takeToken(entry: ClientEntry, nowMs: number, o: BucketOptions): boolean {
  refill(entry, nowMs, o)
  if (entry.tokens < 1) return false
  entry.tokens -= 1
  return true
}

export function refill(entry: ClientEntry, nowMs: number, o: BucketOptions): void {
  const elapsed = nowMs - entry.refilledAtMs
  if (elapsed > 0) {
    const tokens = entry.tokens + elapsed * o.refillPerMs
    entry.tokens = tokens > o.burst ? o.burst : tokens
    entry.refilledAtMs = nowMs
  }
}

export interface ClientTableOptions {
  maxEntries: number
  /** Tokens a new key starts with (a full bucket). */
  initialTokens: number
  now: () => number
}

/** How many entries from the oldest end an eviction looks at for one without open connections. */
const EVICTION_PROBES = 8

export class ClientTable {
  /** Keys dropped by the bound since start (read at scrape time). */
  evicted = 0
  /** Evictions that had to drop a key with open connections (its count restarts at 0). */
  evictedActive = 0
  private readonly entries = new Map<string, ClientEntry>()
  private readonly maxEntries: number
  private oldest: ClientEntry | null = null
  private newest: ClientEntry | null = null

  constructor(private readonly options: ClientTableOptions) {
    this.maxEntries = Math.max(1, options.maxEntries)
  }

  get size(): number {
    return this.entries.size
  }

  /** The entry of `key`, created with a full bucket when new; it becomes the most recently used. */
  get(key: string): ClientEntry {
    const found = this.entries.get(key)
    if (found !== undefined) {
      if (found !== this.newest) {
        this.unlink(found)
        this.append(found)
      }
      return found
    }
    const entry: ClientEntry = {key, tokens: this.options.initialTokens, refilledAtMs: this.options.now(), active: 0, older: null, newer: null}
    this.entries.set(key, entry)
    this.append(entry)
    if (this.entries.size > this.maxEntries) this.evictOne()
    return entry
  }

  /** The entry without creating it or changing the LRU order (for `route explain`). */
  peek(key: string): ClientEntry | undefined {
    return this.entries.get(key)
  }

  private unlink(e: ClientEntry): void {
    if (e.older === null) this.oldest = e.newer
    else e.older.newer = e.newer
    if (e.newer === null) this.newest = e.older
    else e.newer.older = e.older
    e.older = null
    e.newer = null
  }

  private append(e: ClientEntry): void {
    e.older = this.newest
    e.newer = null
    if (this.newest === null) this.oldest = e
    else this.newest.newer = e
    this.newest = e
  }

  private evictOne(): void {
    // Keys with open connections are passed over (moved to the newest end) a few at a time.
    let victim = this.oldest!
    for (let probes = 1; victim.active > 0 && probes < EVICTION_PROBES; probes++) {
      this.unlink(victim)
      this.append(victim)
      victim = this.oldest!
    }
    this.unlink(victim)
    this.entries.delete(victim.key)
    this.evicted++
    if (victim.active > 0) this.evictedActive++
  }
}
