// End to end: `bin/run.js start` with per-client admission, the global connection cap and the idle
// timeout, against real clients on distinct loopback addresses (every 127/8 address is loopback), and
// IPv6 clients of one /64 inside a network namespace the test makes (root only).
import assert from 'node:assert/strict'
import {execFileSync, spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import net from 'node:net'
import path from 'node:path'
import {describe, test, type TestContext} from 'node:test'

import {closed, readUntil, startBackend, waitUntil, type TestBackend} from '../support/backends.js'
import {RoutingDb} from '../support/routing-db.js'
import {cleanEnv, ProxyProcess, startArgs, startProxy, tempDir, TUNING_ENV} from '../support/proxy-process.js'

interface Attempt {
  socket: net.Socket
  /** Resolves with the greeting (the backend id), or null when the proxy closed the connection first. */
  greeting: Promise<string | null>
}

function attempt(port: number, localAddress: string): Attempt {
  const socket = net.connect({host: '127.0.0.1', port, localAddress, allowHalfOpen: true})
  socket.on('error', () => {})
  const greeting = readUntil(socket, (t) => t.includes('\n'), 10_000).then(
    (text) => text.trim(),
    () => null,
  )
  return {socket, greeting}
}

async function withProxy(t: TestContext, env: Record<string, string>, backendIds = ['a']): Promise<{proxy: ProxyProcess; api: string; backends: TestBackend[]}> {
  const tmp = tempDir()
  t.after(tmp.cleanup)
  const backends: TestBackend[] = []
  for (const id of backendIds) backends.push(await startBackend(id))
  t.after(async () => {
    for (const b of backends) await b.close()
  })
  const dbPath = path.join(tmp.dir, 'routing.db')
  const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_DB_RELOAD_SECS: '0.1', ...env}})
  t.after(() => proxy.stop())
  const db = new RoutingDb(dbPath)
  for (const b of backends) db.insert({id: b.id, region: 'sa', port: b.port, hard_limit: 0})
  db.close()
  await proxy.waitFor('store_reloaded', (e) => e.backends === backends.length)
  return {proxy, api: `http://${String(proxy.events.find((e) => e.event === 'started')!.api)}`, backends}
}

const getJson = async <T>(url: string): Promise<T> => (await (await fetch(url)).json()) as T

