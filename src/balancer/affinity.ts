// Client affinity: client IP → backend id, kept `ttlMs` after its last use and capped at `maxEntries`
// (least recently used go first), so memory stays bounded whatever the client population.
// A Map keeps insertion order; re-inserting on every use makes that order "least recently used first",
// which lets both the sweep and the cap stop at the first live entry. The clock is injected.

export interface AffinityOptions {
  ttlMs: number
  maxEntries: number
  now: () => number
}

interface Binding {
  backendId: string
  lastUsedMs: number
}

export class AffinityTable {
  private readonly bindings = new Map<string, Binding>()
  private readonly ttlMs: number
  private readonly maxEntries: number
  private readonly now: () => number
  private evictedCount = 0

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
    this.bindings.delete(clientIp)
    if (now - binding.lastUsedMs > this.ttlMs) return undefined
    binding.lastUsedMs = now
    this.bindings.set(clientIp, binding)
    return binding.backendId
  }

  /** The bound backend without refreshing the binding (for `route explain`). */
  peek(clientIp: string): string | undefined {
    const binding = this.bindings.get(clientIp)
    if (binding === undefined || this.now() - binding.lastUsedMs > this.ttlMs) return undefined
    return binding.backendId
  }

  set(clientIp: string, backendId: string): void {
    this.bindings.delete(clientIp)
    this.bindings.set(clientIp, {backendId, lastUsedMs: this.now()})
    if (this.bindings.size > this.maxEntries) {
      const oldest = this.bindings.keys().next().value as string
      this.bindings.delete(oldest)
      this.evictedCount++
    }
  }

  delete(clientIp: string): void {
    this.bindings.delete(clientIp)
  }

  /** Drops expired bindings; returns how many. Cost is proportional to the number dropped. */
  sweep(): number {
    const cutoff = this.now() - this.ttlMs
    let removed = 0
    for (const [ip, binding] of this.bindings) {
      if (binding.lastUsedMs >= cutoff) break
      this.bindings.delete(ip)
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
}
