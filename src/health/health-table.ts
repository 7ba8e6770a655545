// What this POP has learnt about each backend's health, in memory and never replicated: the state
// of its active checks, its circuit (or, with the circuit breaker off, the passive cooldown after a
// failed connect), and the last check's result. The router asks it "why not this backend?" for every
// candidate, so the answer costs three integer compares while every backend is fine. Pure: the
// checker feeds it results, the data path feeds it connect outcomes; the clock is injected.
import {checkLabel, initialCheckState, recordResult, type CheckState, type CheckThresholds, type Transition} from './check-state.js'
import {CircuitTable, groupKey, type CircuitEvent, type CircuitOptions, type CircuitSkip} from './circuit.js'

export type HealthSkip = 'down' | CircuitSkip | 'cooling_down'
const HEALTH_SKIPS: readonly string[] = ['down', 'circuit_open', 'circuit_half_open', 'cooling_down']

export function isHealthSkip(reason: string): reason is HealthSkip {
  return HEALTH_SKIPS.includes(reason)
}

/** The effective check of one backend (global settings with its overrides applied). */
export interface CheckTarget {
  type: 'tcp' | 'tls' | 'http'
  host: string
  port: number
  path: string
  sni: string
}

export interface CheckResult {
  isPass: boolean
  latencyMs: number
  /** Why it failed (`connect ECONNREFUSED`, `timeout after 2000 ms`, `HTTP 500`); null on a pass. */
  error: string | null
  /** Wall clock (unix ms) of the check, for display. */
  atMs: number
}

export interface CheckRecord {
  readonly target: CheckTarget
  readonly state: CheckState
  last: CheckResult | null
  /** Why the last transition to DOWN happened (the result that completed the streak). */
  downCause: string | null
  /** Failures in a row that took it DOWN: `fall`, or 1 for a backend that never passed a check. */
  downAfter: number
}

export type HealthEvent =
  | {kind: 'check_transition'; id: string; transition: Exclude<Transition, null>; record: CheckRecord; cause: 'check' | 'passive'}
  | CircuitEvent

export interface HealthTableOptions {
  /** How long a backend that failed a connect is left out, when the circuit breaker is off. */
  cooldownMs: number
  /** Active checks: present when they are on. */
  checks?: CheckThresholds
  /** Circuit breaker: present when it is on (it replaces the cooldown). */
  circuit?: CircuitOptions
  /** Monotonic clock (ms). */
  now: () => number
  random?: () => number
}

export class HealthTable {
  readonly thresholds?: CheckThresholds
  readonly circuits?: CircuitTable
  /** Counters, read at scrape time by whoever exports them. */
  checksPassed = 0
  checksFailed = 0
  passiveFailures = 0
  transitionsDown = 0
  transitionsUp = 0
  /** Checked backends now DOWN: 0 means no pick needs to look one up. */
  downCount = 0
  onEvent?: (event: HealthEvent) => void
  /** A check of the backend passed (it ended any cooldown): the workers' control plane publishes that. */
  onCheckPassed?: (id: string) => void
  private readonly records = new Map<string, CheckRecord>()
  private readonly coolingUntil = new Map<string, number>()
  private readonly cooldownMs: number
  private readonly now: () => number

  constructor(options: HealthTableOptions) {
    this.cooldownMs = options.cooldownMs
    this.thresholds = options.checks
    this.now = options.now
    if (options.circuit) {
      this.circuits = new CircuitTable(options.circuit, options.now, options.random)
      this.circuits.onEvent = (event) => this.onEvent?.(event)
    }
  }

  /** The table's monotonic clock (ms). */
  nowMs(): number {
    return this.now()
  }

  /** The routing snapshot changed: circuits count shares over it and forget backends that left. */
  setBackends(backends: readonly {id: string; app: string; region: string}[]): void {
    if (this.circuits === undefined) return
    const members: {id: string; group: string}[] = []
    for (const b of backends) members.push({id: b.id, group: groupKey(b.app, b.region)})
    this.circuits.setGroups(members)
  }

  // ---- active checks --------------------------------------------------------------------------

  /** Starts (or restarts, when its target changed) keeping a backend's check state: UP, unchecked. */
  track(id: string, target: CheckTarget): CheckRecord {
    this.untrack(id)
    const record: CheckRecord = {target, state: initialCheckState(), last: null, downCause: null, downAfter: 0}
    this.records.set(id, record)
    return record
  }

  untrack(id: string): void {
    const r = this.records.get(id)
    if (r === undefined) return
    if (!r.state.isUp) this.downCount--
    this.records.delete(id)
  }

  record(id: string): CheckRecord | undefined {
    return this.records.get(id)
  }

  get trackedCount(): number {
    return this.records.size
  }

