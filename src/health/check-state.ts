// The active-check state of one backend, as in HAProxy: UP, UP going down (k of `fall` failures),
// DOWN, DOWN going up (k of `rise` passes), plus when the next check is due. Pure: the caller feeds
// results and a random number in [0, 1); nothing here reads a clock, opens a socket or arms a timer.

export interface CheckThresholds {
  /** Consecutive passes that bring a DOWN backend UP. */
  rise: number
  /** Consecutive failures that take an UP backend DOWN. */
  fall: number
}

export interface CheckTiming {
  intervalMs: number
  /** While a state is changing (UP k/fall, DOWN k/rise): HAProxy's `fastinter`. */
  fastIntervalMs: number
  /** While DOWN and not changing: HAProxy's `downinter`. */
  downIntervalMs: number
  /** Each wait is stretched or shrunk by up to this share (0-50), so checks never march in step. */
  jitterPercent: number
}

export interface CheckState {
  isUp: boolean
  /** Consecutive results against the current state: failures while UP, passes while DOWN. */
  streak: number
  /** False until the first result: a new backend starts UP, and its first failure marks it DOWN. */
  isChecked: boolean
}

export type Transition = 'up' | 'down' | null

/** A new backend: UP and unchecked (HAProxy `init-state up`), so a fresh POP is not blocked. */
export function initialCheckState(): CheckState {
  return {isUp: true, streak: 0, isChecked: false}
}

/** Applies one result in place and returns the transition it caused, if any. */
export function recordResult(state: CheckState, isPass: boolean, t: CheckThresholds): Transition {
  if (!state.isChecked) {
    state.isChecked = true
    state.streak = 0
    if (isPass) return null
    state.isUp = false
    return 'down'
  }
  if (state.isUp === isPass) {
    state.streak = 0
    return null
  }
  state.streak++
  if (state.streak < (state.isUp ? t.fall : t.rise)) return null
  state.isUp = !state.isUp
  state.streak = 0
  return state.isUp ? 'up' : 'down'
}

/** UP 1/3↓ or DOWN 1/2↑: the state is changing and checks run at the fast interval. */
export function isTransitional(state: CheckState): boolean {
  return state.streak > 0
}

/** `UP`, `UP 1/3↓`, `DOWN`, `DOWN 1/2↑` (what `backend list` shows). */
export function checkLabel(state: CheckState, t: CheckThresholds): string {
  if (state.isUp) return state.streak > 0 ? `UP ${state.streak}/${t.fall}↓` : 'UP'
  return state.streak > 0 ? `DOWN ${state.streak}/${t.rise}↑` : 'DOWN'
}

/** `base` stretched or shrunk by up to jitterPercent, from `random` in [0, 1). */
export function jittered(baseMs: number, jitterPercent: number, random: number): number {
  return baseMs * (1 + ((2 * random - 1) * jitterPercent) / 100)
}

/** The wait before the first check of a new backend: a random offset in [0, interval). */
export function firstCheckDelayMs(timing: CheckTiming, random: number): number {
  return random * timing.intervalMs
}

/** The wait between the start of one check and the start of the next, by state. */
export function nextCheckDelayMs(state: CheckState, timing: CheckTiming, random: number): number {
  const base = isTransitional(state) ? timing.fastIntervalMs : state.isUp ? timing.intervalMs : timing.downIntervalMs
  return jittered(base, timing.jitterPercent, random)
}
