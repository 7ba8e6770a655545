// End to end: `bin/run.js start` with active checks on, against real backend processes that are
// stopped (SIGSTOP: the kernel still completes TCP handshakes), resumed and killed, with no client
// traffic at all; then the register API's check overrides, `backend check` and `route explain`.
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import tls from 'node:tls'

import {closedPort, connectAndGreet, readUntil, startBackend} from '../support/backends.js'
import {RoutingDb} from '../support/routing-db.js'
import {ROOT, runCli, startProxy, tempDir, type LogEvent, type ProxyProcess} from '../support/proxy-process.js'

// An HTTP (or HTTPS) backend in its own process, so it can be stopped and killed: every request gets its id.
const BACKEND = `
const fs = require('node:fs')
const [id, mode, dir] = process.argv.slice(1)
const handler = (req, res) => res.end(id + '\\n')
const server = mode === 'tls'
  ? require('node:https').createServer({cert: fs.readFileSync(dir + '/a.crt'), key: fs.readFileSync(dir + '/a.key')}, handler)
  : require('node:http').createServer(handler)
server.listen(0, '127.0.0.1', () => console.log(server.address().port))
`
const TLS_FIXTURES = path.join(ROOT, 'test/fixtures/tls')

interface BackendProcess {
  id: string
  port: number
  child: ChildProcess
}

async function spawnBackend(id: string, mode: 'http' | 'tls' = 'http'): Promise<BackendProcess> {
  const child = spawn(process.execPath, ['-e', BACKEND, id, mode, TLS_FIXTURES], {stdio: ['ignore', 'pipe', 'inherit']})
  const [line] = (await once(child.stdout!, 'data')) as [Buffer]
  return {id, port: Number(line.toString().trim()), child}
}

function kill(b: BackendProcess): void {
  if (b.child.exitCode !== null || b.child.signalCode !== null) return
  b.child.kill('SIGCONT')
  b.child.kill('SIGKILL')
}

/** One request through the proxy (TLS end to end for an HTTPS backend); resolves with the id that answered. */
async function via(port: number, mode: 'http' | 'tls' = 'http'): Promise<string> {
  const socket = mode === 'tls' ? tls.connect({host: '127.0.0.1', port, rejectUnauthorized: false}) : net.connect({host: '127.0.0.1', port})
  socket.on('error', () => {})
  await once(socket, mode === 'tls' ? 'secureConnect' : 'connect')
  socket.write('GET / HTTP/1.0\r\n\r\n')
  const text = await readUntil(socket, (t) => /\r\n\r\n.+\n/.test(t))
  socket.destroy()
  return text.slice(text.indexOf('\r\n\r\n') + 4).trim()
}

function apiUrl(proxy: ProxyProcess): string {
  return `http://${String(proxy.events.find((e) => e.event === 'started')!.api)}`
}

const INTERVAL = 0.4
const FAST = 0.2
const TIMEOUT = 0.25
const FALL = 2
const checkEnv = (type: string) => ({
  EDGEPROXY_DB_RELOAD_SECS: '0.1',
  EDGEPROXY_HEALTH_CHECK_ENABLED: 'true',
  EDGEPROXY_HEALTH_CHECK_TYPE: type,
  EDGEPROXY_HEALTH_CHECK_INTERVAL_SECS: String(INTERVAL),
  EDGEPROXY_HEALTH_CHECK_FAST_INTERVAL_SECS: String(FAST),
  EDGEPROXY_HEALTH_CHECK_TIMEOUT_SECS: String(TIMEOUT),
  EDGEPROXY_HEALTH_UNHEALTHY_THRESHOLD: String(FALL),
  EDGEPROXY_HEALTH_HEALTHY_THRESHOLD: '2',
})
// What the issue asks: out of selection within fall × interval + timeout. 300 ms more for two shared
// cores (the test and the proxy are separate processes, the log line crosses a pipe).
const BOUND_MS = (FALL * INTERVAL + TIMEOUT) * 1000 + 300

