// The POP's observability services: Prometheus metrics (GET /metrics on the API, and on a listener
// of its own when EDGEPROXY_METRICS_LISTEN_ADDR is set) and the expiry warnings (log at start and
// daily, /health warnings). prom-client is loaded only when metrics are on.
import type {EngineParts} from '../engine.js'
import {formatHostPort} from '../net/address.js'
import type {Service} from '../server/service.js'
import {expiryService} from './expiry-service.js'
import {MetricsServer, type MetricsText} from './metrics-server.js'

export function metricsServices(parts: EngineParts): Service[] {
  const services: Service[] = [expiryService(parts)]
  if (parts.config.metrics.isEnabled) services.push(metricsService(parts))
  return services
}

function metricsService(parts: EngineParts): Service {
  const {config, logger, api} = parts
  const settings = config.metrics
  let render: (() => Promise<MetricsText>) | undefined
  let server: MetricsServer | undefined
  // The route goes on the API now (before it listens); it answers once start() built the registry,
  // which happens before the API service starts.
  api?.addRoutes([
    {
      pattern: /^\/metrics$/,
      methods: {
        GET: async () => {
          const text = await render!()
          return {body: text.body, contentType: text.contentType}
        },
      },
    },
  ])
  return {
    name: 'metrics',
    async start() {
      const {createMetricsRegistry} = await import('./collectors.js')
      const certificate = parts.certificate
      const registry = createMetricsRegistry({
        version: parts.version,
        region: config.region,
        router: parts.router,
        feed: parts.feed,
        stats: parts.stats,
        listeners: config.tls ? {...parts.listenerStats} : {tcp: parts.listenerStats.tcp},
        certificateNotAfterMs: certificate ? () => Date.parse(certificate.info.notAfter) : undefined,
        geoBuiltAtMs: parts.geo.builtAtMs,
        dns: config.dns ? parts.dnsCounters : undefined,
        admission: parts.admission,
        isCheckingHealth: config.health.isEnabled,
      })
      render = async () => {
        await parts.refresh()
        return {contentType: registry.contentType, body: await registry.metrics()}
      }
      if (settings.listen === undefined) return
      server = new MetricsServer({render, token: settings.token, logger})
      const bound = await server.listen(settings.listen)
      const address = formatHostPort(bound.host, bound.port)
      logger.info('metrics_listening', `serving Prometheus metrics at http://${address}/metrics`, {address, token: settings.token !== undefined})
      if (settings.isInsecure) {
        logger.warn('metrics_insecure', `the metrics listener ${address} serves beyond loopback without a token: anyone who reaches it reads this POP's traffic figures. Set EDGEPROXY_METRICS_TOKEN.`)
      }
    },
    // No stopAccepting: the listener keeps answering through a drain, so the drain can be watched.
    close() {
      server?.close()
    },
  }
}
