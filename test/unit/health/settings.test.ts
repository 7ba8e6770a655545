// The settings of checks, circuits and admission resolve to their typed config through
// resolveStartConfig, with the spec's defaults, and refuse what cannot work, naming the variable.
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {resolveStartConfig} from '../../../src/config/start-config.js'
import {ConfigError} from '../../../src/errors.js'

const resolve = (env: Record<string, string> = {}) => resolveStartConfig({}, env)

describe('health, circuit and admission settings', () => {
  test('defaults: checks, circuit breaker and admission off; idle timeout 3600 s; no global cap', () => {
    const c = resolve()
    assert.equal(c.health.isEnabled, false)
    assert.deepEqual(c.health.probe, {type: 'tcp', path: '/health', port: 0, timeoutMs: 2000, sni: undefined})
    assert.deepEqual(c.health.timing, {intervalMs: 5000, fastIntervalMs: 1000, downIntervalMs: 5000, jitterPercent: 10})
    assert.deepEqual(c.health.thresholds, {rise: 2, fall: 3})
    assert.equal(c.health.concurrency, 64)
    assert.equal(c.health.circuit, undefined)
    assert.deepEqual(c.limits, {admission: undefined, maxConnections: 0, idleTimeoutMs: 3_600_000})
  })

  test('the circuit breaker and admission resolve with the Rust names and defaults', () => {
    const c = resolve({EDGEPROXY_CIRCUIT_BREAKER_ENABLED: 'true', EDGEPROXY_RATE_LIMIT_ENABLED: 'true'})
    assert.deepEqual(c.health.circuit, {
      failureThreshold: 5,
      failureWindowMs: 60_000,
      baseOpenMs: 30_000,
      maxOpenMs: 300_000,
      jitterPercent: 10,
      successThreshold: 3,
      maxEjectionPercent: 50,
    })
    assert.deepEqual(c.limits.admission, {
      rate: {perSecond: 100, burst: 10},
      maxConnsPerKey: 0,
      prefixes: {ipv4: 32, ipv6: 64},
      exempt: '127.0.0.1/32,::1/128',
      isDryRun: false,
      maxEntries: 100_000,
    })
    assert.equal(resolve({EDGEPROXY_MAX_CONNS_PER_IP: '4'}).limits.admission?.rate, undefined, 'a per-key cap alone turns admission on')
  })

  test('a check timeout not shorter than the interval is refused, naming the variable', () => {
    assert.throws(
      () => resolve({EDGEPROXY_HEALTH_CHECK_ENABLED: 'true', EDGEPROXY_HEALTH_CHECK_INTERVAL_SECS: '2', EDGEPROXY_HEALTH_CHECK_TIMEOUT_SECS: '2'}),
      (e: unknown) => e instanceof ConfigError && e.field === 'EDGEPROXY_HEALTH_CHECK_TIMEOUT_SECS' && /shorter than the interval/.test(e.message),
    )
  })

  test('bad values name their variable', () => {
    for (const [name, value] of [
      ['EDGEPROXY_HEALTH_CHECK_TYPE', 'udp'],
      ['EDGEPROXY_HEALTH_CHECK_PATH', 'health'],
      ['EDGEPROXY_HEALTH_CHECK_PORT', '70000'],
      ['EDGEPROXY_HEALTH_CHECK_JITTER_PERCENT', '80'],
      ['EDGEPROXY_CIRCUIT_BREAKER_MAX_EJECTION_PERCENT', '101'],
      ['EDGEPROXY_RATE_LIMIT_IPV6_PREFIX', '129'],
      ['EDGEPROXY_RATE_LIMIT_EXEMPT', '10.0.0.0/33'],
      ['EDGEPROXY_IDLE_TIMEOUT_SECS', '-1'],
    ]) {
      assert.throws(
        () => resolve({[name]: value}),
        (e: unknown) => e instanceof ConfigError && e.field === name && e.message.includes(JSON.stringify(value)),
        `${name}=${value}`,
      )
    }
  })
})
