// Circuit breaking per backend (Envoy's outlier detection, with the Rust edgeproxy's names):
// consecutive connect failures open a backend's circuit; the k-th consecutive opening lasts
// base × 2^(k-1), capped, with jitter; then it is half-open and admits one trial connection at a
// time, and enough successes close it. At most a share of an app's backends in one region may be
// ejected at once, and never all of them. Pure: the clock and the random numbers are injected.

export interface CircuitOptions {
  /** Consecutive connect failures (each within failureWindowMs of the first) that open the circuit. */
  failureThreshold: number
  failureWindowMs: number
  /** Open time of the first opening; doubles with each consecutive opening. */
  baseOpenMs: number
  /** Cap of the doubled open time (before jitter). */
  maxOpenMs: number
  jitterPercent: number
  /** Successful trial connections in half-open that close the circuit. */
  successThreshold: number
  /** Share (0-100) of an app's backends in a region that may be ejected at once. */
  maxEjectionPercent: number
}

export type CircuitPhase = 'closed' | 'open' | 'half_open'

/** One backend's circuit. Entries exist only while something is going on (failures, open, half-open). */
export interface Circuit {
  phase: CircuitPhase
  /** The app+region group the max-ejection share is counted in. */
  group: string
  /** Consecutive connect failures while closed. */
  failures: number
  firstFailureAtMs: number
  /** Consecutive openings without a close in between: the exponent of the open time. */
  openings: number
  openedAtMs: number
  openUntilMs: number
  /** Successful trials since it turned half-open. */
  successes: number
  isTrialInFlight: boolean
}

export type CircuitSkip = 'circuit_open' | 'circuit_half_open'

export type CircuitEvent =
  | {kind: 'opened'; id: string; circuit: Circuit; openMs: number}
  | {kind: 'half_open'; id: string; circuit: Circuit; cause: 'timeout' | 'check_passed'}
  | {kind: 'closed'; id: string; circuit: Circuit}
  | {kind: 'ejection_refused'; id: string; circuit: Circuit; ejected: number; groupSize: number}

/** How many of a group of `size` backends may be ejected at once: at least one, never all. */
export function maxEjected(size: number, percent: number): number {
  return Math.min(size - 1, Math.max(1, Math.floor((size * percent) / 100)))
}

/** The open time of the k-th consecutive opening, before jitter. */
export function openDurationMs(openings: number, o: Pick<CircuitOptions, 'baseOpenMs' | 'maxOpenMs'>): number {
  return Math.min(o.maxOpenMs, o.baseOpenMs * 2 ** Math.max(0, openings - 1))
}

export function groupKey(app: string, region: string): string {
  return `${app}\u0000${region}`
}

export class CircuitTable {
  /** Counters, read at scrape time by whoever exports them. */
  opened = 0
  closed = 0
  ejectionsRefused = 0
  /** Circuits not closed (open or half-open): 0 means no pick needs to look anything up. */
  notClosed = 0
  onEvent?: (event: CircuitEvent) => void
  private readonly circuits = new Map<string, Circuit>()
  private groupSizes = new Map<string, number>()

