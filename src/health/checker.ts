// The active checker of one POP: it follows the router's backends, checks each over a fresh
// connection on its own jittered timer (the first within one interval of its arrival, faster while
// its state is changing), never runs more than `concurrency` checks at once (the rest queue in
// order), and feeds the results to the router's HealthTable, which alone decides routing. Results
// stay in this process: nothing is written to the routing store.
import type {Backend} from '../balancer/backend.js'
import {firstCheckDelayMs, nextCheckDelayMs, type CheckThresholds, type CheckTiming} from './check-state.js'
import type {CheckTarget, HealthTable} from './health-table.js'
import {probe, undiciProbeClient, type HttpProbeClient, type ProbeResult} from './probes.js'
import type {ProbeDefaults} from './settings.js'

export interface CheckerOptions {
  health: HealthTable
  probe: ProbeDefaults
  timing: CheckTiming
  thresholds: CheckThresholds
  concurrency: number
  random?: () => number
  /** Wall clock (unix ms) stamped on results for display. */
  now?: () => number
}

interface Entry {
  readonly id: string
  readonly target: CheckTarget
  readonly key: string
  timer?: NodeJS.Timeout
  isRemoved: boolean
  startedAt: number
}

/** The check a backend gets: the global settings with its own overrides; null when it opts out. */
export function checkTarget(b: Backend, defaults: ProbeDefaults): CheckTarget | null {
  if (b.checkType === 'none') return null
  const type = b.checkType === '' ? defaults.type : b.checkType
  return {
    type,
    host: b.host,
    port: b.checkPort > 0 ? b.checkPort : defaults.port > 0 ? defaults.port : b.port,
    path: b.checkPath !== '' ? b.checkPath : defaults.path,
    sni: defaults.sni ?? b.id,
  }
}

function targetKey(t: CheckTarget): string {
  return `${t.type} ${t.host} ${t.port} ${t.path} ${t.sni}`
}

function onDue(checker: HealthChecker, entry: Entry): void {
  checker.due(entry)
}

export class HealthChecker {
  /** Counters, read at scrape time by whoever exports them. */
  checksStarted = 0
  inFlight = 0
  peakInFlight = 0
  private readonly entries = new Map<string, Entry>()
  private readonly queue: Entry[] = []
  private readonly random: () => number
  private readonly now: () => number
  private readonly abort = new AbortController()
  private http?: Promise<HttpProbeClient>
  private isClosed = false

  constructor(private readonly options: CheckerOptions) {
    this.random = options.random ?? Math.random
    this.now = options.now ?? Date.now
  }

  get size(): number {
    return this.entries.size
  }

  get queued(): number {
    return this.queue.length
  }

  /** Follows a new backend snapshot: new backends get a first check, gone or changed ones stop. */
  reconcile(backends: readonly Backend[]): void {
    if (this.isClosed) return
    const seen = new Set<string>()
    for (const b of backends) {
      const target = checkTarget(b, this.options.probe)
      if (target === null) continue
      seen.add(b.id)
      const key = targetKey(target)
      const current = this.entries.get(b.id)
      if (current !== undefined && current.key === key) continue
      if (current !== undefined) this.remove(current)
      const entry: Entry = {id: b.id, target, key, isRemoved: false, startedAt: 0}
      this.entries.set(b.id, entry)
      this.options.health.track(b.id, target)
      this.schedule(entry, firstCheckDelayMs(this.options.timing, this.random()))
    }
    for (const entry of [...this.entries.values()]) if (!seen.has(entry.id)) this.remove(entry)
  }

  private remove(entry: Entry): void {
    entry.isRemoved = true
    clearTimeout(entry.timer)
    this.entries.delete(entry.id)
    this.options.health.untrack(entry.id)
  }

  private schedule(entry: Entry, delayMs: number): void {
    entry.timer = setTimeout(onDue, Math.max(0, delayMs), this, entry)
    entry.timer.unref()
  }

  /** A check is due: run it now, or queue it behind the cap. */
  due(entry: Entry): void {
    entry.timer = undefined
    if (this.isClosed || entry.isRemoved) return
    if (this.inFlight < this.options.concurrency) this.run(entry)
    else this.queue.push(entry)
  }

  private run(entry: Entry): void {
    this.inFlight++
    this.checksStarted++
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight
    entry.startedAt = performance.now()
    void this.probe(entry.target).then((result) => this.completed(entry, result))
  }

  private completed(entry: Entry, result: ProbeResult): void {
    this.inFlight--
    if (!this.isClosed && !entry.isRemoved) {
      this.options.health.recordCheck(entry.id, {...result, atMs: this.now()})
      const state = this.options.health.record(entry.id)?.state
      if (state !== undefined) {
        // Start to start: the time the check took counts against the wait.
        const delay = nextCheckDelayMs(state, this.options.timing, this.random())
        this.schedule(entry, delay - (performance.now() - entry.startedAt))
      }
    }
    while (this.inFlight < this.options.concurrency && this.queue.length > 0) {
      const next = this.queue.shift()!
      if (!next.isRemoved && !this.isClosed) this.run(next)
    }
  }

  private probe(target: CheckTarget): Promise<ProbeResult> {
    const timeoutMs = this.options.probe.timeoutMs
    if (target.type !== 'http') return probe(target, timeoutMs, this.abort.signal)
    this.http ??= undiciProbeClient()
    return this.http.then(
      (client) => probe(target, timeoutMs, this.abort.signal, client),
      (error: unknown) => ({isPass: false, latencyMs: 0, error: `http client: ${String(error)}`}),
    )
  }

  /**
   * One check of the backend now, outside its schedule (`edgeproxy backend check`). It changes
   * nothing: the state machine only counts scheduled checks and client traffic. A backend that
   * opted out (`none`) gets the global check type.
   */
  async checkNow(b: Backend): Promise<{target: CheckTarget; result: ProbeResult; atMs: number}> {
    const target = checkTarget(b, this.options.probe) ?? checkTarget({...b, checkType: ''}, this.options.probe)!
    const atMs = this.now()
    return {target, result: await this.probe(target), atMs}
  }

  /** Stops every timer and cancels the checks in flight. */
  async close(): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    for (const entry of this.entries.values()) clearTimeout(entry.timer)
    this.queue.length = 0
    this.abort.abort()
  }
}
