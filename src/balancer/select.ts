// Backend selection: the reference scoring as pure functions of the backends, the client's geo,
// the live connection counts and a clock reading. No I/O, no timers, no state of its own.
//
//   score = geo_score * 100 + load_factor / weight       (lower wins)
//   geo_score: 0 same country, 1 same client region, 2 this POP's region, 3 otherwise
//   load_factor = active / soft_limit (soft 0 counts as 1); weight 0 counts as 1; hard 0 = no limit
//
// Ties break to the backend this POP picked least recently, then to the smaller id, so equal
// backends share new connections round-robin and the outcome is still deterministic.
import type {HealthSkip} from '../health/health-table.js'
import {backendState, type Backend, type BackendState} from './backend.js'

export interface ClientGeo {
  /** Upper-case ISO code, or null when the address has no country (private, loopback, unknown). */
  country: string | null
  region: string | null
}


export interface SelectContext {
  client: ClientGeo
  localRegion: string
  nowMs: number
  activeConnections: (b: Backend) => number
  /** Sequence number of this POP's last pick of the backend; 0 when never picked. */
  lastPicked?: (b: Backend) => number
  /** Backends to leave out: already tried for this connection. */
  isExcluded?: (b: Backend) => boolean
  /** What this POP learnt of the backend's health (active checks, circuit, cooldown), or null. */
  healthSkip?: (b: Backend) => HealthSkip | null
}

/**
 * Why a backend takes no new connection: its stored state, DOWN by active check, its circuit
 * (open, or half-open with its one trial in flight), the cooldown after a failed connect, its hard
 * limit, or already tried for this connection.
 */
export type SkipReason = BackendState | HealthSkip | 'at_hard_limit' | 'excluded'

export function geoScore(b: Backend, client: ClientGeo, localRegion: string): 0 | 1 | 2 | 3 {
  if (client.country !== null && b.country === client.country) return 0
  if (client.region !== null && b.region === client.region) return 1
  if (b.region === localRegion) return 2
  return 3
}

export function loadFactor(active: number, softLimit: number): number {
  return active / (softLimit > 0 ? softLimit : 1)
}

export function effectiveWeight(weight: number): number {
  return weight > 0 ? weight : 1
}

export function score(geo: number, load: number, weight: number): number {
  return geo * 100 + load / effectiveWeight(weight)
}

/** Why a backend cannot take a new connection now, or null when it can. */
export function skipReason(b: Backend, ctx: SelectContext, active: number): SkipReason | null {
  const state = backendState(b, ctx.nowMs)
  if (state !== 'healthy') return state
  const health = ctx.healthSkip?.(b) ?? null
  if (health !== null) return health
  if (b.hardLimit > 0 && active >= b.hardLimit) return 'at_hard_limit'
  if (ctx.isExcluded?.(b)) return 'excluded'
  return null
}

/** The best backend for the client, or null when none is eligible. */
export function selectBackend(backends: readonly Backend[], ctx: SelectContext): Backend | null {
  let best: Backend | null = null
  let bestScore = Infinity
  let bestPicked = 0
  for (const b of backends) {
    const active = ctx.activeConnections(b)
    if (skipReason(b, ctx, active) !== null) continue
    const s = score(geoScore(b, ctx.client, ctx.localRegion), loadFactor(active, b.softLimit), b.weight)
    if (s > bestScore) continue
    const picked = ctx.lastPicked?.(b) ?? 0
    if (best !== null && s === bestScore && (picked > bestPicked || (picked === bestPicked && b.id > best.id))) continue
    best = b
    bestScore = s
    bestPicked = picked
  }
  return best
}

export interface Evaluation {
  backend: Backend
  active: number
  geoScore: number
  loadFactor: number
  weight: number
  score: number
  skipped: SkipReason | null
}

/** Every backend with its score and, when it cannot be chosen, why; eligible ones first, best first. */
export function rankBackends(backends: readonly Backend[], ctx: SelectContext): Evaluation[] {
  const chosen = selectBackend(backends, ctx)
  const rows = backends.map((b): Evaluation => {
    const active = ctx.activeConnections(b)
    const geo = geoScore(b, ctx.client, ctx.localRegion)
    const load = loadFactor(active, b.softLimit)
    return {
      backend: b,
      active,
      geoScore: geo,
      loadFactor: load,
      weight: effectiveWeight(b.weight),
      score: score(geo, load, b.weight),
      skipped: skipReason(b, ctx, active),
    }
  })
  return rows.sort((a, b) => {
    if ((a.skipped === null) !== (b.skipped === null)) return a.skipped === null ? -1 : 1
    if (a.backend === chosen) return -1
    if (b.backend === chosen) return 1
    return a.score - b.score || (a.backend.id < b.backend.id ? -1 : a.backend.id > b.backend.id ? 1 : 0)
  })
}
