// The admission side of a running POP that is not on the data path: `GET /api/v1/limits/:ip` (a
// client key's bucket and open connections, also shown by `route explain`) and the `admission`
// section of /health. The checks themselves run in ProxyConnection, against the Admission object.
import net from 'node:net'

import {ValidationError} from '../discovery/validation.js'
import type {ApiServer} from '../discovery/api-server.js'
import {normalizeIp} from '../net/address.js'
import type {ProxyStats} from '../proxy/stats.js'
import type {Service} from '../server/service.js'
import type {Admission, ClientLimitsJson} from './admission.js'
import {ClientKeys} from './client-key.js'
import type {ConnectionLimits} from './settings.js'

export interface LimitsJson {
  client: ClientLimitsJson
  /** The whole proxy: EDGEPROXY_MAX_CONNECTIONS (null = no cap) and the idle timeout (null = never). */
  max_connections: number | null
  idle_timeout_secs: number | null
}

export function limitsJson(ip: string, admission: Admission | undefined, limits: ConnectionLimits): LimitsJson {
  const client: ClientLimitsJson = admission?.describe(ip) ?? {
    ip,
    key: new ClientKeys({ipv4: 32, ipv6: 64}, '').keyOf(ip)!,
    enabled: false,
    exempt: false,
    dry_run: false,
    tracked: false,
    tokens: null,
    burst: null,
    refill_per_sec: null,
    connections: 0,
    max_connections: null,
  }
  return {
    client,
    max_connections: limits.maxConnections > 0 ? limits.maxConnections : null,
    idle_timeout_secs: limits.idleTimeoutMs > 0 ? limits.idleTimeoutMs / 1000 : null,
  }
}

export function admissionService(parts: {api?: ApiServer; stats: ProxyStats}, admission: Admission | undefined, limits: ConnectionLimits): Service {
  parts.api?.addRoutes([
    {
      // The address is the rest of the path (IPv6 has colons, so it is no backend id).
      pattern: /^\/api\/v1\/limits\/[^/]+$/,
      methods: {
        GET: async (_req, {path}) => {
          const segment = path.slice('/api/v1/limits/'.length)
          let raw = segment
          try {
            raw = decodeURIComponent(segment)
          } catch {
            // Bad percent-encoding: the raw text is refused below, quoted.
          }
          const ip = normalizeIp(raw.trim())
          if (net.isIP(ip) === 0) throw new ValidationError('invalid_field', `ip ${JSON.stringify(raw)} must be an IPv4 or IPv6 address`, 400, 'ip')
          return {body: limitsJson(ip, admission, limits)}
        },
      },
    },
  ])
  return {
    name: 'admission',
    async start() {},
    health() {
      if (admission === undefined && limits.maxConnections === 0) return {}
      const fields: Record<string, unknown> = {refused_max_connections: parts.stats.refusedMaxConnections}
      if (admission) {
        Object.assign(fields, {
          dry_run: admission.config.isDryRun,
          keys: admission.table.size,
          evicted: admission.table.evicted,
          refused_rate: parts.stats.refusedRateLimit,
          refused_concurrency: parts.stats.refusedConnLimit,
          dry_run_would_refuse: admission.dryRunWouldRefuse,
        })
      }
      return {fields}
    },
    close() {},
  }
}
