// EDGEPROXY_IDLE_TIMEOUT_SECS: one timer for the whole POP walks the open connections every tenth
// of the timeout (at most every 5 s) and closes those whose byte counters have not moved since the
// timeout ago. Nothing happens per chunk and no timer exists per connection, so the relay pays
// nothing; a connection goes between 1 and 1.2 timeouts after its last byte.
import type {Service} from '../server/service.js'
import type {OpenConnections} from './open-connections.js'
import type {ProxyStats} from './stats.js'

export function sweepPeriodMs(idleTimeoutMs: number): number {
  return Math.min(5000, Math.max(10, Math.round(idleTimeoutMs / 10)))
}

/** Closes idle connections now; returns how many. */
export function sweepIdle(connections: OpenConnections, nowMs: number, idleTimeoutMs: number): number {
  let closed = 0
  for (const connection of connections.values()) if (connection.checkIdle(nowMs, idleTimeoutMs)) closed++
  return closed
}

export function idleSweepService(connections: OpenConnections, stats: ProxyStats, idleTimeoutMs: number): Service {
  let timer: NodeJS.Timeout | undefined
  return {
    name: 'idle',
    async start() {
      if (idleTimeoutMs <= 0) return
      timer = setInterval(() => {
        stats.idleTimeouts += sweepIdle(connections, performance.now(), idleTimeoutMs)
      }, sweepPeriodMs(idleTimeoutMs))
      timer.unref()
    },
    close() {
      if (timer) clearInterval(timer)
    },
  }
}
