// The status page's charts: a fixed ring of samples (new connections and client errors per second,
// open connections) taken from counter totals at a steady interval. Pure: the caller reads the
// counters and the clock and hands them in, so a test drives it with exact numbers and times.

/** Counter totals at one instant (monotonic within one process). */
export interface TrafficTotals {
  /** Client connections accepted so far. */
  connections: number
  /** Client connections that ended in an error so far. */
  errors: number
  /** Client connections open now. */
  active: number
}

/** GET /api/v1/traffic: oldest first, one entry per sample; the arrays have the same length. */
export interface TrafficJson {
  sample_secs: number
  window_secs: number
  /** ISO time of the newest sample; null before the first rate could be computed. */
  last_sample_at: string | null
  connections_per_sec: number[]
  errors_per_sec: number[]
  active: number[]
}

const round2 = (n: number) => Math.round(n * 100) / 100

export class TrafficHistory {
  readonly capacity: number
  private readonly connectionRates: Float64Array
  private readonly errorRates: Float64Array
  private readonly actives: Float64Array
  /** Index the next sample goes to. */
  private next = 0
  private count = 0
  private previous?: {atMs: number; totals: TrafficTotals}
  private lastAtMs = 0

  constructor(
    readonly sampleMs: number,
    readonly windowMs: number,
  ) {
    this.capacity = Math.max(2, Math.ceil(windowMs / sampleMs))
    this.connectionRates = new Float64Array(this.capacity)
    this.errorRates = new Float64Array(this.capacity)
    this.actives = new Float64Array(this.capacity)
  }

  /**
   * Takes the totals read at `atMs`. The first call only sets the baseline; each later one adds the
   * rates since the previous call. Totals that went down (counters reset) count as zero, not negative.
   */
  record(atMs: number, totals: TrafficTotals): void {
    const before = this.previous
    this.previous = {atMs, totals: {...totals}}
    if (before === undefined || atMs <= before.atMs) return
    const secs = (atMs - before.atMs) / 1000
    const per = (now: number, then: number) => round2(Math.max(0, now - then) / secs)
    this.connectionRates[this.next] = per(totals.connections, before.totals.connections)
    this.errorRates[this.next] = per(totals.errors, before.totals.errors)
    this.actives[this.next] = totals.active
    this.next = (this.next + 1) % this.capacity
    this.count = Math.min(this.count + 1, this.capacity)
    this.lastAtMs = atMs
  }

  get size(): number {
    return this.count
  }

  toJSON(): TrafficJson {
    const ordered = (ring: Float64Array) => {
      const out: number[] = new Array(this.count)
      const start = (this.next - this.count + this.capacity) % this.capacity
      for (let i = 0; i < this.count; i++) out[i] = ring[(start + i) % this.capacity]
      return out
    }
    return {
      sample_secs: this.sampleMs / 1000,
      window_secs: this.windowMs / 1000,
      last_sample_at: this.count > 0 ? new Date(this.lastAtMs).toISOString() : null,
      connections_per_sec: ordered(this.connectionRates),
      errors_per_sec: ordered(this.errorRates),
      active: ordered(this.actives),
    }
  }
}
