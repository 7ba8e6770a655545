// The registry over real parts (a Router fed a routing table, the data path's stat objects): what
// a scrape shows after picks, connect results and table changes. The e2e test drives real sockets.
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {Router} from '../../../src/balancer/router.js'
import {createMetricsRegistry} from '../../../src/metrics/collectors.js'
import {parseExposition, sampleValue, type Sample} from '../../../src/metrics/exposition.js'
import {ListenerStats, ProxyStats} from '../../../src/proxy/stats.js'
import type {FeedStatus} from '../../../src/store/routing-feed.js'
import {makeBackend} from '../../support/backend-fixture.js'

function setup() {
  const router = new Router({localRegion: 'sa', bindingTtlMs: 60_000, bindingMaxEntries: 100, failureCooldownMs: 10_000})
  const stats = new ProxyStats()
  const tcp = new ListenerStats()
  let status: FeedStatus = {kind: 'corrosion', target: 'corrosion:http://127.0.0.1:8090', isCurrent: true, lastSyncAtMs: 1_000, subscription: 'connected'}
  const registry = createMetricsRegistry({
    version: '9.9.9',
    region: 'sa',
    router,
    feed: {status: () => status},
    stats,
    listeners: {tcp},
    certificateNotAfterMs: () => Date.parse('2027-01-02T03:04:05Z'),
    geoBuiltAtMs: Date.parse('2026-06-01T00:00:00Z'),
    now: () => 3_500,
  })
  const scrape = async (): Promise<Sample[]> => parseExposition(await registry.metrics())
  return {router, stats, tcp, registry, scrape, setStatus: (s: FeedStatus) => (status = s)}
}

