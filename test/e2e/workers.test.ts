// Several workers (EDGEPROXY_WORKERS) in a real `edgeproxy start`: the hard limit holds over all of
// them under a burst, a client's binding is the same whichever worker accepts it, a drain counts
// every worker's connections once, and a worker that crashes is replaced while the others' connections
// carry on. Workers need reusePort listeners (Node ≥ 22.12); on an older Node the block is skipped
// with the reason, and the fallback to one worker is tested instead.
import assert from 'node:assert/strict'
import {once} from 'node:events'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {supportsReusePort} from '../../src/workers/settings.js'
import {closed, connectAndGreet, readUntil, startBackend, waitUntil, type TestBackend} from '../support/backends.js'
import {RoutingDb} from '../support/routing-db.js'
import {runCli, startProxy, tempDir, type LogEvent, type ProxyProcess} from '../support/proxy-process.js'

const NODE = process.versions.node
const SKIP = supportsReusePort() ? false : `several workers need Node ≥ 22.12 (net reusePort); this is Node ${NODE}`
const WORKERS = 2

interface Fixture {
  proxy: ProxyProcess
  db: RoutingDb
  a: TestBackend
  b: TestBackend
  api: string
}

async function health(f: Fixture): Promise<Record<string, any>> {
  return (await (await fetch(`${f.api}/health`)).json()) as Record<string, any>
}

/** Polls an async condition (state the proxy has no event for) until it holds; fails after timeoutMs. */
async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function connectionsOf(f: Fixture): Promise<number[]> {
  const list = (await (await fetch(`${f.api}/api/v1/backends`)).json()) as {backends: {connections: number}[]}
  return list.backends.map((b) => b.connections)
}

/** Every worker routes on the latest table (the control plane posts each table; workers acknowledge it). */
async function workersCurrent(f: Fixture): Promise<void> {
  await until(async () => (await health(f)).workers.behind === 0)
}

async function tableEverywhere(f: Fixture, n: number): Promise<void> {
  await f.proxy.next('store_reloaded', (e) => e.backends === n)
  await workersCurrent(f)
}

function fixture(env: Record<string, string> = {}): Fixture {
  const tmp = tempDir()
  const f = {} as Fixture
  before(async () => {
    f.a = await startBackend('a')
    f.b = await startBackend('b')
    const dbPath = path.join(tmp.dir, 'routing.db')
    f.proxy = await startProxy({
      env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_DB_RELOAD_SECS: '0.1', EDGEPROXY_WORKERS: String(WORKERS), EDGEPROXY_REGION: 'sa', ...env},
    })
    const started = await f.proxy.waitFor('started')
    assert.equal(started.workers, WORKERS)
    f.api = `http://${String(started.api)}`
    f.db = new RoutingDb(dbPath)
  })
  after(async () => {
    f.db?.close()
    await f.proxy?.stop('SIGKILL')
    await f.a?.close()
    await f.b?.close()
    tmp.cleanup()
  })
  return f
}

/** Connects from `from` and waits for the greeting; the connection's worker shows in its DEBUG line when it closes. */
async function greetFrom(port: number, from: string) {
  return connectAndGreet(port, {localAddress: from})
}