  /** One active check's result. A pass also ends a cooldown and turns an open circuit half-open. */
  recordCheck(id: string, result: CheckResult): Transition {
    const r = this.records.get(id)
    if (r === undefined || this.thresholds === undefined) return null
    r.last = result
    if (result.isPass) {
      this.checksPassed++
      this.coolingUntil.delete(id)
      this.circuits?.checkPassed(id)
    } else {
      this.checksFailed++
    }
    const transition = this.apply(id, r, result.isPass, result.error, 'check')
    if (result.isPass) this.onCheckPassed?.(id)
    return transition
  }

  private apply(id: string, r: CheckRecord, isPass: boolean, error: string | null, cause: 'check' | 'passive'): Transition {
    const wasChecked = r.state.isChecked
    const transition = recordResult(r.state, isPass, this.thresholds!)
    if (transition === 'down') {
      this.downCount++
      this.transitionsDown++
      r.downCause = error
      r.downAfter = wasChecked ? this.thresholds!.fall : 1
    } else if (transition === 'up') {
      this.downCount--
      this.transitionsUp++
      r.downCause = null
    }
    if (transition !== null) this.onEvent?.({kind: 'check_transition', id, transition, record: r, cause})
    return transition
  }

  // ---- the data path --------------------------------------------------------------------------

  /**
   * A connect to the backend was refused or timed out: a failed sample for its checks (HAProxy
   * `observe layer4`), and a failure for its circuit, or with the breaker off, the cooldown.
   */
  connectFailed(id: string, app: string, region: string, why: string): void {
    this.passiveFailures++
    if (this.circuits !== undefined) this.circuits.failed(id, groupKey(app, region))
    else this.coolingUntil.set(id, this.now() + this.cooldownMs)
    const r = this.records.get(id)
    if (r !== undefined && this.thresholds !== undefined) this.apply(id, r, false, `connect ${why} (client traffic)`, 'passive')
  }

  connectSucceeded(id: string): void {
    const circuits = this.circuits
    if (circuits !== undefined && circuits.size > 0) circuits.succeeded(id)
  }

  picked(id: string): void {
    this.circuits?.picked(id)
  }

  abandoned(id: string): void {
    this.circuits?.abandoned(id)
  }

  /** Why a new connection may not go to the backend now, or null. Cheap while all is well. */
  skipReason(id: string, nowMs: number): HealthSkip | null {
    if (this.downCount > 0) {
      const r = this.records.get(id)
      if (r !== undefined && !r.state.isUp) return 'down'
    }
    if (this.circuits !== undefined && this.circuits.notClosed > 0) {
      const skip = this.circuits.skipReason(id, nowMs)
      if (skip !== null) return skip
    }
    if (this.coolingUntil.size > 0 && this.isCoolingAt(id, nowMs)) return 'cooling_down'
    return null
  }

  isCooling(id: string): boolean {
    return this.coolingUntil.size > 0 && this.isCoolingAt(id, this.now())
  }

  /** Ends the backend's cooldown now (a failed connect that a passing check had already overtaken). */
  endCooldown(id: string): void {
    this.coolingUntil.delete(id)
  }

  /** Monotonic ms of the end of the cooldown (0 = none). */
  coolingUntilMs(id: string): number {
    return this.isCooling(id) ? this.coolingUntil.get(id)! : 0
  }

  private isCoolingAt(id: string, nowMs: number): boolean {
    const until = this.coolingUntil.get(id)
    if (until === undefined) return false
    if (until > nowMs) return true
    this.coolingUntil.delete(id)
    return false
  }

  /** A human reason for a skip, as `route explain` prints it. */
  describeSkip(id: string, skip: HealthSkip): string {
    const now = this.now()
    if (skip === 'down') {
      const r = this.records.get(id)
      const t = this.thresholds
      if (r === undefined || t === undefined) return 'DOWN by active check'
      const streak = r.downAfter === t.fall ? `${t.fall}/${t.fall}` : 'its first check'
      return `DOWN by active check (${r.downCause ?? 'failed'}, ${streak})${r.state.streak > 0 ? `; now ${checkLabel(r.state, t)}` : ''}`
    }
    if (skip === 'cooling_down') return `cooling down ${secs(this.coolingUntilMs(id) - now)} s after a failed connect`
    const c = this.circuits?.get(id)
    if (c === undefined) return skip.replace(/_/g, ' ')
    if (skip === 'circuit_open') return `circuit open for ${secs(c.openUntilMs - now)} s more (opening ${c.openings} in a row)`
    return 'circuit half-open: a trial connection is in flight'
  }

  /** Whether the backend is being checked and is UP (true when not checked at all). */
  isUp(id: string): boolean {
    return this.records.get(id)?.state.isUp ?? true
  }

  label(id: string): string | null {
    const r = this.records.get(id)
    return r === undefined || this.thresholds === undefined ? null : checkLabel(r.state, this.thresholds)
  }
}

function secs(ms: number): number {
  return Math.max(0, Math.round(ms / 100) / 10)
}
