import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {MAX_TIMER_MS, type Setting} from '../../../src/config/settings.js'
import {resolveStartConfig, START_SETTINGS} from '../../../src/config/start-config.js'
import {ConfigError} from '../../../src/errors.js'
import {ROOT} from '../../support/proxy-process.js'

const fixture = (name: string) => path.join(ROOT, 'test/fixtures/tls', name)

function refusal(flags: Record<string, string | boolean>, env: Record<string, string>): ConfigError {
  try {
    resolveStartConfig(flags, env)
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error))
    return error
  }
  assert.fail('expected a ConfigError')
}

describe('start configuration', () => {
  test('defaults follow the reference', () => {
    const c = resolveStartConfig({}, {})
    assert.deepEqual(c.listen, {host: '0.0.0.0', port: 8080})
    assert.equal(c.region, 'sa')
    assert.equal(c.dbPath, 'routing.db')
    assert.equal(c.dbReloadMs, 5000)
    assert.equal(c.bindingTtlMs, 600_000)
    assert.equal(c.bindingGcIntervalMs, 60_000)
    assert.equal(c.shutdownTimeoutMs, 30_000)
    assert.equal(c.tls, undefined)
    assert.equal(c.proxyProtocol, undefined)
    assert.equal(c.isDebug, false)
    assert.equal(c.logFormat, 'human')
  })

  test('a flag wins over its variable, which wins over the default', () => {
    assert.equal(resolveStartConfig({region: 'eu'}, {EDGEPROXY_REGION: 'ap'}).region, 'eu')
    assert.equal(resolveStartConfig({}, {EDGEPROXY_REGION: 'ap'}).region, 'ap')
    const c = resolveStartConfig({'db-reload-secs': '0.5'}, {EDGEPROXY_DB_RELOAD_SECS: '9'})
    assert.equal(c.dbReloadMs, 500)
    assert.equal(c.sources.dbReloadSecs, 'flag')
    assert.equal(resolveStartConfig({tls: false}, {EDGEPROXY_TLS_ENABLED: 'true'}).tls, undefined)
  })

  test('booleans accept true/1 in any case', () => {
    for (const v of ['true', 'TRUE', '1', 'True']) assert.ok(resolveStartConfig({}, {EDGEPROXY_PROXY_PROTOCOL: v}).proxyProtocol)
    for (const v of ['false', '0', '']) assert.equal(resolveStartConfig({}, {EDGEPROXY_PROXY_PROTOCOL: v}).proxyProtocol, undefined)
  })

  test('EDGEPROXY_DEBUG turns on per-connection logs; DEBUG (which other tools set) does not', () => {
    assert.equal(resolveStartConfig({}, {EDGEPROXY_DEBUG: '1'}).isDebug, true)
    assert.equal(resolveStartConfig({}, {EDGEPROXY_DEBUG: 'true'}).isDebug, true)
    assert.equal(resolveStartConfig({}, {EDGEPROXY_DEBUG: '0'}).isDebug, false)
    assert.equal(resolveStartConfig({debug: true}, {}).isDebug, true)
    for (const value of ['1', '*', 'express:*', 'true']) assert.equal(resolveStartConfig({}, {DEBUG: value}).isDebug, false, `DEBUG=${value}`)
    assert.throws(() => resolveStartConfig({}, {EDGEPROXY_DEBUG: 'express:*'}), {code: 'EP_CONFIG_INVALID', field: 'EDGEPROXY_DEBUG'})
  })

  test('every number has a range: above it is refused naming the value and the maximum; no duration overflows a Node timer', () => {
    const numeric = (Object.entries(START_SETTINGS) as [string, Setting<unknown>][]).filter(([, s]) => s.kind === 'number' || s.kind === 'integer')
    assert.ok(numeric.length >= 12)
    for (const [key, s] of numeric) {
      assert.ok(s.range, `${s.env} has a range`)
      const max = Number(s.range!.split('-')[1])
      assert.equal(s.parse(String(max)), max, `${s.env} accepts its maximum`)
      for (const above of [String(max + 1), '100000000', '1' + '0'.repeat(400)]) {
        const e = refusal({}, {[s.env]: above})
        assert.equal(e.field, s.env)
        assert.ok(e.message.includes(above.slice(0, 60)), e.message)
        assert.match(e.message, new RegExp(`at most ${max}`), `${key}: ${e.message}`)
        assert.match(e.suggestion ?? '', new RegExp(`${max}`), `${key}: the suggestion names the maximum`)
      }
      if (s.kind === 'number') assert.ok(max * 1000 <= MAX_TIMER_MS, `${s.env}: ${max} s fits a Node timer`)
    }
    // Every duration, at its maximum, fits a timer once resolved.
    const atMax = Object.fromEntries(numeric.map(([, s]) => [s.env, s.range!.split('-')[1]!]))
    const config = resolveStartConfig({}, atMax)
    for (const [k, v] of Object.entries(config)) if (k.endsWith('Ms')) assert.ok((v as number) <= MAX_TIMER_MS, k)
  })

  test('IPv6 and dual-stack listen addresses', () => {
    assert.deepEqual(resolveStartConfig({listen: '[::]:8080'}, {}).listen, {host: '::', port: 8080})
    assert.deepEqual(resolveStartConfig({listen: '[2001:db8::1]:0'}, {}).listen, {host: '2001:db8::1', port: 0})
  })

  test('errors name the flag or variable and quote the value', () => {
    const e1 = refusal({listen: '0.0.0.0:70000'}, {})
    assert.match(e1.message, /--listen "0\.0\.0\.0:70000"/)
    assert.equal(e1.field, '--listen')
    const e2 = refusal({}, {EDGEPROXY_DB_RELOAD_SECS: 'abc'})
    assert.match(e2.message, /EDGEPROXY_DB_RELOAD_SECS="abc"/)
    assert.equal(e2.code, 'EP_CONFIG_INVALID')
    assert.match(e2.suggestion ?? '', /--db-reload-secs/)
    assert.match(refusal({}, {EDGEPROXY_LISTEN_ADDR: '::1:80'}).message, /brackets/)
    assert.match(refusal({}, {EDGEPROXY_REGION: 'eu-west'}).message, /sa, us, eu, ap/)
    assert.match(refusal({}, {EDGEPROXY_PROXY_PROTOCOL_TRUSTED: '10.0.0.0/8,bogus'}).message, /bogus/)
    assert.match(refusal({}, {EDGEPROXY_BINDING_MAX_ENTRIES: '1.5'}).message, /whole number/)
    assert.match(refusal({}, {EDGEPROXY_CONNECT_ATTEMPTS: '0'}).message, /at least 1/)
  })

  test('TLS needs a readable certificate and key', () => {
    assert.match(refusal({tls: true}, {}).message, /--tls-cert .* not set/)
    assert.match(refusal({tls: true, 'tls-cert': '/nope.pem', 'tls-key': fixture('a.key')}, {}).message, /--tls-cert "\/nope\.pem": no such file/)
    const c = resolveStartConfig({tls: true, 'tls-cert': fixture('a.crt'), 'tls-key': fixture('a.key')}, {})
    assert.deepEqual(c.tls?.listen, {host: '0.0.0.0', port: 8443})
  })

  test('every setting has a flag, a variable and help text, and no two share a name', () => {
    const flags = new Set<string>()
    const envs = new Set<string>()
    for (const s of Object.values(START_SETTINGS)) {
      assert.ok(s.summary.length > 10)
      assert.ok(!flags.has(s.flag) && !envs.has(s.env))
      flags.add(s.flag)
      envs.add(s.env)
    }
  })

  test('the README configuration table lists every setting with its default', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    for (const s of Object.values(START_SETTINGS)) {
      // The setting's own row starts with its name (other tables may mention it).
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${s.env}\` |`))
      assert.ok(row, `README lacks a row for ${s.env}`)
      assert.ok(row.includes(`--${s.flag}`), `README row for ${s.env} lacks --${s.flag}`)
      if (s.default !== undefined) assert.ok(row.includes(`\`${s.default}\``), `README row for ${s.env} lacks its default ${s.default}`)
    }
  })
})