describe(`${WORKERS} workers: exact limits, shared affinity, process-wide figures`, {skip: SKIP}, () => {
  const f = fixture({EDGEPROXY_DEBUG: '1'})

  test('a burst of 1,000 simultaneous connects never passes hard_limit 50 on either backend', async (t) => {
    f.db.insert({id: 'a', region: 'sa', port: f.a.port, soft_limit: 10, hard_limit: 50})
    f.db.insert({id: 'b', region: 'sa', port: f.b.port, soft_limit: 10, hard_limit: 50})
    // Even when an assertion fails, the next test starts from an empty table.
    t.after(async () => {
      f.db.delete('a')
      f.db.delete('b')
      await tableEverywhere(f, 0)
    })
    await tableEverywhere(f, 2)
    let peakA = 0
    let peakB = 0
    const sample = () => {
      peakA = Math.max(peakA, f.a.open)
      peakB = Math.max(peakB, f.b.open)
    }
    f.a.server.on('connection', sample)
    f.b.server.on('connection', sample)
    const attempts = await Promise.allSettled(Array.from({length: 1000}, () => connectAndGreet(f.proxy.tcpPort, {})))
    f.a.server.off('connection', sample)
    f.b.server.off('connection', sample)
    const ok = attempts.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{id: string; socket: net.Socket}>).value)
    const perBackend = {a: ok.filter((c) => c.id === 'a').length, b: ok.filter((c) => c.id === 'b').length}
    assert.deepEqual(perBackend, {a: 50, b: 50}, 'each backend takes exactly its hard limit')
    assert.ok(peakA <= 50 && peakB <= 50, `peak open a=${peakA} b=${peakB}`)
    // The connections were spread over the workers, and the figures are the process's.
    const h = await health(f)
    assert.equal(h.connections.accepted, 1000)
    assert.equal(h.connections.active, 100)
    assert.equal(h.connections.no_backend, 900)
    const metrics = await (await fetch(`${f.api}/metrics`)).text()
    assert.match(metrics, /edgeproxy_connections_total\{listener="tcp"\} 1000\b/)
    assert.match(metrics, /edgeproxy_backend_connections_active\{backend="a",app="web",region="sa"\} 50\b/)
    for (const c of ok) c.socket.destroy()
    await waitUntil(() => f.a.open === 0 && f.b.open === 0)
    // Every worker's counts came back: the API sees no connection left, and capacity is whole again.
    await until(async () => (await connectionsOf(f)).every((n) => n === 0))
    // Each relayed connection's DEBUG line comes from its worker as it closes, a little after the
    // counts: wait for all 100 before asking which workers they came from.
    const closes = () => f.proxy.events.filter((e) => e.event === 'connection' && (e.backend === 'a' || e.backend === 'b'))
    await waitUntil(() => closes().length >= ok.length, 20_000)
    assert.ok(new Set(closes().map((e) => e.worker)).size === WORKERS, `connections on workers ${[...new Set(closes().map((e) => e.worker))]}`)
  })

  test("a client's binding is the same whichever worker accepts its connection", async (t) => {
    f.db.insert({id: 'a', region: 'sa', port: f.a.port})
    f.db.insert({id: 'b', region: 'sa', port: f.b.port})
    t.after(async () => {
      f.db.delete('a')
      f.db.delete('b')
      await tableEverywhere(f, 0)
    })
    await tableEverywhere(f, 2)
    const before = f.proxy.events.length
    const seen = new Map<string, Set<string>>()
    for (const client of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      const ids = new Set<string>()
      for (let i = 0; i < 12; i++) {
        const c = await greetFrom(f.proxy.tcpPort, client)
        ids.add(c.id)
        c.socket.destroy()
        await closed(c.socket)
      }
      seen.set(client, ids)
    }
    for (const [client, ids] of seen) assert.equal(ids.size, 1, `${client} went to ${[...ids]}`)
    // Without affinity the two equal backends alternate; the clients really met several workers.
    await waitUntil(() => f.proxy.events.slice(before).filter((e) => e.event === 'connection').length >= 36)
    const lines = f.proxy.events.slice(before).filter((e) => e.event === 'connection')
    const workersByClient = new Map<string, Set<unknown>>()
    for (const e of lines) {
      const set = workersByClient.get(String(e.client)) ?? new Set()
      set.add(e.worker)
      workersByClient.set(String(e.client), set)
    }
    assert.ok([...workersByClient.values()].some((s) => s.size > 1), 'some client was accepted by more than one worker')
  })
})

describe(`${WORKERS} workers: the whole-proxy cap`, {skip: SKIP}, () => {
  const f = fixture({EDGEPROXY_MAX_CONNECTIONS: '10'})

  test('EDGEPROXY_MAX_CONNECTIONS=10 holds over every worker: 40 simultaneous connects, 10 open, 30 closed at accept', async () => {
    f.db.insert({id: 'a', region: 'sa', port: f.a.port})
    await tableEverywhere(f, 1)
    const attempts = await Promise.allSettled(Array.from({length: 40}, (_, i) => connectAndGreet(f.proxy.tcpPort, {localAddress: `127.0.4.${i + 1}`})))
    const ok = attempts.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{id: string; socket: net.Socket}>).value)
    assert.equal(ok.length, 10)
    assert.equal(f.a.open, 10)
    assert.equal((await health(f)).connections.refused_max_connections, 30)
    for (const c of ok) c.socket.destroy()
    await waitUntil(() => f.a.open === 0)
    await until(async () => (await health(f)).connections.active === 0)
    // The count came back: ten fit again.
    const again = await Promise.all(Array.from({length: 10}, (_, i) => connectAndGreet(f.proxy.tcpPort, {localAddress: `127.0.5.${i + 1}`})))
    for (const c of again) c.socket.destroy()
  })
})