describe('per-client admission at accept', () => {
  test('a burst of 50 from 127.0.0.2 with burst 10: exactly 10 admitted, nothing dialled for the rest; 127.0.0.3 unaffected', async (t) => {
    // One connection a minute refills: the burst alone decides, whatever the machine's speed.
    const {proxy, api, backends} = await withProxy(t, {
      EDGEPROXY_RATE_LIMIT_ENABLED: 'true',
      EDGEPROXY_RATE_LIMIT_MAX_REQUESTS: '1',
      EDGEPROXY_RATE_LIMIT_WINDOW_SECS: '60',
      EDGEPROXY_RATE_LIMIT_BURST: '10',
    })
    const burst = Array.from({length: 50}, () => attempt(proxy.tcpPort, '127.0.0.2'))
    const greetings = await Promise.all(burst.map((a) => a.greeting))
    for (const a of burst) a.socket.destroy()
    assert.equal(greetings.filter((g) => g === 'a').length, 10)
    assert.equal(greetings.filter((g) => g === null).length, 40)
    const other = Array.from({length: 10}, () => attempt(proxy.tcpPort, '127.0.0.3'))
    assert.deepEqual(await Promise.all(other.map((a) => a.greeting)), new Array(10).fill('a'))
    for (const a of other) a.socket.destroy()
    assert.equal(backends[0].accepted, 20, 'refused connections never reached the backend')

    const logged = await proxy.waitFor('client_rate_limited')
    assert.equal(logged.key, '127.0.0.2')
    assert.ok(proxy.events.filter((e) => e.event === 'client_rate_limited').length <= 2, 'sampled: at most one line a second')
    const limits = await getJson<{client: {key: string; tokens: number; burst: number}}>(`${api}/api/v1/limits/127.0.0.2`)
    assert.equal(limits.client.key, '127.0.0.2')
    assert.ok(limits.client.tokens < 1)
    const health = await getJson<{admission: {refused_rate: number}}>(`${api}/health`)
    assert.equal(health.admission.refused_rate, 40)
  })

  test('MAX_CONNS_PER_IP=2: the third concurrent connection is closed, a slot frees on close; the exempt list is not limited', async (t) => {
    const {proxy, api} = await withProxy(t, {EDGEPROXY_MAX_CONNS_PER_IP: '2', EDGEPROXY_RATE_LIMIT_EXEMPT: '127.0.0.1/32,127.0.0.5/32'})
    const one = attempt(proxy.tcpPort, '127.0.0.4')
    const two = attempt(proxy.tcpPort, '127.0.0.4')
    assert.deepEqual(await Promise.all([one.greeting, two.greeting]), ['a', 'a'])
    const three = attempt(proxy.tcpPort, '127.0.0.4')
    assert.equal(await three.greeting, null)
    const limits = await getJson<{client: {connections: number; max_connections: number}}>(`${api}/api/v1/limits/127.0.0.4`)
    assert.deepEqual([limits.client.connections, limits.client.max_connections], [2, 2])
    one.socket.end()
    await closed(one.socket)
    let four: Attempt
    const deadline = Date.now() + 5000
    // The proxy frees the slot when it sees the close; retry until it has.
    for (;;) {
      four = attempt(proxy.tcpPort, '127.0.0.4')
      if ((await four.greeting) === 'a') break
      assert.ok(Date.now() < deadline, 'a slot frees when a connection closes')
    }
    const exempt = Array.from({length: 6}, () => attempt(proxy.tcpPort, '127.0.0.5'))
    assert.deepEqual(await Promise.all(exempt.map((a) => a.greeting)), new Array(6).fill('a'))
    assert.equal((await getJson<{client: {exempt: boolean}}>(`${api}/api/v1/limits/127.0.0.5`)).client.exempt, true)
    for (const a of [two, four, ...exempt]) a.socket.destroy()
    const logged = await proxy.waitFor('client_too_many_connections')
    assert.equal(logged.key, '127.0.0.4')
  })

  test('dry run: nothing is refused, what would be is counted and logged', async (t) => {
    const {proxy, api} = await withProxy(t, {EDGEPROXY_MAX_CONNS_PER_IP: '1', EDGEPROXY_RATE_LIMIT_DRY_RUN: 'true'})
    const all = Array.from({length: 4}, () => attempt(proxy.tcpPort, '127.0.0.6'))
    assert.deepEqual(await Promise.all(all.map((a) => a.greeting)), ['a', 'a', 'a', 'a'])
    for (const a of all) a.socket.destroy()
    const logged = await proxy.waitFor('client_too_many_connections')
    assert.equal(logged.dry_run, true)
    const health = await getJson<{admission: {dry_run_would_refuse: number; refused_concurrency: number}}>(`${api}/health`)
    assert.deepEqual([health.admission.dry_run_would_refuse, health.admission.refused_concurrency], [3, 0])
  })

  test('EDGEPROXY_MAX_CONNECTIONS caps the whole proxy at accept', async (t) => {
    const {proxy, api} = await withProxy(t, {EDGEPROXY_MAX_CONNECTIONS: '3'})
    const open = Array.from({length: 3}, (_, i) => attempt(proxy.tcpPort, `127.0.0.${10 + i}`))
    assert.deepEqual(await Promise.all(open.map((a) => a.greeting)), ['a', 'a', 'a'])
    const over = attempt(proxy.tcpPort, '127.0.0.20')
    assert.equal(await over.greeting, null)
    const health = await getJson<{admission: {refused_max_connections: number}; connections: {active: number}}>(`${api}/health`)
    assert.equal(health.admission.refused_max_connections, 1)
    assert.equal(health.connections.active, 3)
    await proxy.waitFor('max_connections_reached')
    for (const a of open) a.socket.destroy()
  })
})

describe('idle timeout', () => {
  test('silent clients are closed after EDGEPROXY_IDLE_TIMEOUT_SECS and free their backend slots; bytes either way keep a connection open', async (t) => {
    // A backend that, for clients that ask, sends a byte every 100 ms on its own (bytes to the client only).
    const ticking = net.createServer((s) => {
      s.on('error', () => {})
      s.write('t\n')
      const timer = setInterval(() => s.write('.'), 100)
      s.on('close', () => clearInterval(timer))
    })
    ticking.listen(0, '127.0.0.1')
    await once(ticking, 'listening')
    t.after(() => ticking.close())
    const {proxy, api, backends} = await withProxy(t, {EDGEPROXY_IDLE_TIMEOUT_SECS: '0.5'}, ['a'])
    const startedAt = Date.now()
    const silent = Array.from({length: 50}, (_, i) => attempt(proxy.tcpPort, `127.0.1.${i + 1}`))
    assert.ok((await Promise.all(silent.map((a) => a.greeting))).every((g) => g === 'a'))
    // One client talks every 100 ms (bytes from the client; the echo brings them back).
    const talker = attempt(proxy.tcpPort, '127.0.2.1')
    await talker.greeting
    const talk = setInterval(() => talker.socket.write('x'), 100)
    t.after(() => clearInterval(talk))
    assert.equal(backends[0].open, 51)
    const closedAt = await Promise.all(silent.map((a) => closed(a.socket).then(() => Date.now() - startedAt)))
    // Their last byte (the greeting) came after startedAt, so none may close sooner than the timeout;
    // all close within 1.2 timeouts of it (the sweep runs every tenth), plus a busy machine's delays.
    assert.ok(Math.min(...closedAt) >= 500, `one closed ${Math.min(...closedAt)} ms after it connected: before the timeout`)
    assert.ok(Math.max(...closedAt) <= 500 * 1.2 + 1000, `the last closed ${Math.max(...closedAt)} ms after connecting (timeout 500 ms)`)
    t.diagnostic(`50 silent clients closed ${Math.min(...closedAt)}-${Math.max(...closedAt)} ms after connecting (idle timeout 500 ms)`)
    await waitUntil(() => backends[0].open === 1)
    assert.equal(talker.socket.destroyed, false, 'the talking client is still connected')
    const health = await getJson<{connections: {idle_timeouts: number; active: number}}>(`${api}/health`)
    assert.equal(health.connections.idle_timeouts, 50)
    assert.equal(health.connections.active, 1)
    // Bytes from the backend only also count as activity: route a client to the ticking backend.
    const db = new RoutingDb(path.join(String(proxy.events.find((e) => e.event === 'started')!.store).replace(/^sqlite:/, '')))
    db.update('a', {port: (ticking.address() as net.AddressInfo).port})
    db.close()
    await proxy.next('store_reloaded')
    const listener = attempt(proxy.tcpPort, '127.0.2.2')
    assert.equal(await listener.greeting, 't')
    await new Promise((r) => setTimeout(r, 1200))
    assert.equal(listener.socket.destroyed, false, 'a client that only receives bytes is not idle')
    clearInterval(talk)
    talker.socket.destroy()
    listener.socket.destroy()
  })
})

