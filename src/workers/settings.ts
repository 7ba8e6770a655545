// EDGEPROXY_WORKERS: how many event loops accept and relay connections, and what the running Node
// can do about it (several workers share a listening address through SO_REUSEPORT, which
// `net.Server.listen({reusePort})` offers from Node 22.12 / 23.1 on).
import os from 'node:os'

import {setting, type Setting} from '../config/settings.js'

/** Most workers `auto` starts (more rarely pays: the control plane and the kernel want cores too). */
export const AUTO_WORKERS_CAP = 16
/** Most workers one process may run (their counts are kept apart in shared memory). */
export const MAX_WORKERS = 64

export const WORKERS_SETTINGS = {
  workers: setting.string({
    flag: 'workers',
    env: 'EDGEPROXY_WORKERS',
    default: 'auto',
    summary: `Event loops that accept and relay connections on the same addresses: a number, or auto (the CPUs available, at most ${AUTO_WORKERS_CAP}); 1 = one thread. More than 1 needs Node 22.12 or later`,
    group: 'CONNECTIONS',
    hint: `auto or a whole number from 1 to ${MAX_WORKERS}`,
    parse: (text) => {
      const t = text.trim().toLowerCase()
      if (t === 'auto') return t
      if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > MAX_WORKERS) throw new Error(`must be auto or a whole number from 1 to ${MAX_WORKERS}`)
      return String(Number(t))
    },
  }),
  workersBackendSlots: setting.integer({
    flag: 'workers-backend-slots',
    env: 'EDGEPROXY_WORKERS_BACKEND_SLOTS',
    default: '16384',
    min: 16,
    max: 65_535,
    summary: `Backends the workers' shared memory has room for (the routing table, plus backends that left it in the last 5 s or still hold connections); a backend beyond it gets no traffic, is logged and makes /health degraded. (40 + 4 × workers) bytes each, taken at start`,
    group: 'CONNECTIONS',
  }),
} satisfies Record<string, Setting<unknown>>

/** `auto` → the CPUs this process may use (capped); a number stays. */
export function resolveWorkerCount(text: string, cpus = os.availableParallelism()): number {
  return text === 'auto' ? Math.max(1, Math.min(AUTO_WORKERS_CAP, cpus)) : Number(text)
}

/** Whether this Node lets several sockets listen on one address (`reusePort`: 22.12+, 23.1+). */
export function supportsReusePort(version = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number)
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)
}
