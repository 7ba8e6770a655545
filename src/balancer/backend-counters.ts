// Traffic counters of one backend on this POP (picks, failed connects, connect-time histogram):
// plain numbers bumped by the data path and read at scrape time by src/metrics. The router hangs
// one object on each backend of its table, so a connection reaches its counters from the pick
// without a lookup by id; a backend that leaves the table takes its counters with it.
import type {Backend} from './backend.js'

/** Upper bounds (ms) of the connect-time buckets: 1 ms to 5 s, like HAProxy's and Fly's. */
export const CONNECT_TIME_BUCKETS_MS: readonly number[] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]

export class BackendCounters {
  /** Connections handed to the backend (each failover attempt counts once). */
  connections = 0
  /** Connects that were refused, reset or timed out. */
  connectErrors = 0
  connectTimeCount = 0
  connectTimeSumMs = 0
  /** Connects per bucket (not cumulative); the last slot is above the largest bound (+Inf). */
  readonly connectTimeBuckets = new Float64Array(CONNECT_TIME_BUCKETS_MS.length + 1)

  observeConnectMs(ms: number): void {
    const bounds = CONNECT_TIME_BUCKETS_MS
    let i = 0
    while (i < bounds.length && ms > bounds[i]) i++
    this.connectTimeBuckets[i]++
    this.connectTimeCount++
    this.connectTimeSumMs += ms
  }
}

const kCounters = Symbol('edgeproxy.backendCounters')
type Tagged = Backend & {[kCounters]?: BackendCounters}

/** The counters hung on a backend of the routing table (see attachCounters). */
export function countersOf(backend: Backend): BackendCounters | undefined {
  return (backend as Tagged)[kCounters]
}

/**
 * Hangs counters on every backend of a new table: the ones the same id had in the previous table
 * (`previous`), or fresh ones. Non-enumerable, so the backend's JSON and equality are unchanged.
 */
export function attachCounters(backends: readonly Backend[], previous: (id: string) => BackendCounters | undefined): void {
  for (const b of backends) {
    if ((b as Tagged)[kCounters] !== undefined) continue
    Object.defineProperty(b, kCounters, {value: previous(b.id) ?? new BackendCounters(), enumerable: false})
  }
}