describe('metrics registry', () => {
  test('per-backend series follow the routing table; a deleted backend’s series disappear', async () => {
    const {router, scrape} = setup()
    router.setBackends([makeBackend('a', {app: 'web', region: 'sa', weight: 3, softLimit: 10, hardLimit: 20}), makeBackend('b', {region: 'eu', country: 'DE'})])
    const pick = router.acquire('1.1.1.1', 'BR', undefined)!
    pick.counters.observeConnectMs(3)
    const failed = router.acquire('2.2.2.2', 'BR', new Set([pick.backend.id]))!
    failed.counters.connectErrors++
    router.release(failed.backend.id)
    let s = await scrape()
    const a = {backend: 'a', app: 'web', region: 'sa'}
    assert.equal(sampleValue(s, 'edgeproxy_backend_connections_total', a), 1)
    assert.equal(sampleValue(s, 'edgeproxy_backend_connections_active', a), 1)
    assert.equal(sampleValue(s, 'edgeproxy_backend_connect_errors_total', {backend: 'b'}), 1)
    assert.equal(sampleValue(s, 'edgeproxy_backend_connections_active', {backend: 'b'}), 0)
    assert.equal(sampleValue(s, 'edgeproxy_backend_weight', a), 3)
    assert.equal(sampleValue(s, 'edgeproxy_backend_limit', {...a, kind: 'soft'}), 10)
    assert.equal(sampleValue(s, 'edgeproxy_backend_limit', {...a, kind: 'hard'}), 20)
    assert.equal(sampleValue(s, 'edgeproxy_backend_up', a), 1)
    assert.equal(sampleValue(s, 'edgeproxy_backend_connect_time_seconds_bucket', {...a, le: '0.0025'}), 0)
    assert.equal(sampleValue(s, 'edgeproxy_backend_connect_time_seconds_bucket', {...a, le: '0.005'}), 1)
    assert.equal(sampleValue(s, 'edgeproxy_backend_connect_time_seconds_bucket', {...a, le: '+Inf'}), 1)
    assert.equal(sampleValue(s, 'edgeproxy_backend_connect_time_seconds_sum', a), 0.003)
    assert.equal(sampleValue(s, 'edgeproxy_backend_connect_time_seconds_count', a), 1)
    assert.equal(sampleValue(s, 'edgeproxy_routing_decisions_total', {tier: 'country'}), 1)
    assert.equal(sampleValue(s, 'edgeproxy_routing_decisions_total', {tier: 'other'}), 1, 'b (eu) for a BR client in an sa POP, a excluded')

    router.setBackends([makeBackend('a', {isDraining: true})])
    s = await scrape()
    assert.equal(sampleValue(s, 'edgeproxy_backend_up', {backend: 'a'}), 0, 'draining: takes no new connections')
    assert.equal(sampleValue(s, 'edgeproxy_backend_connections_total', {backend: 'a'}), 1, 'kept across the reload')
    assert.deepEqual(s.filter((x) => x.labels.backend === 'b'), [], 'deregistered: no series')
    assert.equal(sampleValue(s, 'edgeproxy_store_backends', {state: 'draining'}), 1)
    assert.equal(sampleValue(s, 'edgeproxy_store_backends', {state: 'healthy'}), 0)

    router.setBackends([makeBackend('a', {isDraining: true}), makeBackend('c'), makeBackend('d', {isHealthy: false})])
    router.markFailed('c')
    s = await scrape()
    assert.deepEqual(
      Object.fromEntries(s.filter((x) => x.name === 'edgeproxy_backends').map((x) => [x.labels.state, x.value])),
      {up: 0, draining: 1, unhealthy: 1, expired: 0, down: 0, circuit_open: 0, circuit_half_open: 0, cooling_down: 1},
      "this POP's view: c refused a connect and cools down",
    )
    assert.equal(sampleValue(s, 'edgeproxy_backend_up', {backend: 'c'}), 0)

    router.setBackends([])
    s = await scrape()
    assert.deepEqual(s.filter((x) => x.name.startsWith('edgeproxy_backend_')), [], 'gone from the table: no series')
  })

  test('listener, error, store and expiry figures are copied at scrape time', async () => {
    const {stats, tcp, scrape, setStatus} = setup()
    tcp.accepted = 7
    tcp.completed = 5
    tcp.bytesFromClients = 100
    tcp.bytesToClients = 2000
    stats.noBackend = 2
    stats.proxyHeaderUntrusted = 1
    stats.refusedRateLimit = 3
    stats.refusedMaxConnections = 5
    stats.failovers = 4
    let s = await scrape()
    assert.equal(sampleValue(s, 'edgeproxy_build_info', {version: '9.9.9', region: 'sa', store: 'corrosion'}), 1)
    assert.equal(sampleValue(s, 'edgeproxy_connections_total', {listener: 'tcp'}), 7)
    assert.equal(sampleValue(s, 'edgeproxy_connections_active', {listener: 'tcp'}), 2)
    assert.equal(sampleValue(s, 'edgeproxy_connections_total', {listener: 'tls'}), undefined, 'no TLS listener, no series')
    assert.equal(sampleValue(s, 'edgeproxy_bytes_sent_total', {listener: 'tcp'}), 100)
    assert.equal(sampleValue(s, 'edgeproxy_bytes_received_total', {listener: 'tcp'}), 2000)
    assert.equal(sampleValue(s, 'edgeproxy_connection_errors_total', {reason: 'no_backend'}), 2)
    assert.equal(sampleValue(s, 'edgeproxy_connection_errors_total', {reason: 'proxy_header_untrusted'}), 1)
    assert.equal(sampleValue(s, 'edgeproxy_connection_errors_total', {reason: 'tls_handshake'}), 0)
    assert.equal(sampleValue(s, 'edgeproxy_connection_errors_total', {reason: 'rate_limited'}), 3)
    assert.equal(sampleValue(s, 'edgeproxy_connection_errors_total', {reason: 'conn_limit'}), 0)
    assert.equal(sampleValue(s, 'edgeproxy_connection_errors_total', {reason: 'max_connections'}), 5)
    assert.equal(sampleValue(s, 'edgeproxy_failovers_total'), 4)
    assert.equal(sampleValue(s, 'edgeproxy_store_current'), 1)
    assert.equal(sampleValue(s, 'edgeproxy_store_last_sync_age_seconds'), 2.5)
    assert.equal(sampleValue(s, 'edgeproxy_store_subscription_state', {state: 'connected'}), 1)
    assert.equal(sampleValue(s, 'edgeproxy_tls_certificate_expiry_timestamp_seconds'), Date.parse('2027-01-02T03:04:05Z') / 1000)
    assert.equal(sampleValue(s, 'edgeproxy_geoip_build_timestamp_seconds'), Date.parse('2026-06-01T00:00:00Z') / 1000)
    assert.ok(sampleValue(s, 'process_cpu_seconds_total') !== undefined && sampleValue(s, 'nodejs_eventloop_lag_seconds') !== undefined, 'default metrics')
    setStatus({kind: 'corrosion', target: 'x', isCurrent: false, lastSyncAtMs: 1_000, subscription: 'down'})
    s = await scrape()
    assert.equal(sampleValue(s, 'edgeproxy_store_current'), 0)
    assert.equal(sampleValue(s, 'edgeproxy_store_subscription_state', {state: 'down'}), 1)
    assert.equal(sampleValue(s, 'edgeproxy_store_subscription_state', {state: 'connected'}), undefined)
  })

  test('label values with quotes, backslashes and newlines (an app name written with SQL) are escaped and read back', async () => {
    const {router, registry, scrape} = setup()
    const app = 'we"b\\x\ny'
    router.setBackends([makeBackend('a', {app})])
    const text = await registry.metrics()
    assert.match(text, /app="we\\"b\\\\x\\ny"/)
    assert.equal(sampleValue(await scrape(), 'edgeproxy_backend_weight', {backend: 'a', app}), 2)
  })

  test('no label carries a client address', async () => {
    const {router, scrape} = setup()
    router.setBackends([makeBackend('a')])
    router.acquire('203.0.113.77', 'BR', undefined)
    const s = await scrape()
    assert.deepEqual(s.filter((x) => Object.values(x.labels).some((v) => v.includes('203.0.113.77'))), [])
  })
})