describe('IPv6 clients of one /64 share a key (network namespace)', () => {
  test('fd00::1 and fd00::2 count as one client; fd00:0:0:1::1 is another', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to create a network namespace (ip netns add)')
    if (spawnSync('ip', ['netns', 'list']).status !== 0) return t.skip('the ip command (iproute2) with netns support is not available')
    const ns = `edgeproxy-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
    execFileSync('ip', ['netns', 'add', ns])
    const children: ChildProcess[] = []
    t.after(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
      spawnSync('ip', ['netns', 'del', ns])
    })
    const inNs = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args])
    inNs('link', 'set', 'lo', 'up')
    for (const address of ['fd00::1/64', 'fd00::2/64', 'fd00:0:0:1::1/64']) inNs('addr', 'add', address, 'dev', 'lo', 'nodad')

    const tmp = tempDir()
    t.after(tmp.cleanup)
    // The backend, inside the namespace: greets with its id.
    const backend = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', "const s = require('node:net').createServer((c) => { c.on('error', () => {}); c.write('v6\\n') }); s.listen(0, '::1', () => console.log(s.address().port))"], {stdio: ['ignore', 'pipe', 'inherit']})
    children.push(backend)
    const backendPort = Number(((await once(backend.stdout!, 'data')) as [Buffer])[0].toString().trim())
    const dbPath = path.join(tmp.dir, 'routing.db')
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...startArgs()], {
      env: cleanEnv({
        ...TUNING_ENV,
        EDGEPROXY_LISTEN_ADDR: '[::]:0',
        EDGEPROXY_API_LISTEN_ADDR: '127.0.0.1:0',
        EDGEPROXY_LOG_FORMAT: 'json',
        EDGEPROXY_DB_PATH: dbPath,
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_MAX_CONNS_PER_IP: '1',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    const proxy = new ProxyProcess(child)
    const started = await proxy.waitFor('started', () => true, 15_000)
    const port = Number(String(started.listen).split(':').at(-1))
    const db = new RoutingDb(dbPath)
    db.insert({id: 'v6', region: 'sa', wg_ip: '::1', port: backendPort})
    db.close()
    await proxy.waitFor('store_reloaded', (e) => e.backends === 1)

    // The clients, inside the namespace too: each connects from its address, all held open together.
    const clients = `
      const net = require('node:net')
      const port = Number(process.argv[1])
      const tryFrom = (localAddress) => new Promise((resolve) => {
        const s = net.connect({host: 'fd00::1', port, localAddress})
        let text = ''
        s.on('data', (d) => { text += d; if (text.includes('\\n')) resolve(text.trim()) })
        s.on('error', () => resolve(null))
        s.on('close', () => resolve(text.includes('\\n') ? text.trim() : null))
      })
      ;(async () => {
        const results = {}
        for (const a of ['fd00::1', 'fd00::2', 'fd00:0:0:1::1']) results[a] = await tryFrom(a)
        console.log(JSON.stringify(results))
        process.exit(0)
      })()`
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', clients, String(port)], {timeout: 15_000}).toString()
    assert.deepEqual(JSON.parse(out), {'fd00::1': 'v6', 'fd00::2': null, 'fd00:0:0:1::1': 'v6'})
    const refused = await proxy.waitFor('client_too_many_connections')
    assert.equal(refused.key, 'fd00:0:0:0::/64')
    assert.equal(refused.client, 'fd00::2')
    await proxy.stop()
  })
})
