// End to end: `edgeproxy status` against a real `bin/run.js start` with real backends and held
// connections: the human view on a pseudo-terminal (colour) and through a pipe (none), the --json
// object with exact figures, --watch rates between samples, and the exit codes: 0 healthy, 1 degraded
// (an expired certificate made here with openssl), 3 refused token, 4 unreachable.
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {closedPort, connectAndGreet, startBackend, type TestBackend} from '../support/backends.js'
import {BIN, cleanEnv, runCli, startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'
import {runOnPty} from '../support/pty.js'
import {RoutingDb} from '../support/routing-db.js'

const TOKEN = 'status-e2e-token-0123456789abcdef'
const portOf = (address: unknown) => Number(String(address).slice(String(address).lastIndexOf(':') + 1))

/** A certificate that expired in 2020 (openssl ca can backdate; req -x509 cannot). */
function expiredCertificate(dir: string): {cert: string; key: string} {
  const run = (args: string[]) => execFileSync('openssl', args, {cwd: dir, stdio: 'ignore'})
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=status-test-ca'])
  run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'req.csr', '-subj', '/CN=expired.test'])
  fs.writeFileSync(path.join(dir, 'index.txt'), '')
  fs.writeFileSync(path.join(dir, 'serial'), '01\n')
  fs.writeFileSync(path.join(dir, 'ca.cnf'), '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\ndefault_md = sha256\npolicy = p\nserial = serial\n[p]\ncommonName = supplied\n')
  run(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', 'req.csr', '-out', 'cert.pem', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext'])
  return {cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem')}
}

