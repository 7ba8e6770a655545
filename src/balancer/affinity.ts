// Client affinity: client IP → backend id, kept `ttlMs` after its last use and capped at `maxEntries`
// (least recently used go first), so memory stays bounded whatever the client population.
// A Map finds a binding; an intrusive doubly linked list through the bindings keeps them least
// recently used first, so a use, the cap and the sweep are O(1) per binding touched. (Re-inserting
// into the Map to keep its order, as this did before, left a deleted slot per use that every
// eviction then skipped from the front: 30 µs per new client at 100,000 bindings.) The clock is injected.

export interface AffinityOptions {
  ttlMs: number
  maxEntries: number
  now: () => number
}

interface Binding {
  clientIp: string
  backendId: string
  lastUsedMs: number
  older: Binding | null
  newer: Binding | null
}

export class AffinityTable {
  private readonly bindings = new Map<string, Binding>()
  private readonly ttlMs: number
  private readonly maxEntries: number
  private readonly now: () => number
  private evictedCount = 0
  /** Least recently used. */
  private oldest: Binding | null = null
  /** Most recently used. */
  private newest: Binding | null = null

  constructor(options: AffinityOptions) {
    this.ttlMs = options.ttlMs
    this.maxEntries = Math.max(1, options.maxEntries)
    this.now = options.now
  }

  /** The backend bound to this client, refreshing the binding; undefined when none or expired. */
  get(clientIp: string): string | undefined {
    const binding = this.bindings.get(clientIp)
    if (binding === undefined) return undefined
    const now = this.now()
    if (now - binding.lastUsedMs > this.ttlMs) {
      this.remove(binding)
      return undefined
    }
    binding.lastUsedMs = now
    this.moveToNewest(binding)
    return binding.backendId
  }

  /** The bound backend without refreshing the binding (for `route explain`). */
  peek(clientIp: string): string | undefined {
    const binding = this.bindings.get(clientIp)
    if (binding === undefined || this.now() - binding.lastUsedMs > this.ttlMs) return undefined
    return binding.backendId
  }

  set(clientIp: string, backendId: string): void {
    const existing = this.bindings.get(clientIp)
    if (existing !== undefined) {
      existing.backendId = backendId
      existing.lastUsedMs = this.now()
      this.moveToNewest(existing)
      return
    }
    const binding: Binding = {clientIp, backendId, lastUsedMs: this.now(), older: this.newest, newer: null}
    if (this.newest !== null) this.newest.newer = binding
    else this.oldest = binding
    this.newest = binding
    this.bindings.set(clientIp, binding)
    if (this.bindings.size > this.maxEntries) {
      this.remove(this.oldest!)
      this.evictedCount++
    }
  }

  delete(clientIp: string): void {
    const binding = this.bindings.get(clientIp)
    if (binding !== undefined) this.remove(binding)
  }

  /** Drops expired bindings; returns how many. Cost is proportional to the number dropped. */
  sweep(): number {
    const cutoff = this.now() - this.ttlMs
    let removed = 0
    while (this.oldest !== null && this.oldest.lastUsedMs < cutoff) {
      this.remove(this.oldest)
      removed++
    }
    return removed
  }

  get size(): number {
    return this.bindings.size
  }

  /** Bindings pushed out by the cap since start. */
  get evicted(): number {
    return this.evictedCount
  }

  private unlink(b: Binding): void {
    if (b.older !== null) b.older.newer = b.newer
    else this.oldest = b.newer
    if (b.newer !== null) b.newer.older = b.older
    else this.newest = b.older
    b.older = null
    b.newer = null
  }

  private moveToNewest(b: Binding): void {
    if (this.newest === b) return
    this.unlink(b)
    b.older = this.newest
    if (this.newest !== null) this.newest.newer = b
    else this.oldest = b
    this.newest = b
  }

  private remove(b: Binding): void {
    this.unlink(b)
    this.bindings.delete(b.clientIp)
  }
}