/** Milliseconds from `sinceMs` (wall clock) to the proxy's log line of the event. */
const after_ = (e: LogEvent, sinceMs: number) => Date.parse(e.ts) - sinceMs

describe('active checks against real backend processes, with no client traffic', () => {
  for (const type of ['http', 'tls'] as const) {
    test(`${type} check: SIGSTOP takes the backend out within fall × interval + timeout, SIGCONT brings it back, SIGKILL takes it out again`, async (t) => {
      const tmp = tempDir()
      t.after(tmp.cleanup)
      const a = await spawnBackend('a', type === 'tls' ? 'tls' : 'http')
      const b = await spawnBackend('b', type === 'tls' ? 'tls' : 'http')
      t.after(() => (kill(a), kill(b)))
      const dbPath = path.join(tmp.dir, 'routing.db')
      const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, ...checkEnv(type)}})
      t.after(() => proxy.stop())
      const db = new RoutingDb(dbPath)
      t.after(() => db.close())
      db.insert({id: 'a', region: 'sa', port: a.port})
      db.insert({id: 'b', region: 'sa', port: b.port})
      await proxy.waitFor('store_reloaded', (e) => e.backends === 2)
      // Both checked and UP (a first check within one interval; a cold start on a busy machine can
      // miss one, so wait for UP, not for the first result).
      await waitChecked(apiUrl(proxy), ['a', 'b'], 0, 'UP')

      a.child.kill('SIGSTOP')
      const stoppedAt = Date.now()
      const down = await proxy.next('backend_down', (e) => e.backend === 'a', 5000)
      const downMs = after_(down, stoppedAt)
      assert.ok(downMs <= BOUND_MS, `DOWN ${downMs} ms after SIGSTOP; bound ${BOUND_MS} ms`)
      assert.match(String(down.error), /timeout after 250 ms/)
      t.diagnostic(`${type}: DOWN ${downMs} ms after SIGSTOP (bound ${BOUND_MS} ms)`)

      a.child.kill('SIGCONT')
      const contAt = Date.now()
      const up = await proxy.next('backend_up', (e) => e.backend === 'a', 5000)
      t.diagnostic(`${type}: UP ${after_(up, contAt)} ms after SIGCONT`)

      a.child.kill('SIGKILL')
      const killedAt = Date.now()
      const dead = await proxy.next('backend_down', (e) => e.backend === 'a', 5000)
      assert.ok(after_(dead, killedAt) <= BOUND_MS, `DOWN ${after_(dead, killedAt)} ms after SIGKILL`)
      assert.match(String(dead.error), /ECONNREFUSED/)

      const health = (await (await fetch(`${apiUrl(proxy)}/health`)).json()) as {connections: {accepted: number}; routable: number}
      assert.equal(health.connections.accepted, 0, 'no client traffic was needed')
      assert.equal(health.routable, 1)
      // Now clients: every one goes to b.
      for (let i = 0; i < 5; i++) assert.equal(await via(proxy.tcpPort, type === 'tls' ? 'tls' : 'http'), 'b')
    })
  }

  test('tcp check: a stopped process still completes handshakes (it stays UP); a killed one goes DOWN', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const a = await spawnBackend('a')
    t.after(() => kill(a))
    const dbPath = path.join(tmp.dir, 'routing.db')
    const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, ...checkEnv('tcp')}})
    t.after(() => proxy.stop())
    const db = new RoutingDb(dbPath)
    t.after(() => db.close())
    db.insert({id: 'a', region: 'sa', port: a.port})
    await proxy.waitFor('store_reloaded', (e) => e.backends === 1)
    await waitChecked(apiUrl(proxy), ['a'], 0, 'UP')
    a.child.kill('SIGSTOP')
    // Four intervals of tcp checks against the stopped process: still UP (why tls and http exist).
    const checkedAt = Date.now()
    await waitChecked(apiUrl(proxy), ['a'], checkedAt + 4 * INTERVAL * 1000)
    const list = (await (await fetch(`${apiUrl(proxy)}/api/v1/backends`)).json()) as {backends: {id: string; check: {label: string}}[]}
    assert.equal(list.backends[0].check.label, 'UP')
    assert.equal(proxy.events.filter((e) => e.event === 'backend_down').length, 0)
    a.child.kill('SIGKILL')
    const killedAt = Date.now()
    const dead = await proxy.next('backend_down', (e) => e.backend === 'a', 5000)
    assert.ok(after_(dead, killedAt) <= BOUND_MS, `DOWN ${after_(dead, killedAt)} ms after SIGKILL; bound ${BOUND_MS} ms`)
  })
})

