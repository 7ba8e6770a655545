import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {DEFAULT_ANYCAST_PATHS} from '../../../src/anycast/paths.js'
import {ANYCAST_SETTINGS, assertProbeTiming, resolveAnycastConfig} from '../../../src/anycast/settings.js'
import {START_SETTINGS} from '../../../src/config/start-config.js'
import {ROOT} from '../../support/proxy-process.js'

describe('anycast settings', () => {
  test('the defaults are the paths a generated POP uses', () => {
    const c = resolveAnycastConfig({}, {})
    assert.deepEqual(c.files, {gateFile: DEFAULT_ANYCAST_PATHS.gateFile, maintenanceFile: DEFAULT_ANYCAST_PATHS.maintenanceFile, statusFile: DEFAULT_ANYCAST_PATHS.statusFile})
    assert.equal(c.bird.socket, DEFAULT_ANYCAST_PATHS.birdSocket)
    assert.equal(c.birdPasswordsFile, DEFAULT_ANYCAST_PATHS.birdPasswordsFile)
    assert.deepEqual(c.check, {intervalMs: 2000, timeoutMs: 1000, rise: 3, fall: 2})
  })

  test('flag > variable > default; probe lists with IPv6', () => {
    const c = resolveAnycastConfig({rise: '5'}, {EDGEPROXY_ANYCAST_RISE: '4', EDGEPROXY_ANYCAST_PROBE_ADDRS: '198.51.100.10:8080, [2001:db8:100::10]:8080', EDGEPROXY_ANYCAST_INTERVAL_SECS: '0.3'})
    assert.equal(c.check.rise, 5)
    assert.equal(c.check.intervalMs, 300)
    assert.deepEqual(c.probe.targets, [
      {host: '198.51.100.10', port: 8080},
      {host: '2001:db8:100::10', port: 8080},
    ])
  })

  test('bad values name the variable or the flag', () => {
    assert.throws(() => resolveAnycastConfig({}, {EDGEPROXY_ANYCAST_PROBE_ADDRS: '198.51.100.10'}), (e: Error & {field?: string}) => e.field === 'EDGEPROXY_ANYCAST_PROBE_ADDRS')
    assert.throws(() => resolveAnycastConfig({'health-url': 'ftp://x/health'}, {}), (e: Error & {field?: string}) => e.field === '--health-url')
    assert.throws(() => resolveAnycastConfig({fall: '0'}, {}), (e: Error & {field?: string}) => e.field === '--fall')
    assert.throws(() => assertProbeTiming(resolveAnycastConfig({interval: '1', timeout: '1.5'}, {})), (e: Error & {field?: string}) => e.field === '--timeout')
  })

  test('the README lists every anycast setting with its flag and default', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    for (const s of Object.values(ANYCAST_SETTINGS)) {
      if (Object.values(START_SETTINGS).includes(s as never)) continue
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${s.env}\` |`))
      assert.ok(row, `README lacks a row for ${s.env} (node --import tsx scripts/readme-tables.ts)`)
      assert.ok(row.includes(`\`--${s.flag}\``) && row.includes(`\`${s.default}\``), row)
    }
  })
})