/** Connects and waits for the greeting; null when the proxy closed the connection first (refused at accept). */
async function tryGreet(port: number, from: string): Promise<net.Socket | null> {
  const socket = net.connect({host: '127.0.0.1', port, localAddress: from, allowHalfOpen: true})
  socket.on('error', () => {})
  try {
    await once(socket, 'connect')
    await readUntil(socket, (text) => text.includes('\n'))
    return socket
  } catch {
    socket.destroy()
    return null
  }
}

async function metricsText(f: Fixture): Promise<string> {
  return (await fetch(`${f.api}/metrics`)).text()
}

// Loopback is exempt by default: these clients are 127.0.0.1 and 127.0.0.2, so only ::1 stays exempt.
describe(`${WORKERS} workers: per-client admission counts every worker's connections`, {skip: SKIP}, () => {
  const f = fixture({EDGEPROXY_MAX_CONNS_PER_IP: '5', EDGEPROXY_RATE_LIMIT_EXEMPT: '::1/128', EDGEPROXY_DEBUG: '1'})

  test('EDGEPROXY_MAX_CONNS_PER_IP=5: 40 simultaneous connects from 127.0.0.1, exactly 5 open over both workers', async () => {
    f.db.insert({id: 'a', region: 'sa', port: f.a.port})
    await tableEverywhere(f, 1)
    const before = f.proxy.events.length
    const attempts = await Promise.all(Array.from({length: 40}, () => tryGreet(f.proxy.tcpPort, '127.0.0.1')))
    const open = attempts.filter((s): s is net.Socket => s !== null)
    assert.equal(open.length, 5)
    assert.equal(f.a.open, 5)
    // Both workers took some of the 40 (the kernel spreads connections by their ports), yet 5 in all.
    await waitUntil(() => f.proxy.events.slice(before).filter((e) => e.event === 'connection').length >= 35)
    const refused = f.proxy.events.slice(before).filter((e) => e.event === 'connection' && e.reason === 'too_many_connections')
    assert.equal(refused.length, 35)
    assert.equal(new Set(f.proxy.events.slice(before).filter((e) => e.event === 'connection').map((e) => e.worker)).size, WORKERS, 'both workers refused some')
    // The API, /health and /metrics read the process's table and counters.
    const limits = (await (await fetch(`${f.api}/api/v1/limits/127.0.0.1`)).json()) as {client: {connections: number; tracked: boolean}}
    assert.deepEqual({connections: limits.client.connections, tracked: limits.client.tracked}, {connections: 5, tracked: true})
    const h = await health(f)
    assert.equal(h.admission.refused_concurrency, 35)
    assert.equal(h.admission.keys, 1)
    const metrics = await metricsText(f)
    assert.match(metrics, /edgeproxy_connection_errors_total\{reason="conn_limit"\} 35\b/)
    assert.match(metrics, /edgeproxy_admission_clients 1\b/)
    // Closing one frees one place, whichever worker takes the next connection.
    open.pop()!.destroy()
    await waitUntil(() => f.a.open === 4)
    await until(async () => ((await (await fetch(`${f.api}/api/v1/limits/127.0.0.1`)).json()) as {client: {connections: number}}).client.connections === 4)
    const again = await Promise.all(Array.from({length: 6}, () => tryGreet(f.proxy.tcpPort, '127.0.0.1')))
    assert.equal(again.filter((s) => s !== null).length, 1)
    for (const s of [...open, ...again]) s?.destroy()
    await waitUntil(() => f.a.open === 0)
    f.db.delete('a')
    await tableEverywhere(f, 0)
  })
})

describe(`${WORKERS} workers: one token bucket per client over every worker`, {skip: SKIP}, () => {
  // One token a minute refills: the burst alone decides, whatever the machine's speed.
  const f = fixture({
    EDGEPROXY_RATE_LIMIT_ENABLED: 'true',
    EDGEPROXY_RATE_LIMIT_MAX_REQUESTS: '1',
    EDGEPROXY_RATE_LIMIT_WINDOW_SECS: '60',
    EDGEPROXY_RATE_LIMIT_BURST: '10',
    EDGEPROXY_RATE_LIMIT_EXEMPT: '::1/128',
    EDGEPROXY_DEBUG: '1',
  })

  test('a burst of 50 simultaneous connects from 127.0.0.2 with burst 10: exactly 10 admitted over both workers', async () => {
    f.db.insert({id: 'a', region: 'sa', port: f.a.port})
    await tableEverywhere(f, 1)
    const before = f.proxy.events.length
    const attempts = await Promise.all(Array.from({length: 50}, () => tryGreet(f.proxy.tcpPort, '127.0.0.2')))
    const admitted = attempts.filter((s) => s !== null)
    assert.equal(admitted.length, 10)
    assert.equal(f.a.accepted, 10, 'refused connections never reached the backend')
    for (const s of admitted) s!.destroy()
    await waitUntil(() => f.proxy.events.slice(before).filter((e) => e.event === 'connection').length >= 50)
    const lines = f.proxy.events.slice(before).filter((e) => e.event === 'connection')
    assert.equal(new Set(lines.map((e) => e.worker)).size, WORKERS, 'both workers took some of the burst')
    assert.equal(lines.filter((e) => e.reason === 'rate_limited').length, 40)
    const h = await health(f)
    assert.equal(h.admission.refused_rate, 40)
    assert.match(await metricsText(f), /edgeproxy_connection_errors_total\{reason="rate_limited"\} 40\b/)
    const limits = (await (await fetch(`${f.api}/api/v1/limits/127.0.0.2`)).json()) as {client: {tokens: number}}
    assert.ok(limits.client.tokens < 1, `tokens ${limits.client.tokens}`)
    // Another client has its own bucket.
    const other = await Promise.all(Array.from({length: 10}, () => tryGreet(f.proxy.tcpPort, '127.0.0.3')))
    assert.equal(other.filter((s) => s !== null).length, 10)
    for (const s of other) s?.destroy()
  })
})

