// The health service of a running POP: the active checker (when EDGEPROXY_HEALTH_CHECK_ENABLED), log
// lines for check transitions and circuit changes, `POST /api/v1/backends/:id/check` (one check now)
// and the `checks` and `circuits` sections of /health. Routing decisions stay in the router's
// HealthTable; this only feeds it and shows it.
import type {EngineParts} from '../engine.js'
import {HttpError, type ApiRoute} from '../discovery/api-server.js'
import {throttledWarning} from '../log/throttle.js'
import {formatHostPort} from '../net/address.js'
import type {Service} from '../server/service.js'
import {HealthChecker} from './checker.js'
import type {HealthEvent} from './health-table.js'

export function healthService(parts: Pick<EngineParts, 'config' | 'logger' | 'router' | 'service' | 'api'>): Service {
  const {config, logger, router} = parts
  const health = router.health
  const settings = config.health
  const checker = new HealthChecker({
    health,
    probe: settings.probe,
    timing: settings.timing,
    thresholds: settings.thresholds,
    concurrency: settings.concurrency,
  })
  const warnRefused = throttledWarning(logger, 'circuit_ejection_refused', 10_000)
  health.onEvent = (event: HealthEvent) => logEvent(event)

  function logEvent(e: HealthEvent): void {
    const b = router.get(e.id)
    const address = b ? formatHostPort(b.host, b.port) : null
    switch (e.kind) {
      case 'check_transition': {
        const fields = {
          backend: e.id,
          address,
          check: `${e.record.target.type} ${formatHostPort(e.record.target.host, e.record.target.port)}${e.record.target.type === 'http' ? e.record.target.path : ''}`,
          cause: e.cause,
          error: e.transition === 'down' ? e.record.downCause : null,
        }
        if (e.transition === 'down') logger.warn('backend_down', `backend ${e.id} is DOWN: no new connections until it passes ${settings.thresholds.rise} checks in a row`, fields)
        else logger.info('backend_up', `backend ${e.id} is UP again`, fields)
        return
      }
      case 'opened':
        logger.warn('circuit_opened', `circuit of backend ${e.id} opened after consecutive connect failures`, {
          backend: e.id,
          address,
          openings: e.circuit.openings,
          open_secs: Math.round(e.openMs / 100) / 10,
        })
        return
      case 'half_open':
        logger.info('circuit_half_open', `circuit of backend ${e.id} is half-open: one trial connection at a time`, {backend: e.id, cause: e.cause})
        return
      case 'closed':
        logger.info('circuit_closed', `circuit of backend ${e.id} closed`, {backend: e.id})
        return
      case 'ejection_refused':
        warnRefused(`backend ${e.id} keeps failing but its circuit stays closed: the max ejection share of its app and region is reached`, {
          backend: e.id,
          ejected: e.ejected,
          group_size: e.groupSize,
        })
    }
  }

  const routes: ApiRoute[] = [
    {
      pattern: /^\/api\/v1\/backends\/([^/]+)\/check$/,
      methods: {
        POST: async (_req, {id}) => {
          const backend = router.get(id!) ?? (await parts.service.get(id!))
          if (backend === undefined) throw new HttpError(404, 'not_found', `no backend with id ${JSON.stringify(id)}`, 'id')
          const {target, result, atMs} = await checker.checkNow(backend)
          return {
            body: {
              id: backend.id,
              passed: result.isPass,
              type: target.type,
              address: formatHostPort(target.host, target.port),
              path: target.type === 'http' ? target.path : null,
              latency_ms: Math.round(result.latencyMs * 10) / 10,
              error: result.error,
              checked_at: new Date(atMs).toISOString(),
              opted_out: backend.checkType === 'none',
              state: health.label(backend.id),
            },
          }
        },
      },
    },
  ]
  parts.api?.addRoutes(routes)

  return {
    name: 'checks',
    async start() {
      if (!settings.isEnabled) return
      checker.reconcile(router.snapshot)
      router.onBackends((backends) => checker.reconcile(backends))
    },
    health() {
      const fields: Record<string, unknown> = {
        enabled: settings.isEnabled,
        checked: checker.size,
        down: health.downCount,
        in_flight: checker.inFlight,
        queued: checker.queued,
        passed: health.checksPassed,
        failed: health.checksFailed,
        transitions_down: health.transitionsDown,
        transitions_up: health.transitionsUp,
      }
      const circuits = health.circuits
      if (circuits) {
        fields.circuits = {open: circuits.notClosed, opened: circuits.opened, closed: circuits.closed, ejections_refused: circuits.ejectionsRefused}
      }
      return {fields}
    },
    async close() {
      await checker.close()
    },
  }
}
