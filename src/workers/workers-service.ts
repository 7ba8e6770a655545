// The workers as one service of the engine: start() spawns them and resolves when every one listens
// on the proxy addresses; SIGHUP reaches each (certificate re-read; the routing table follows the
// store service by itself); the drain is the engine's (Engine.drainWorkers). The control plane
// republishes health codes every 100 ms, so time-driven changes (an open circuit's end) reach the
// workers without an event, and sums the workers' counters every second for readers that do not
// ask for a fresh sum (EngineParts.refresh()) the way /health and /metrics do.
import type {HostPort} from '../net/address.js'
import type {Service} from '../server/service.js'
import type {Logger} from '../log/logger.js'
import type {WorkerPool} from './worker-pool.js'

const PUBLISH_MS = 100
/** How often the process-wide counters are summed for readers that do not ask (/health and /metrics ask). */
const COLLECT_MS = 1000

export function workersService(pool: WorkerPool, logger: Logger, onTcp: (address: HostPort) => void, onTls: (address: HostPort) => void): Service {
  const slots = pool.backendSlots
  let timer: NodeJS.Timeout | undefined
  let collector: NodeJS.Timeout | undefined
  // Fault drill for tests and game days: with EDGEPROXY_TEST_FAULTS=1, SIGUSR2 makes the last worker throw.
  const onDrill = () => pool.crash(pool.count - 1)
  const isDrill = process.env.EDGEPROXY_TEST_FAULTS === '1'
  return {
    name: 'workers',
    async start() {
      try {
        await pool.start()
      } catch (error) {
        await pool.terminate()
        throw error
      }
      onTcp(pool.tcp!)
      if (pool.tls) onTls(pool.tls)
      timer = setInterval(() => pool.control.publish(), PUBLISH_MS)
      timer.unref()
      collector = setInterval(() => void pool.collect(), COLLECT_MS)
      collector.unref()
      if (isDrill) process.on('SIGUSR2', onDrill)
      logger.info('workers_started', `${pool.count} workers accept and relay connections`, {workers: pool.count, backend_slots: slots, shared_bytes: pool.sharedBytes})
    },
    reload() {
      pool.reload()
      return {workers: pool.count}
    },
    health() {
      const n = pool.control.unslotted
      if (n === 0) return {}
      return {degraded: [`${n} backend(s) get no traffic: every one of the ${slots} backend slots of the workers' shared memory is taken (raise EDGEPROXY_WORKERS_BACKEND_SLOTS and restart)`]}
    },
    close() {
      if (timer) clearInterval(timer)
      if (collector) clearInterval(collector)
      if (isDrill) process.removeListener('SIGUSR2', onDrill)
      return pool.terminate()
    },
  }
}