describe(`${WORKERS} workers: more backends than shared slots`, {skip: SKIP}, () => {
  const f = fixture({EDGEPROXY_WORKERS_BACKEND_SLOTS: '16', EDGEPROXY_GEOIP_MAX_AGE_DAYS: '36500'})

  test('EDGEPROXY_WORKERS_BACKEND_SLOTS=16 and 18 backends: the 2 left out are logged, routed by nobody, and /health says so naming the setting', async () => {
    for (let i = 0; i < 18; i++) f.db.insert({id: `n${String(i).padStart(2, '0')}`, region: 'sa', port: f.a.port})
    await tableEverywhere(f, 18)
    const logged = await f.proxy.waitFor('backend_no_slot')
    assert.equal(logged.backends, 2)
    assert.equal(logged.slots, 16)
    assert.match(String(logged.msg), /EDGEPROXY_WORKERS_BACKEND_SLOTS/)
    const h = await health(f)
    assert.equal(h.status, 'degraded')
    assert.ok(h.degraded_reasons.some((r: string) => r.includes('EDGEPROXY_WORKERS_BACKEND_SLOTS')), JSON.stringify(h.degraded_reasons))
    assert.deepEqual({slots: h.workers.backend_slots, unslotted: h.workers.unslotted}, {slots: 16, unslotted: 2})
    assert.equal(h.routable, 16, 'the control plane does not count them routable either')
    // Removing two backends frees their slots after the 5 s quarantine: everyone is routed again, without another table change.
    f.db.delete('n00')
    f.db.delete('n01')
    await tableEverywhere(f, 16)
    await until(async () => (await health(f)).workers.unslotted === 0, 15_000)
    assert.equal((await health(f)).routable, 16)
    assert.equal((await health(f)).status, 'ok')
  })
})