describe('edgeproxy status against a running POP', () => {
  const tmp = tempDir()
  let proxy: ProxyProcess
  let db: RoutingDb
  let apiUrl: string
  const backends: TestBackend[] = []
  const held: {socket: {destroy(): void}}[] = []

  before(async () => {
    for (const id of ['busy', 'calm']) backends.push(await startBackend(id))
    // The embedded GeoIP database ages with the calendar; its warning is tested in the expiry tests, not here.
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_DB_RELOAD_SECS: '0.1', EDGEPROXY_API_TOKEN: TOKEN, EDGEPROXY_REGION: 'eu', EDGEPROXY_GEOIP_MAX_AGE_DAYS: '36500'}})
    apiUrl = `http://127.0.0.1:${portOf(proxy.events.find((e) => e.event === 'started')!.api)}`
    db = new RoutingDb(path.join(tmp.dir, 'routing.db'))
    db.insert({id: 'busy', region: 'eu', port: backends[0].port, weight: 1000})
    db.insert({id: 'calm', region: 'eu', port: backends[1].port, weight: 1})
    db.insert({id: 'gone', region: 'us', port: await closedPort(), draining: 1})
    await proxy.next('store_reloaded', (e) => e.backends === 3)
    // Three connections stay open: with its weight, busy takes the first two (loopback clients share
    // one address, so affinity keeps them there); the third comes from another address.
    held.push(await connectAndGreet(proxy.tcpPort), await connectAndGreet(proxy.tcpPort))
    held.push(await connectAndGreet(proxy.tcpPort, {localAddress: '127.0.0.2'}))
  })
  after(async () => {
    for (const h of held) h.socket.destroy()
    db?.close()
    await proxy?.stop()
    for (const b of backends) await b.close()
    tmp.cleanup()
  })

  test('--json: the POP, its backends by state, the busiest first, traffic since start; exit 0', async () => {
    const r = await runCli(['status', '--json', '--api-url', apiUrl], {env: {EDGEPROXY_API_TOKEN: TOKEN}})
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout)
    assert.equal(s.status, 'ok')
    assert.equal(s.region, 'eu')
    assert.match(s.version, /^\d+\.\d+\.\d+/)
    assert.equal(s.store.kind, 'sqlite')
    assert.equal(s.store.current, true)
    assert.deepEqual(s.backends.by_state, {healthy: 2, draining: 1, unhealthy: 0, expired: 0})
    assert.equal(s.backends.total, 3)
    assert.equal(s.backends.up, 2)
    const active = Object.fromEntries(s.backends.top.map((b: {id: string; active: number}) => [b.id, b.active]))
    assert.equal(active.busy + active.calm, 3)
    assert.ok(active.busy >= 2, JSON.stringify(s.backends.top))
    assert.equal(s.backends.top[0].id, 'busy', 'busiest first')
    assert.equal(s.connections.active, 3)
    assert.equal(s.connections.total, 3)
    assert.equal(s.connections.errors_total, 0)
    assert.equal(s.rates.since, 'start')
    assert.equal(s.tls_certificate, null)
    assert.match(s.geoip.built_at, /^\d{4}-\d\d-\d\dT/)
    assert.ok(Array.isArray(s.warnings) && Array.isArray(s.degraded_reasons))
  })

  test('on a terminal: one coloured screen; through a pipe: the same text without colour', async () => {
    const tty = await runOnPty(['status', '--api-url', apiUrl], {env: {EDGEPROXY_API_TOKEN: TOKEN, NO_COLOR: ''}})
    assert.equal(tty.code, 0, tty.output)
    assert.match(tty.output, /edgeproxy \S+ .*region eu .*up \d+s/)
    assert.match(tty.output, /\u001B\[32mok\u001B\[39m/, 'state in green')
    // eslint-disable-next-line no-control-regex
    const plain = tty.output.replace(/\u001B\[[0-9;]*m/g, '')
    assert.match(plain, /backends\s+3 \(2 up\): 2 healthy, 1 draining/)
    assert.match(plain, /connections\s+3 open\s+3 total/)
    assert.match(plain, /BACKEND\s+APP\s+REGION\s+ACTIVE\s+TOTAL\s+CONNECT ERRORS\s+UP/)
    assert.match(plain, /\r?\nbusy\s+web\s+eu\s+[23]\s+[23]\s+0\s+yes/)
    assert.match(plain, /\r?\ngone\s+web\s+us\s+0\s+0\s+0\s+no/)
    const {code, stdout} = await runCli(['status', '--api-url', apiUrl], {env: {EDGEPROXY_API_TOKEN: TOKEN, NO_COLOR: ''}})
    assert.equal(code, 0)
    assert.doesNotMatch(stdout, /\u001B\[/)
    assert.match(stdout, /backends\s+3 \(2 up\)/)
  })

  test('--watch --json: one object per sample, rates since the previous sample', async (t) => {
    const child = spawn(process.execPath, [BIN, 'status', '--watch', '1', '--json', '--api-url', apiUrl], {env: cleanEnv({EDGEPROXY_API_TOKEN: TOKEN})})
    t.after(() => child.kill('SIGKILL'))
    let out = ''
    const lines = await new Promise<string[]>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c
        const done = out.split('\n').filter(Boolean)
        if (done.length >= 2) resolve(done)
      })
      child.on('exit', (code) => reject(new Error(`status --watch exited (${code}): ${out}`)))
    })
    const [first, second] = lines.map((l) => JSON.parse(l))
    assert.equal(first.rates.since, 'start')
    assert.equal(second.rates.since, 'last_sample')
    assert.ok(second.rates.interval_secs >= 0.9 && second.rates.interval_secs < 5, String(second.rates.interval_secs))
    assert.equal(second.rates.connections_per_sec, 0)
  })

  test('a wrong token exits 3; an unreachable API exits 4; a bad URL exits 3', async () => {
    const refused = await runCli(['status', '--json', '--api-url', apiUrl, '--token', 'not-the-token-at-all'])
    assert.equal(refused.code, 3)
    assert.equal(JSON.parse(refused.stdout).error.code, 'EP_API_UNAUTHORIZED')
    const down = await runCli(['status', '--api-url', `http://127.0.0.1:${await closedPort()}`])
    assert.equal(down.code, 4)
    assert.match(down.stderr, /Code: EP_API_UNAVAILABLE/)
    const bad = await runCli(['status', '--json', '--api-url', 'ftp://x'])
    assert.equal(bad.code, 3)
  })
})

describe('edgeproxy status of a degraded POP', () => {
  test('an expired certificate: logged as an error, /health degraded, status exits 1 and says why', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const {cert, key} = expiredCertificate(tmp.dir)
    const proxy = await startProxy({
      env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_TLS_ENABLED: 'true', EDGEPROXY_TLS_LISTEN_ADDR: '127.0.0.1:0', EDGEPROXY_TLS_CERT: cert, EDGEPROXY_TLS_KEY: key},
    })
    t.after(() => proxy.stop())
    const logged = await proxy.waitFor('tls_certificate_expired')
    assert.equal(logged.level, 'error')
    assert.equal(logged.not_after, '2020-01-02T00:00:00.000Z')
    const apiUrl = `http://127.0.0.1:${portOf(proxy.events.find((e) => e.event === 'started')!.api)}`
    const r = await runCli(['status', '--json', '--api-url', apiUrl])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const s = JSON.parse(r.stdout)
    assert.equal(s.status, 'degraded')
    assert.ok(s.degraded_reasons.some((d: string) => /expiry: the TLS certificate expired\.test expired on 2020-01-02/.test(d)), JSON.stringify(s.degraded_reasons))
    assert.ok(s.tls_certificate.days_left < -365)
    const human = await runCli(['status', '--api-url', apiUrl])
    assert.equal(human.code, 1)
    assert.match(human.stdout, /DEGRADED/)
    assert.match(human.stdout, /degraded:\n {2}- expiry: the TLS certificate expired\.test expired/)
  })
})
