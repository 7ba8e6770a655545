import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {resolveStartConfig} from '../../../src/config/start-config.js'
import {ConfigError} from '../../../src/errors.js'

const TOKEN = 'metrics-token-0123456789'
const API_TOKEN = 'api-token-0123456789abcdef'

describe('metrics settings', () => {
  test('defaults: /metrics on the API, no listener of its own, warnings at 14 and 90 days', () => {
    const m = resolveStartConfig({}, {}).metrics
    assert.deepEqual(m, {isEnabled: true, listen: undefined, token: undefined, isInsecure: false, tlsExpiryWarnDays: 14, geoipMaxAgeDays: 90})
  })

  test('a loopback listener needs no token; the metrics token wins over the API token, which is the fallback', () => {
    assert.deepEqual(resolveStartConfig({}, {EDGEPROXY_METRICS_LISTEN_ADDR: '127.0.0.1:9090'}).metrics.listen, {host: '127.0.0.1', port: 9090})
    const both = resolveStartConfig({}, {EDGEPROXY_METRICS_LISTEN_ADDR: '10.0.0.1:9090', EDGEPROXY_METRICS_TOKEN: TOKEN, EDGEPROXY_API_TOKEN: API_TOKEN})
    assert.equal(both.metrics.token, TOKEN)
    const api = resolveStartConfig({}, {EDGEPROXY_METRICS_LISTEN_ADDR: '10.0.0.1:9090', EDGEPROXY_API_TOKEN: API_TOKEN})
    assert.equal(api.metrics.token, API_TOKEN)
  })

  test('a non-loopback listener without a token is refused, naming the variable and the fix', () => {
    assert.throws(
      () => resolveStartConfig({}, {EDGEPROXY_METRICS_LISTEN_ADDR: '0.0.0.0:9090'}),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.exitCode === 3 &&
        error.field === 'EDGEPROXY_METRICS_TOKEN' &&
        /0\.0\.0\.0:9090, beyond loopback, without a token/.test(error.message) &&
        /EDGEPROXY_METRICS_INSECURE=true/.test(error.suggestion ?? ''),
    )
    const insecure = resolveStartConfig({'metrics-insecure': true}, {EDGEPROXY_METRICS_LISTEN_ADDR: '[::]:9090'}).metrics
    assert.equal(insecure.isInsecure, true)
    assert.equal(insecure.token, undefined)
  })

  test('metrics off: no listener even when an address is set; bad values name the setting', () => {
    assert.equal(resolveStartConfig({metrics: false}, {EDGEPROXY_METRICS_LISTEN_ADDR: '0.0.0.0:9090'}).metrics.listen, undefined)
    assert.throws(() => resolveStartConfig({}, {EDGEPROXY_METRICS_TOKEN: 'short'}), /EDGEPROXY_METRICS_TOKEN=.*\(hidden\).*16 characters/)
    assert.throws(() => resolveStartConfig({}, {EDGEPROXY_TLS_EXPIRY_WARN_DAYS: '-1'}), /EDGEPROXY_TLS_EXPIRY_WARN_DAYS="-1": must be at least 0/)
    assert.throws(() => resolveStartConfig({'geoip-max-age-days': 'soon'}, {}), /--geoip-max-age-days "soon": not a whole number/)
  })
})