describe(`${WORKERS} workers: drain and crash`, {skip: SKIP}, () => {
  test('SIGTERM drains every worker: one shutdown_started with all open connections, drained and cut summed', async (t) => {
    const backend = await startBackend('a')
    t.after(() => backend.close())
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const dbPath = path.join(tmp.dir, 'routing.db')
    const proxy = await startProxy({
      env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_WORKERS: String(WORKERS), EDGEPROXY_SHUTDOWN_TIMEOUT_SECS: '1', EDGEPROXY_DEBUG: '1'},
    })
    t.after(() => proxy.stop('SIGKILL'))
    const db = new RoutingDb(dbPath)
    t.after(() => db.close())
    db.insert({id: 'a', region: 'sa', port: backend.port})
    const started = await proxy.waitFor('started')
    const f = {proxy, api: `http://${String(started.api)}`} as Fixture
    proxy.child.kill('SIGHUP')
    const reloaded = await proxy.next('reloaded')
    assert.equal(reloaded.workers, WORKERS, 'SIGHUP reaches the workers')
    await waitUntil(() => proxy.events.some((e) => e.event === 'store_reloaded' && e.backends === 1), 10_000)
    await workersCurrent(f)
    const conns = []
    for (let i = 0; i < 10; i++) conns.push(await connectAndGreet(proxy.tcpPort, {localAddress: `127.0.1.${i + 1}`}))
    await waitUntil(() => backend.open === 10)
    proxy.child.kill('SIGTERM')
    const drain = await proxy.waitFor('shutdown_started')
    assert.equal(drain.open, 10)
    assert.equal(drain.workers, WORKERS)
    // Four clients finish during the drain; the other six are cut at the timeout.
    for (const c of conns.slice(0, 4)) c.socket.end()
    const complete = await proxy.waitFor('shutdown_complete', () => true, 15_000)
    assert.deepEqual({drained: complete.drained, cut: complete.cut}, {drained: 4, cut: 6})
    const exit = await proxy.exited
    assert.equal(exit.code, 0)
  })

  test('a worker that crashes is replaced and logged; the other workers keep their connections', async (t) => {
    const backend = await startBackend('a')
    t.after(() => backend.close())
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const dbPath = path.join(tmp.dir, 'routing.db')
    const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_WORKERS: String(WORKERS), EDGEPROXY_TEST_FAULTS: '1', EDGEPROXY_DEBUG: '1'}})
    t.after(() => proxy.stop('SIGKILL'))
    const db = new RoutingDb(dbPath)
    t.after(() => db.close())
    db.insert({id: 'a', region: 'sa', port: backend.port})
    const started = await proxy.waitFor('started')
    const f = {proxy, api: `http://${String(started.api)}`} as Fixture
    await waitUntil(() => proxy.events.some((e) => e.event === 'store_reloaded' && e.backends === 1), 10_000)
    await workersCurrent(f)
    const conns: {socket: net.Socket; isClosed: boolean}[] = []
    for (let i = 0; i < 20; i++) {
      const c = await connectAndGreet(proxy.tcpPort, {localAddress: `127.0.2.${i + 1}`})
      const entry = {socket: c.socket, isClosed: false}
      // closed() reads on and answers the FIN (the client is half-open) so a lost connection shows.
      void closed(c.socket).then(() => (entry.isClosed = true))
      conns.push(entry)
    }
    proxy.child.kill('SIGUSR2')
    const crashed = await proxy.waitFor('worker_crashed')
    assert.equal(crashed.worker, WORKERS - 1)
    await proxy.waitFor('worker_replaced', (e: LogEvent) => e.worker === WORKERS - 1)
    // The crashed worker's clients lost their connections; everyone else's still echo.
    await waitUntil(() => conns.filter((c) => c.isClosed).length === crashed.released, 10_000)
    const alive = conns.filter((c) => !c.isClosed)
    assert.ok(alive.length > 0 && alive.length < 20, `${alive.length} of 20 survived`)
    for (const c of alive) {
      c.socket.write('still here\n')
      await readUntil(c.socket, (text) => text.includes('still here'))
    }
    // The dead worker's counts were given back: the API counts exactly the survivors.
    await until(async () => (await connectionsOf(f))[0] === alive.length)
    const after = await health(f)
    assert.equal(after.workers.replaced, 1)
    assert.equal(after.connections.active, alive.length, 'the lost connections no longer count as open')
    // The replacement takes new connections (the kernel spreads them over both listeners).
    for (let i = 0; i < 10; i++) {
      const c = await connectAndGreet(proxy.tcpPort, {localAddress: `127.0.3.${i + 1}`})
      assert.equal(c.id, 'a')
      c.socket.destroy()
    }
    for (const c of alive) c.socket.destroy()
  })
})

describe(`${WORKERS} workers: start-up`, {skip: SKIP}, () => {
  test('an address in use is refused as with one thread: EP_LISTEN_FAILED naming the setting, exit 3', async (t) => {
    const taken = net.createServer().listen(0, '127.0.0.1')
    await once(taken, 'listening')
    t.after(() => taken.close())
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const port = (taken.address() as net.AddressInfo).port
    const result = await runCli(['start'], {
      env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_LISTEN_ADDR: `127.0.0.1:${port}`, EDGEPROXY_API_LISTEN_ADDR: '127.0.0.1:0', EDGEPROXY_WORKERS: String(WORKERS)},
    })
    assert.equal(result.code, 3, result.stderr)
    assert.match(result.stderr, /Code: EP_LISTEN_FAILED/)
    assert.match(result.stderr, /EDGEPROXY_LISTEN_ADDR/)
  })
})

describe('a Node without reusePort runs one worker', {skip: SKIP === false ? `Node ${NODE} supports several workers (tested above)` : false}, () => {
  test('EDGEPROXY_WORKERS=4 on this Node warns, naming the version, and starts one worker', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_WORKERS: '4'}})
    t.after(() => proxy.stop())
    const warning = await proxy.waitFor('workers_unsupported')
    assert.equal(warning.node, NODE)
    assert.equal(warning.workers, 4)
    const started = await proxy.waitFor('started')
    assert.equal(started.workers, 1)
  })
})
