// The gate's decisions, pure: rise/fall hysteresis over probe results, the phase BIRD should be in
// given that and the maintenance file, and the jittered wait before the next probe. Time and
// randomness come in as arguments; no timers, no I/O.
import type {GatePhase} from './gate.js'

export interface Hysteresis {
  rise: number
  fall: number
}

export interface HealthState {
  /** May this POP announce: `rise` good probes in a row since it last could not. Starts false. */
  isUp: boolean
  /** Probes in a row that disagree with isUp: progress towards the next flip. */
  streak: number
  /** Probes in a row with the same outcome as the last one (for status). */
  consecutive: number
  lastIsOk: boolean | null
  /** When isUp last changed (or the watcher started). */
  sinceMs: number
}

export function initialHealth(nowMs: number): HealthState {
  return {isUp: false, streak: 0, consecutive: 0, lastIsOk: null, sinceMs: nowMs}
}

export function recordProbe(state: HealthState, isOk: boolean, limits: Hysteresis, nowMs: number): HealthState {
  const consecutive = state.lastIsOk === isOk ? state.consecutive + 1 : 1
  if (isOk === state.isUp) return {...state, streak: 0, consecutive, lastIsOk: isOk}
  const streak = state.streak + 1
  if (streak >= (isOk ? limits.rise : limits.fall)) return {isUp: isOk, streak: 0, consecutive, lastIsOk: isOk, sinceMs: nowMs}
  return {...state, streak, consecutive, lastIsOk: isOk}
}

/** The content of the maintenance file: withdrawn until removed, tagged first while draining. */
export interface Maintenance {
  /** Who put it there: `drain`, `withdraw --hold`. */
  reason: string
  sinceMs: number
  /** Until then the route stays announced with 65535:0 and a prepend (when the POP is up). */
  drainUntilMs?: number
}

/** What the gate should say now. Down always withdraws; maintenance drains, then withdraws. */
export function decidePhase(isUp: boolean, maintenance: Maintenance | undefined, nowMs: number): GatePhase {
  if (!isUp) return 'withdrawn'
  if (!maintenance) return 'announced'
  return maintenance.drainUntilMs !== undefined && nowMs < maintenance.drainUntilMs ? 'draining' : 'withdrawn'
}

/** Jitter: every wait is up to this fraction shorter, so POPs drift apart and the interval stays a bound. */
export const JITTER = 0.1

/** The wait before the next probe, in [interval × (1 − JITTER), interval]; `random` returns [0, 1). */
export function nextDelayMs(intervalMs: number, random: () => number): number {
  return Math.round(intervalMs * (1 - JITTER * random()))
}

/** The longest a failure can take to withdraw: `fall` probes, each up to one interval apart, the last one timing out. */
export function worstWithdrawMs(check: {intervalMs: number; timeoutMs: number; fall: number}): number {
  return check.fall * check.intervalMs + check.timeoutMs
}
