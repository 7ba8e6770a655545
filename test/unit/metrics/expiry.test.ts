import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {resolveStartConfig} from '../../../src/config/start-config.js'
import type {LogFields, Logger} from '../../../src/log/logger.js'
import {DAY_MS, DailyReport, expiryFindings, type ExpiryInputs} from '../../../src/metrics/expiry.js'
import {expiryService} from '../../../src/metrics/expiry-service.js'
import type {TlsCertificate} from '../../../src/proxy/tls-certificate.js'

const NOW = Date.parse('2026-07-01T12:00:00Z')
const FRESH_GEO = {builtAtMs: Date.parse('2026-06-01T00:00:00Z'), isEmbedded: true, source: 'embedded'}

function inputs(extra: Partial<ExpiryInputs> = {}): ExpiryInputs {
  return {nowMs: NOW, geo: FRESH_GEO, tlsExpiryWarnDays: 14, geoipMaxAgeDays: 90, ...extra}
}

const cert = (daysLeft: number) => ({subject: 'edge.example', notAfterMs: NOW + daysLeft * DAY_MS})

describe('expiry findings', () => {
  test('a certificate warns within the warning window, errors (and degrades) once expired, is quiet before', () => {
    assert.deepEqual(expiryFindings(inputs({certificate: cert(30)})), [])
    const soon = expiryFindings(inputs({certificate: cert(3.5)}))
    assert.deepEqual(soon.map((f) => [f.event, f.level, f.isDegrading]), [['tls_certificate_expiring', 'warn', false]])
    assert.match(soon[0].message, /expires in 3\.5 days \(2026-07-05\)/)
    assert.equal(soon[0].fields.days_left, 3.5)
    const gone = expiryFindings(inputs({certificate: cert(-1)}))
    assert.deepEqual(gone.map((f) => [f.event, f.level, f.isDegrading]), [['tls_certificate_expired', 'error', true]])
    assert.match(gone[0].message, /expired on 2026-06-30/)
  })

  test('the window is the setting: 0 turns the early warning off, not the expired error', () => {
    assert.deepEqual(expiryFindings(inputs({certificate: cert(1), tlsExpiryWarnDays: 0})), [])
    assert.equal(expiryFindings(inputs({certificate: cert(20), tlsExpiryWarnDays: 21})).length, 1)
    assert.equal(expiryFindings(inputs({certificate: cert(-0.01), tlsExpiryWarnDays: 0}))[0].event, 'tls_certificate_expired')
  })

  test('a GeoIP database older than the maximum age says how to update it (package or file)', () => {
    const old = {...FRESH_GEO, builtAtMs: NOW - 91 * DAY_MS}
    assert.deepEqual(expiryFindings(inputs({geo: {...old, builtAtMs: NOW - 89 * DAY_MS}})), [])
    const embedded = expiryFindings(inputs({geo: old}))
    assert.deepEqual(embedded.map((f) => f.event), ['geoip_stale'])
    assert.match(embedded[0].message, /91 days ago .*EDGEPROXY_GEOIP_MAX_AGE_DAYS=90.*update edgeproxy.*EDGEPROXY_GEOIP_PATH/)
    const file = expiryFindings(inputs({geo: {...old, isEmbedded: false, source: '/var/lib/GeoLite2-Country.mmdb'}}))
    assert.match(file[0].message, /replace the file of EDGEPROXY_GEOIP_PATH/)
    assert.equal(expiryFindings(inputs({geo: old, geoipMaxAgeDays: 120})).length, 0)
  })
})

describe('daily report', () => {
  test('a finding is logged when it appears, then once a day while it lasts, and again at once if it comes back', () => {
    const report = new DailyReport()
    const expiring = expiryFindings(inputs({certificate: cert(5)}))
    assert.equal(report.due(expiring, 0).length, 1)
    assert.equal(report.due(expiring, DAY_MS - 1).length, 0)
    assert.equal(report.due(expiring, DAY_MS).length, 1)
    const expired = expiryFindings(inputs({certificate: cert(-1)}))
    assert.deepEqual(report.due(expired, DAY_MS + 1).map((f) => f.event), ['tls_certificate_expired'], 'expiring → expired is logged at once')
    assert.equal(report.due([], DAY_MS + 2).length, 0, 'renewed')
    assert.equal(report.due(expired, DAY_MS + 3).length, 1, 'a finding that went away and came back is new')
  })
})

describe('expiry service', () => {
  function recorder() {
    const lines: {level: string; event: string; fields?: LogFields}[] = []
    const log = (level: string) => (event: string, _msg: string, fields?: LogFields) => lines.push({level, event, fields})
    const logger: Logger = {isDebug: false, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error')}
    return {lines, logger}
  }

  test('logs at start and once a day on an injected clock, and reports /health warnings and degraded reasons', async (t) => {
    let now = NOW
    const {lines, logger} = recorder()
    const certificate = {info: {subject: 'edge.example', notAfter: new Date(NOW + 2 * DAY_MS).toISOString(), fingerprint256: ''}} as TlsCertificate
    const service = expiryService(
      {config: resolveStartConfig({}, {}), logger, certificate, geo: {...FRESH_GEO, builtAtMs: NOW - 100 * DAY_MS}},
      {now: () => now, checkIntervalMs: 3_600_000},
    )
    await service.start()
    t.after(() => service.close())
    assert.deepEqual(lines.map((l) => [l.level, l.event]), [['warn', 'tls_certificate_expiring'], ['warn', 'geoip_stale']])
    now += 12 * 3_600_000
    assert.equal(service.check().length, 0, 'half a day later: nothing new')
    now += 12 * 3_600_000
    assert.equal(service.check().length, 2, 'a day later: both again')
    const warned = service.health!()
    assert.equal(warned.degraded, undefined)
    assert.equal(warned.warnings?.length, 2)
    now += 2 * DAY_MS
    assert.deepEqual(service.check().map((f) => f.event), ['tls_certificate_expired', 'geoip_stale'])
    assert.equal(lines.find((l) => l.event === 'tls_certificate_expired')?.level, 'error')
    const expired = service.health!()
    assert.equal(expired.degraded?.length, 1)
    assert.match(expired.degraded![0], /expired/)
  })
})