  constructor(
    readonly options: CircuitOptions,
    private readonly now: () => number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Entries that exist (failures counted or not closed); 0 means a success has nothing to reset. */
  get size(): number {
    return this.circuits.size
  }

  get(id: string): Circuit | undefined {
    return this.circuits.get(id)
  }

  /** The backends the shares are counted over, and forgets circuits of backends that are gone. */
  setGroups(members: Iterable<{id: string; group: string}>): void {
    const sizes = new Map<string, number>()
    const ids = new Set<string>()
    for (const m of members) {
      sizes.set(m.group, (sizes.get(m.group) ?? 0) + 1)
      ids.add(m.id)
    }
    this.groupSizes = sizes
    for (const id of [...this.circuits.keys()]) if (!ids.has(id)) this.remove(id)
  }

  private remove(id: string): void {
    const c = this.circuits.get(id)
    if (c === undefined) return
    if (c.phase !== 'closed') this.notClosed--
    this.circuits.delete(id)
  }

  /** Open past its time turns half-open here, when it is next looked at. */
  private current(c: Circuit, id: string, nowMs: number): Circuit {
    if (c.phase === 'open' && nowMs >= c.openUntilMs) {
      c.phase = 'half_open'
      c.successes = 0
      c.isTrialInFlight = false
      this.onEvent?.({kind: 'half_open', id, circuit: c, cause: 'timeout'})
    }
    return c
  }

  phase(id: string): CircuitPhase {
    const c = this.circuits.get(id)
    return c === undefined ? 'closed' : this.current(c, id, this.now()).phase
  }

  /** Why a new connection may not go to the backend now, or null. */
  skipReason(id: string, nowMs: number): CircuitSkip | null {
    if (this.notClosed === 0) return null
    const c = this.circuits.get(id)
    if (c === undefined || c.phase === 'closed') return null
    this.current(c, id, nowMs)
    if (c.phase === 'open') return 'circuit_open'
    return c.isTrialInFlight ? 'circuit_half_open' : null
  }

  /** A connection was sent to the backend: in half-open it is the one trial. */
  picked(id: string): void {
    if (this.notClosed === 0) return
    const c = this.circuits.get(id)
    if (c !== undefined && c.phase === 'half_open') c.isTrialInFlight = true
  }

  /** The connection to the backend was established. */
  succeeded(id: string): void {
    const c = this.circuits.get(id)
    if (c === undefined) return
    if (c.phase === 'closed') {
      this.circuits.delete(id)
      return
    }
    if (c.phase !== 'half_open') return
    c.isTrialInFlight = false
    if (++c.successes < this.options.successThreshold) return
    this.remove(id)
    c.phase = 'closed'
    this.closed++
    this.onEvent?.({kind: 'closed', id, circuit: c})
  }

  /** A pick ended before its connect succeeded or failed (the client left): the trial slot frees. */
  abandoned(id: string): void {
    const c = this.circuits.get(id)
    if (c !== undefined && c.phase === 'half_open') c.isTrialInFlight = false
  }

  /** A connect to the backend was refused or timed out. */
  failed(id: string, group: string): void {
    const now = this.now()
    let c = this.circuits.get(id)
    if (c === undefined) {
      c = {
        phase: 'closed',
        group,
        failures: 0,
        firstFailureAtMs: now,
        openings: 0,
        openedAtMs: 0,
        openUntilMs: 0,
        successes: 0,
        isTrialInFlight: false,
      }
      this.circuits.set(id, c)
    }
    this.current(c, id, now)
    if (c.phase === 'open') return
    if (c.phase === 'half_open') {
      // The trial failed: open again, for twice as long.
      c.isTrialInFlight = false
      this.open(id, c, now)
      return
    }
    if (c.failures === 0 || now - c.firstFailureAtMs > this.options.failureWindowMs) {
      c.failures = 0
      c.firstFailureAtMs = now
    }
    if (++c.failures < this.options.failureThreshold) return
    const size = this.groupSizes.get(group) ?? 1
    const ejected = this.ejectedIn(group)
    if (ejected >= maxEjected(size, this.options.maxEjectionPercent)) {
      this.ejectionsRefused++
      this.onEvent?.({kind: 'ejection_refused', id, circuit: c, ejected, groupSize: size})
      return
    }
    this.notClosed++
    this.open(id, c, now)
  }

  /** A passing active check: an open circuit goes half-open at once (Envoy uneject on check). */
  checkPassed(id: string): void {
    const c = this.circuits.get(id)
    if (c === undefined || c.phase !== 'open') return
    c.phase = 'half_open'
    c.successes = 0
    c.isTrialInFlight = false
    this.onEvent?.({kind: 'half_open', id, circuit: c, cause: 'check_passed'})
  }

  private open(id: string, c: Circuit, now: number): void {
    c.phase = 'open'
    c.openings++
    c.failures = 0
    c.successes = 0
    const openMs = openDurationMs(c.openings, this.options) * (1 + ((2 * this.random() - 1) * this.options.jitterPercent) / 100)
    c.openedAtMs = now
    c.openUntilMs = now + openMs
    this.opened++
    this.onEvent?.({kind: 'opened', id, circuit: c, openMs})
  }

  private ejectedIn(group: string): number {
    let n = 0
    for (const c of this.circuits.values()) if (c.group === group && c.phase !== 'closed') n++
    return n
  }
}