/** Waits until every backend has a check result newer than `sinceMs`, in `label` if given (polls the API: no event for it). */
async function waitChecked(api: string, ids: string[], sinceMs = 0, label?: string): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const body = (await (await fetch(`${api}/api/v1/backends`)).json()) as {
      backends: {id: string; check: {last_check: string | null; label: string} | null}[]
    }
    const done = ids.every((id) => {
      const check = body.backends.find((b) => b.id === id)?.check
      return check?.last_check != null && Date.parse(check.last_check) > sinceMs && (label === undefined || check.label === label)
    })
    if (done) return
    if (Date.now() > deadline) throw new Error(`no check result for ${ids.join(', ')}: ${JSON.stringify(body)}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('check overrides, backend check and route explain through a running proxy', () => {
  const tmp = tempDir()
  let proxy: ProxyProcess
  let api: string
  let data: net.Server
  let health: net.Server
  let dataPort: number
  let checkPort: number

  before(async () => {
    // The data port answers raw bytes; the check port is a tiny HTTP server answering 200 on /healthz.
    data = net.createServer((s) => (s.on('error', () => {}), s.end('data\n')))
    data.listen(0, '127.0.0.1')
    await once(data, 'listening')
    dataPort = (data.address() as net.AddressInfo).port
    health = net.createServer((s) => {
      s.on('error', () => {})
      s.once('data', (chunk: Buffer) => s.end(chunk.toString().startsWith('GET /healthz ') ? 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n' : 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'))
    })
    health.listen(0, '127.0.0.1')
    await once(health, 'listening')
    checkPort = (health.address() as net.AddressInfo).port
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), ...checkEnv('tcp'), EDGEPROXY_HEALTH_CHECK_INTERVAL_SECS: '0.3'}})
    api = apiUrl(proxy)
  })
  after(async () => {
    await proxy?.stop()
    data?.close()
    health?.close()
    tmp.cleanup()
  })

  const cli = (...args: string[]) => runCli([...args, '--api-url', api])
  const register = async (body: Record<string, unknown>) =>
    fetch(`${api}/api/v1/register`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({app: 'web', region: 'sa', ip: '127.0.0.1', ...body})})
  const getBackend = async (id: string) => (await fetch(`${api}/api/v1/backends/${id}`)).json() as Promise<{backend: Record<string, any>}>

  test('backend register --check-type --check-port --check-path: stored, checked on the check port, shown by list and get', async () => {
    const reg = await cli('backend', 'register', '--id', 'o', '--app', 'web', '--region', 'sa', '--ip', '127.0.0.1', '--port', String(dataPort),
      '--check-type', 'http', '--check-port', String(checkPort), '--check-path', '/healthz', '--json')
    assert.equal(reg.code, 0, reg.stderr)
    await waitChecked(api, ['o'])
    const b = (await getBackend('o')).backend
    assert.equal(b.port, dataPort)
    assert.equal(b.check.state, 'UP')
    assert.equal(b.check.type, 'http')
    assert.equal(b.check.port, checkPort)
    assert.equal(b.check.path, '/healthz')
    assert.equal(b.check.last_error, null)
    assert.equal(typeof b.check.latency_ms, 'number')
    assert.equal(b.circuit.label, 'closed')
    const list = await cli('backend', 'list')
    assert.match(list.stdout, /CHECK {3}CIRCUIT/)
    assert.match(list.stdout, /^o .* UP +closed /m)
  })

  test('backend check ID runs one check now: exit 0 when it passes, 1 when it fails', async () => {
    const ok = await cli('backend', 'check', 'o', '--json')
    assert.equal(ok.code, 0, ok.stderr)
    const r = JSON.parse(ok.stdout) as {passed: boolean; type: string; address: string; path: string}
    assert.deepEqual([r.passed, r.type, r.address, r.path], [true, 'http', `127.0.0.1:${checkPort}`, '/healthz'])
    await register({id: 'p', port: dataPort, check: {type: 'http', port: checkPort, path: '/nope'}})
    const bad = await cli('backend', 'check', 'p')
    assert.equal(bad.code, 1)
    assert.match(bad.stdout, /http check of p at 127\.0\.0\.1:\d+\/nope failed after [\d.]+ ms: HTTP 404/)
    const missing = await cli('backend', 'check', 'zz', '--json')
    assert.equal(missing.code, 3)
    assert.equal((JSON.parse(missing.stdout) as {error: {code: string}}).error.code, 'EP_BACKEND_NOT_FOUND')
  })

  test('route explain says why a backend is skipped: DOWN by active check, with the error', async () => {
    await proxy.waitFor('backend_down', (e) => e.backend === 'p')
    const r = (await (await fetch(`${api}/api/v1/route?ip=90.0.0.1`)).json()) as {candidates: {id: string; skipped: string | null; skipped_detail: string | null; routing_state: string}[]}
    const c = r.candidates
    const p = c.find((x) => x.id === 'p')!
    assert.equal(p.skipped, 'down')
    assert.equal(p.routing_state, 'down')
    assert.match(p.skipped_detail!, /^DOWN by active check \(HTTP 404, (its first check|2\/2)\)/)
    assert.equal(c.find((x) => x.id === 'o')!.skipped, null)
    const human = await cli('route', 'explain', '90.0.0.1')
    assert.match(human.stdout, /DOWN by active check \(HTTP 404/)
  })

  test('bad check overrides are refused with the field named, and nothing is stored', async () => {
    for (const [check, field] of [
      [{type: 'udp'}, 'check.type'],
      [{port: 70000}, 'check.port'],
      [{path: 'no-slash'}, 'check.path'],
      [{interval: 5}, 'check.interval'],
      ['http', 'check'],
    ] as const) {
      const res = await register({id: 'q', port: 1, check})
      assert.equal(res.status, 400)
      assert.equal(((await res.json()) as {error: {field: string}}).error.field, field)
    }
    // The same rule through the CLI flags: exit 3 naming the field.
    const r = await cli('backend', 'register', '--id', 'q', '--app', 'web', '--region', 'sa', '--ip', '127.0.0.1', '--port', '1', '--check-type', 'tcp', '--check-path', '/x', '--json')
    assert.equal(r.code, 3, r.stdout)
    assert.equal((JSON.parse(r.stdout) as {error: {field: string}}).error.field, 'check.path')
    assert.equal((await fetch(`${api}/api/v1/backends/q`)).status, 404)
  })

  test('a backend with check type none is never checked', async () => {
    assert.equal((await register({id: 'n', port: 1, check: {type: 'none'}})).status, 201)
    // o is checked every 0.3 s: a check of it that started 0.4 s from now, n (whose port refuses) still has no check.
    await waitChecked(api, ['o'], Date.now() + 400)
    assert.equal((await getBackend('n')).backend.check, null)
    assert.equal(proxy.events.some((e) => e.event === 'backend_down' && e.backend === 'n'), false)
  })
})

describe('circuit breaker on real connections', () => {
  test('refused connects open the circuit; after the open time one trial at a time goes through, and successes close it', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const b = await startBackend('b')
    t.after(() => b.close())
    const aPort = await closedPort()
    const dbPath = path.join(tmp.dir, 'routing.db')
    const proxy = await startProxy({
      env: {
        EDGEPROXY_DB_PATH: dbPath,
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_CIRCUIT_BREAKER_ENABLED: 'true',
        EDGEPROXY_CIRCUIT_BREAKER_FAILURE_THRESHOLD: '3',
        EDGEPROXY_CIRCUIT_BREAKER_TIMEOUT_SECS: '0.5',
        EDGEPROXY_CIRCUIT_BREAKER_SUCCESS_THRESHOLD: '2',
        EDGEPROXY_CIRCUIT_BREAKER_MAX_EJECTION_PERCENT: '50',
      },
    })
    t.after(() => proxy.stop())
    const db = new RoutingDb(dbPath)
    t.after(() => db.close())
    db.insert({id: 'a', region: 'sa', port: aPort})
    db.insert({id: 'b', region: 'sa', port: b.port})
    await proxy.waitFor('store_reloaded', (e) => e.backends === 2)
    const api = apiUrl(proxy)
    const circuitOf = async (id: string) =>
      ((await (await fetch(`${api}/api/v1/backends/${id}`)).json()) as {backend: {circuit: {state: string; label: string; failures: number}}}).backend.circuit

    // Equal backends share picks round-robin: every other client tries a first and fails over to b.
    // Each client has its own address (an affinity binding would keep one address on b).
    let client = 10
    for (let i = 0; i < 6; i++) {
      const {socket, id} = await connectAndGreet(proxy.tcpPort, {localAddress: `127.0.0.${client++}`})
      socket.destroy()
      assert.equal(id, 'b')
    }
    const opened = await proxy.waitFor('circuit_opened', (e) => e.backend === 'a')
    assert.equal(opened.openings, 1)
    assert.ok(Number(opened.open_secs) >= 0.45 && Number(opened.open_secs) <= 0.55, `open ${opened.open_secs} s (0.5 s ± 10%)`)
    const openA = ((await (await fetch(`${api}/api/v1/backends/a`)).json()) as {backend: {circuit: {label: string}; routing_state: string}}).backend
    assert.match(openA.circuit.label, /^open \d+s$/)
    // The POP's one word for it (what the status page shows and edgeproxy_backends{state} counts).
    assert.equal(openA.routing_state, 'circuit_open')
    const explain = (await (await fetch(`${api}/api/v1/route?ip=90.0.0.1`)).json()) as {candidates: {id: string; skipped: string; skipped_detail: string; routing_state: string}[]}
    assert.equal(explain.candidates.find((c) => c.id === 'a')!.skipped, 'circuit_open')
    assert.equal(explain.candidates.find((c) => c.id === 'b')!.routing_state, 'up')

    // a comes back on its port; after the open time, trial connections go to it and close the circuit.
    const server = net.createServer((s) => (s.on('error', () => {}), s.end('a\n')))
    server.listen(aPort, '127.0.0.1')
    await once(server, 'listening')
    t.after(() => server.close())
    // Open turns half-open when the open time is over and someone looks (a pick, explain, the API).
    const halfOpenBy = Date.now() + 5000
    while ((await circuitOf('a')).state !== 'half_open') {
      assert.ok(Date.now() < halfOpenBy, 'half-open within 5 s')
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.ok(proxy.events.some((e) => e.event === 'circuit_half_open' && e.backend === 'a' && e.cause === 'timeout'))
    const seen: string[] = []
    const deadline = Date.now() + 5000
    while (!proxy.events.some((e) => e.event === 'circuit_closed') && Date.now() < deadline) {
      const {socket, id} = await connectAndGreet(proxy.tcpPort, {localAddress: `127.0.0.${client++}`})
      socket.destroy()
      seen.push(id)
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(proxy.events.some((e) => e.event === 'circuit_closed' && e.backend === 'a'), `no circuit_closed; clients got ${seen.join(',')}`)
    assert.equal(seen.filter((id) => id === 'a').length, 2, 'two successful trials closed it')
    assert.equal((await circuitOf('a')).state, 'closed')
  })
})
