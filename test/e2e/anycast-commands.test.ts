// End to end without BIRD: `edgeproxy anycast check|prepare|withdraw|drain|resume|status|watch` as
// child processes of bin/run.js against a real `edgeproxy start`: exit codes, --json shapes, files
// and their modes, and bad settings refused with the flag named. (With BIRD: anycast-bird.test.ts.)
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {startBackend, type TestBackend} from '../support/backends.js'
import {runCli, startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'
import {assertDocumented} from '../support/json-shapes.js'
import {RoutingDb} from '../support/routing-db.js'

describe('anycast commands', () => {
  const tmp = tempDir('edgeproxy-anycast-cmd-')
  let proxy: ProxyProcess
  let backend: TestBackend
  let env: Record<string, string>

  before(async () => {
    backend = await startBackend('b1')
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_DB_RELOAD_SECS: '0.1'}})
    const api = String(proxy.events.find((e) => e.event === 'started')!.api)
    env = {
      EDGEPROXY_ANYCAST_PROBE_ADDRS: `127.0.0.1:${proxy.tcpPort}`,
      EDGEPROXY_ANYCAST_HEALTH_URL: `http://${api}/health`,
      EDGEPROXY_ANYCAST_GATE_FILE: path.join(tmp.dir, 'gate.conf'),
      EDGEPROXY_ANYCAST_MAINTENANCE_FILE: path.join(tmp.dir, 'anycast.disabled'),
      EDGEPROXY_ANYCAST_STATUS_FILE: path.join(tmp.dir, 'status.json'),
      EDGEPROXY_ANYCAST_BIRD_SOCKET: path.join(tmp.dir, 'no-bird.ctl'),
      EDGEPROXY_ANYCAST_BIRD_PASSWORDS_FILE: path.join(tmp.dir, 'passwords.conf'),
    }
  })
  after(async () => {
    await proxy?.stop()
    await backend?.close()
    tmp.cleanup()
  })

  test('check: exit 1 while nothing is routable, 0 once a backend is; --json lists every probe', async () => {
    const empty = await runCli(['anycast', 'check', '--json'], {env})
    assert.equal(empty.code, 1, empty.stderr)
    assertDocumented('edgeproxy anycast check', JSON.parse(empty.stdout))
    const r = JSON.parse(empty.stdout) as {ok: boolean; report: {reason: string; probes: Array<{kind: string; ok: boolean}>}}
    assert.equal(r.ok, false)
    assert.deepEqual(r.report.probes.map((p) => [p.kind, p.ok]), [
      ['listener', true],
      ['health', true],
      ['backends', false],
    ])
    assert.match(r.report.reason, /no routable backend/)

    new RoutingDb(path.join(tmp.dir, 'routing.db')).insert({id: 'b1', region: 'sa', port: backend.port})
    await proxy.waitFor('store_reloaded', (e) => e.backends === 1)
    const ok = await runCli(['anycast', 'check'], {env})
    assert.equal(ok.code, 0, ok.stdout + ok.stderr)
    assert.match(ok.stdout, /announce: every probe passed/)

    const closed = await runCli(['anycast', 'check', '--probe', '127.0.0.1:1', '--json'], {env})
    assert.equal(closed.code, 1)
    assert.match((JSON.parse(closed.stdout) as {report: {reason: string}}).report.reason, /^listener 127\.0\.0\.1:1: ECONNREFUSED$/)
  })

  test('prepare writes the gate withdrawn and the passwords 0640, never printing them', async () => {
    const secret = 'pw-for-the-peer'
    const run = await runCli(['anycast', 'prepare', '--password-env', 'EDGEPROXY_BGP_PASSWORD', '--json'], {env: {...env, EDGEPROXY_BGP_PASSWORD: secret}})
    assert.equal(run.code, 0, run.stderr)
    assertDocumented('edgeproxy anycast prepare', JSON.parse(run.stdout))
    assert.deepEqual(JSON.parse(run.stdout), {gate_file: env.EDGEPROXY_ANYCAST_GATE_FILE, phase: 'withdrawn', passwords_file: env.EDGEPROXY_ANYCAST_BIRD_PASSWORDS_FILE, passwords: ['EDGEPROXY_BGP_PASSWORD']})
    assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret))
    assert.equal(fs.readFileSync(env.EDGEPROXY_ANYCAST_BIRD_PASSWORDS_FILE!, 'utf8').split('\n').at(-2), `define EDGE_PW_EDGEPROXY_BGP_PASSWORD = "${secret}";`)
    assert.equal((fs.statSync(env.EDGEPROXY_ANYCAST_BIRD_PASSWORDS_FILE!).mode & 0o777).toString(8), '640')
    assert.match(fs.readFileSync(env.EDGEPROXY_ANYCAST_GATE_FILE!, 'utf8'), /^define EDGE_ANNOUNCE = false;$/m)

    const missing = await runCli(['anycast', 'prepare', '--password-env', 'EDGEPROXY_BGP_PASSWORD', '--json'], {env})
    assert.equal(missing.code, 3)
    const error = (JSON.parse(missing.stdout) as {error: {code: string; field: string}}).error
    assert.deepEqual([error.code, error.field], ['EP_BGP_PASSWORD_INVALID', 'EDGEPROXY_BGP_PASSWORD'])
  })

  test('withdraw --hold, drain and resume move the maintenance file; without BIRD they say nothing is announced', async () => {
    const held = await runCli(['anycast', 'withdraw', '--hold', '--json'], {env})
    assert.equal(held.code, 0, held.stderr)
    assertDocumented('edgeproxy anycast withdraw', JSON.parse(held.stdout))
    const h = JSON.parse(held.stdout) as {phase: string; held: boolean; bird: {reachable: boolean; note: string}}
    assert.deepEqual([h.phase, h.held, h.bird.reachable], ['withdrawn', true, false])
    assert.match(h.bird.note, /BIRD is not running/)
    assert.equal((JSON.parse(fs.readFileSync(env.EDGEPROXY_ANYCAST_MAINTENANCE_FILE!, 'utf8')) as {reason: string}).reason, 'withdraw --hold')

    const status = await runCli(['anycast', 'status', '--json'], {env})
    assert.equal(status.code, 0, status.stderr)
    const s = JSON.parse(status.stdout) as {gate: {phase: string}; maintenance: {reason: string}; watcher: null; bird: {reachable: boolean; error: string}}
    assert.deepEqual([s.gate.phase, s.maintenance.reason, s.watcher, s.bird.reachable], ['withdrawn', 'withdraw --hold', null, false])
    assert.match(s.bird.error, /cannot reach BIRD/)

    const resumed = await runCli(['anycast', 'resume', '--json'], {env})
    assertDocumented('edgeproxy anycast resume', JSON.parse(resumed.stdout))
    assert.deepEqual(JSON.parse(resumed.stdout), {was_held: true, maintenance_file: env.EDGEPROXY_ANYCAST_MAINTENANCE_FILE, watcher_running: false})
    assert.equal(fs.existsSync(env.EDGEPROXY_ANYCAST_MAINTENANCE_FILE!), false)

    const drained = await runCli(['anycast', 'drain', '--secs', '0', '--json'], {env})
    assert.equal(drained.code, 0, drained.stderr)
    assert.equal((JSON.parse(drained.stdout) as {was_announced: boolean}).was_announced, false, 'a withdrawn route is not tagged, just held')
    assert.equal((JSON.parse(fs.readFileSync(env.EDGEPROXY_ANYCAST_MAINTENANCE_FILE!, 'utf8')) as {reason: string}).reason, 'drain')
    await runCli(['anycast', 'resume'], {env})
  })

  test('watch refuses a timeout not shorter than the interval, naming --timeout', async () => {
    const run = await runCli(['anycast', 'watch', '--interval', '1', '--timeout', '1'], {env})
    assert.equal(run.code, 3)
    assert.match(run.stderr, /Code: EP_CONFIG_INVALID/)
    assert.match(run.stderr, /timeout 1 s is not shorter than the interval 1 s/)
    assert.match(run.stderr, /--timeout \(EDGEPROXY_ANYCAST_TIMEOUT_SECS\)/)
    const bad = await runCli(['anycast', 'check', '--json'], {env: {...env, EDGEPROXY_ANYCAST_PROBE_ADDRS: 'not-an-address'}})
    assert.equal(bad.code, 3)
    assert.equal((JSON.parse(bad.stdout) as {error: {field: string}}).error.field, 'EDGEPROXY_ANYCAST_PROBE_ADDRS')
  })

  test('watch: a gate file it cannot write stops it at once with exit 3, naming --gate-file', async () => {
    const run = await runCli(['anycast', 'watch', '--interval', '0.2', '--timeout', '0.1', '--gate-file', path.join(tmp.dir, 'no-such-dir', 'gate.conf')], {env})
    assert.equal(run.code, 3, run.stderr)
    assert.match(run.stderr, /Code: EP_ANYCAST_FILE/)
    assert.match(run.stderr, /--gate-file/)
  })
})
