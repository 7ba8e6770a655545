// summarise(): the pure part of `edgeproxy status`, from /health and /metrics samples to its result.
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {summarise, statusApiUrl, type HealthBody, type PopSample} from '../../../src/cli/pop-status.js'
import {parseExposition} from '../../../src/metrics/exposition.js'

const HEALTH: HealthBody = {
  status: 'ok',
  version: '1.2.3',
  region: 'eu',
  uptime_secs: 100,
  store: {kind: 'corrosion', target: 'corrosion:http://127.0.0.1:8090', current: true, last_sync_age_secs: 0.2},
}

function metrics(connections: number, errors: number, extra = ''): string {
  return `
edgeproxy_connections_total{listener="tcp"} ${connections}
edgeproxy_connections_total{listener="tls"} 10
edgeproxy_connections_active{listener="tcp"} 2
edgeproxy_connections_active{listener="tls"} 1
edgeproxy_bytes_sent_total{listener="tcp"} 1000
edgeproxy_bytes_received_total{listener="tcp"} 5000
edgeproxy_connection_errors_total{reason="no_backend"} ${errors}
edgeproxy_connection_errors_total{reason="connect_failed"} 7
edgeproxy_store_backends{state="healthy"} 2
edgeproxy_store_backends{state="draining"} 1
edgeproxy_backend_connections_active{backend="a",app="web",region="eu"} 1
edgeproxy_backend_connections_total{backend="a",app="web",region="eu"} 50
edgeproxy_backend_up{backend="a",app="web",region="eu"} 1
edgeproxy_backend_connections_active{backend="b",app="web",region="eu"} 2
edgeproxy_backend_connections_total{backend="b",app="web",region="eu"} 40
edgeproxy_backend_connect_errors_total{backend="b",app="web",region="eu"} 7
edgeproxy_backend_up{backend="b",app="web",region="eu"} 1
edgeproxy_backend_connections_active{backend="c",app="api",region="us"} 0
edgeproxy_backend_up{backend="c",app="api",region="us"} 0
edgeproxy_store_subscription_state{state="connected"} 1
edgeproxy_geoip_build_timestamp_seconds 1780272000
${extra}`
}

const sample = (atMs: number, text: string | null, health: Partial<HealthBody> = {}): PopSample => ({
  atMs,
  health: {...HEALTH, ...health},
  metrics: text === null ? null : parseExposition(text),
})

describe('status summary', () => {
  test('one sample: totals over listeners, client errors without retried connects, busiest backends first, rates since start', () => {
    const r = summarise('http://x', sample(Date.parse('2026-07-01T00:00:00Z'), metrics(90, 3)))
    assert.equal(r.connections?.total, 100)
    assert.equal(r.connections?.active, 3)
    assert.equal(r.connections?.errors_total, 3, 'connect_failed is a backend attempt, not a failed client connection')
    assert.deepEqual(r.connections?.errors_by_reason, {no_backend: 3, connect_failed: 7})
    assert.deepEqual(r.backends?.by_state, {healthy: 2, draining: 1})
    assert.equal(r.backends?.total, 3)
    assert.equal(r.backends?.up, 2)
    assert.deepEqual(r.backends?.top.map((b) => b.id), ['b', 'a', 'c'])
    assert.deepEqual(r.backends?.top[0], {id: 'b', app: 'web', region: 'eu', active: 2, connections_total: 40, connect_errors_total: 7, up: true})
    assert.deepEqual(r.rates, {since: 'start', interval_secs: 100, connections_per_sec: 1, errors_per_sec: 0.03, bytes_sent_per_sec: 10, bytes_received_per_sec: 50})
    assert.equal(r.store.subscription, 'connected')
    assert.deepEqual(r.geoip, {built_at: '2026-06-01T00:00:00.000Z', age_days: 30})
    assert.equal(r.tls_certificate, null)
  })

  test('two samples of the same process: rates over the interval; a restart in between falls back to since-start', () => {
    const first = sample(1_000_000, metrics(90, 3))
    const second = sample(1_002_000, metrics(130, 5), {uptime_secs: 102})
    const r = summarise('http://x', second, first)
    assert.equal(r.rates?.since, 'last_sample')
    assert.equal(r.rates?.interval_secs, 2)
    assert.equal(r.rates?.connections_per_sec, 20)
    assert.equal(r.rates?.errors_per_sec, 1)
    const restarted = summarise('http://x', sample(1_004_000, metrics(4, 0), {uptime_secs: 1}), second)
    assert.equal(restarted.rates?.since, 'start')
    assert.equal(restarted.rates?.connections_per_sec, 14)
  })

  test('without metrics: the health facts only; degraded reasons and warnings pass through', () => {
    const r = summarise('http://x', sample(0, null, {status: 'degraded', degraded_reasons: ['store: down'], warnings: ['soon']}))
    assert.equal(r.status, 'degraded')
    assert.deepEqual(r.degraded_reasons, ['store: down'])
    assert.deepEqual(r.warnings, ['soon'])
    assert.equal(r.backends, null)
    assert.equal(r.connections, null)
    assert.equal(r.rates, null)
  })

  test('the API URL must be http(s); trailing slashes go', () => {
    assert.equal(statusApiUrl(undefined), 'http://127.0.0.1:8081')
    assert.equal(statusApiUrl('https://edge.example:8081//'), 'https://edge.example:8081')
    assert.throws(() => statusApiUrl('ftp://x'), (e: unknown) => (e as {exitCode?: number}).exitCode === 3)
    assert.throws(() => statusApiUrl('not a url'), /is not an http\(s\) URL/)
  })
})
