// The JSON view of what one POP knows of a backend's health: its active-check state and last result,
// and its circuit (or the passive cooldown when the circuit breaker is off). Part of every backend
// object the API returns (`check`, `circuit`); null where no running proxy answered.
import {checkLabel} from './check-state.js'
import type {HealthTable} from './health-table.js'

export interface CheckJson {
  /** UP or DOWN; `label` adds a change in progress: `UP 1/3↓`, `DOWN 1/2↑`. */
  state: 'UP' | 'DOWN'
  label: string
  type: 'tcp' | 'tls' | 'http'
  /** The port the check connects to (which may differ from the data port). */
  port: number
  /** http checks only. */
  path: string | null
  /** ISO time of the last check; null = not checked yet (a new backend starts UP). */
  last_check: string | null
  latency_ms: number | null
  last_error: string | null
}

export interface CircuitJson {
  /** `cooling`: the breaker is off and a failed connect keeps the backend out for the cooldown. */
  state: 'closed' | 'open' | 'half_open' | 'cooling'
  /** `closed`, `open 27s`, `half-open 1/3`, `cooling 7s`. */
  label: string
  /** Consecutive connect failures counted while closed. */
  failures: number
  /** Consecutive openings (the open time doubles with each). */
  openings: number
  /** Seconds left open or cooling; null otherwise. */
  remaining_secs: number | null
}

export interface BackendHealthJson {
  check: CheckJson | null
  circuit: CircuitJson | null
}

const round1 = (n: number) => Math.max(0, Math.round(n * 10) / 10)

export function backendHealthJson(table: HealthTable, id: string): BackendHealthJson {
  return {check: checkJson(table, id), circuit: circuitJson(table, id, table.nowMs())}
}

function checkJson(table: HealthTable, id: string): CheckJson | null {
  const r = table.record(id)
  const t = table.thresholds
  if (r === undefined || t === undefined) return null
  return {
    state: r.state.isUp ? 'UP' : 'DOWN',
    label: checkLabel(r.state, t),
    type: r.target.type,
    port: r.target.port,
    path: r.target.type === 'http' ? r.target.path : null,
    last_check: r.last === null ? null : new Date(r.last.atMs).toISOString(),
    latency_ms: r.last === null ? null : round1(r.last.latencyMs),
    last_error: r.last?.error ?? null,
  }
}

function circuitJson(table: HealthTable, id: string, now: number): CircuitJson {
  const circuits = table.circuits
  if (circuits === undefined) {
    const until = table.coolingUntilMs(id)
    if (until === 0) return {state: 'closed', label: 'closed', failures: 0, openings: 0, remaining_secs: null}
    const left = round1((until - now) / 1000)
    return {state: 'cooling', label: `cooling ${Math.ceil(left)}s`, failures: 1, openings: 0, remaining_secs: left}
  }
  const phase = circuits.phase(id)
  const c = circuits.get(id)
  if (c === undefined || phase === 'closed') {
    return {state: 'closed', label: c && c.failures > 0 ? `closed ${c.failures}/${circuits.options.failureThreshold}` : 'closed', failures: c?.failures ?? 0, openings: 0, remaining_secs: null}
  }
  if (phase === 'open') {
    const left = round1((c.openUntilMs - now) / 1000)
    return {state: 'open', label: `open ${Math.ceil(left)}s`, failures: 0, openings: c.openings, remaining_secs: left}
  }
  return {
    state: 'half_open',
    label: `half-open ${c.successes}/${circuits.options.successThreshold}`,
    failures: 0,
    openings: c.openings,
    remaining_secs: null,
  }
}
