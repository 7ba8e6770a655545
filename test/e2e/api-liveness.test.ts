// Liveness through the Auto-Discovery API of `bin/run.js start`, with real TCP backends: a write is
// routable at once on the POP that took it (no reload), a backend without heartbeats expires after
// the TTL and new connections go elsewhere (or are closed), a late heartbeat revives it at once,
// drain keeps open connections; and under 500 parallel requests no row is lost and the store sees
// only the coalesced writes.
import assert from 'node:assert/strict'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {Pool, request} from 'undici'

import {SqliteRoutingStore} from '../../src/store/sqlite-store.js'
import {closed, connectAndGreet, readUntil, startBackend, waitUntil, type TestBackend} from '../support/backends.js'
import {RoutingDb} from '../support/routing-db.js'
import {startProxy, tempDir, type LogEvent, type ProxyProcess} from '../support/proxy-process.js'

interface Reply {
  status: number
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
}

function apiBase(started: LogEvent): string {
  const text = String(started.api)
  return `http://127.0.0.1:${Number(text.slice(text.lastIndexOf(':') + 1))}`
}

async function call(base: string, method: string, urlPath: string, json?: unknown): Promise<Reply> {
  const res = await request(`${base}${urlPath}`, {
    method: method as 'GET',
    headers: json === undefined ? {} : {'content-type': 'application/json'},
    body: json === undefined ? undefined : JSON.stringify(json),
  })
  return {status: res.statusCode, body: await res.body.json()}
}

async function poolCall(pool: Pool, method: string, urlPath: string, json?: unknown): Promise<Reply> {
  const res = await pool.request({
    path: urlPath,
    method: method as 'GET',
    headers: json === undefined ? {} : {'content-type': 'application/json'},
    body: json === undefined ? undefined : JSON.stringify(json),
  })
  return {status: res.statusCode, body: await res.body.json()}
}

/** Bounded poll of an API read (expiry is a matter of the clock: no event announces it). */
async function pollUntil(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const register = (id: string, port: number, over: Record<string, unknown> = {}) => ({id, app: 'web', region: 'sa', ip: '127.0.0.1', port, ...over})

/** Creates the routing store (with its table) before the proxy starts, so rows can be seeded. */
function createStore(file: string): void {
  SqliteRoutingStore.open(file, {create: true}).close()
}

describe('expiry and revival with a 1-second TTL (reload every 60 s)', () => {
  const tmp = tempDir()
  const dbPath = path.join(tmp.dir, 'routing.db')
  let proxy: ProxyProcess
  let base: string
  let live: TestBackend
  let fallback: TestBackend
  let client = 1
  /** A new client address each time (127/8 is loopback), so affinity never hides a routing change. */
  const nextClient = () => `127.0.0.${++client}`
  const stateOf = async (id: string) => (await call(base, 'GET', `/api/v1/backends/${id}`)).body.backend.state as string

  before(async () => {
    live = await startBackend('live')
    fallback = await startBackend('fallback')
    createStore(dbPath)
    // The seeds' way: a row inserted by SQL, with no lease, in a region the POP prefers less.
    const db = new RoutingDb(dbPath)
    db.insert({id: 'fallback', region: 'eu', country: 'DE', port: fallback.port})
    db.close()
    proxy = await startProxy({
      env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_REGION: 'sa', EDGEPROXY_HEARTBEAT_TTL_SECS: '1', EDGEPROXY_DB_RELOAD_SECS: '60'},
    })
    base = apiBase(await proxy.waitFor('started'))
  })
  after(async () => {
    await proxy?.stop()
    await live?.close()
    await fallback?.close()
    tmp.cleanup()
  })

  test('before any registration, connections go to the SQL-inserted backend', async () => {
    const {socket, id} = await connectAndGreet(proxy.tcpPort, {localAddress: nextClient()})
    socket.destroy()
    assert.equal(id, 'fallback')
  })

  test('a registration is routable at once, without waiting for a reload', async () => {
    const reply = await call(base, 'POST', '/api/v1/register', register('live', live.port))
    assert.equal(reply.status, 201)
    assert.equal(reply.body.lease_secs, 1)
    const {socket, id} = await connectAndGreet(proxy.tcpPort, {localAddress: '127.0.0.200'})
    socket.destroy()
    assert.equal(id, 'live')
    assert.equal(live.accepted, 1)
    assert.equal(proxy.events.filter((e) => e.event === 'store_reloaded').length, 0, 'the table was not reloaded')
  })

  test('after the TTL without a heartbeat it lists as expired and new connections go elsewhere', async () => {
    await pollUntil(async () => (await stateOf('live')) === 'expired')
    const expired = await call(base, 'GET', '/api/v1/backends?state=expired')
    assert.deepEqual((expired.body.backends as {id: string}[]).map((b) => b.id), ['live'])
    // A new client, and the client bound to it: both get the other backend.
    for (const localAddress of [nextClient(), '127.0.0.200']) {
      const {socket, id} = await connectAndGreet(proxy.tcpPort, {localAddress})
      socket.destroy()
      assert.equal(id, 'fallback', `client ${localAddress}`)
    }
    assert.equal(live.accepted, 1)
    const route = await call(base, 'GET', '/api/v1/route?ip=192.0.2.1')
    const candidate = (route.body.candidates as {id: string; skipped: string | null}[]).find((c) => c.id === 'live')
    assert.equal(candidate?.skipped, 'expired')
    assert.equal(route.body.chosen, 'fallback')
    // The row inserted by SQL has no lease and never expires.
    const seed = (await call(base, 'GET', '/api/v1/backends/fallback')).body.backend
    assert.deepEqual({state: seed.state, lease: seed.lease_expires_at}, {state: 'healthy', lease: null})
  })

  test('a late heartbeat revives it, routable again at once', async () => {
    const beat = await call(base, 'POST', '/api/v1/heartbeat/live')
    assert.equal(beat.status, 200)
    assert.equal(beat.body.stored, true)
    assert.equal(beat.body.backend.state, 'healthy')
    const {socket, id} = await connectAndGreet(proxy.tcpPort, {localAddress: nextClient()})
    socket.destroy()
    assert.equal(id, 'live')
    assert.equal(live.accepted, 2)
  })

  test('drain: the open connection lives on, new ones go elsewhere; enable brings it back', async () => {
    assert.equal((await call(base, 'POST', '/api/v1/heartbeat/live')).status, 200)
    const open = await connectAndGreet(proxy.tcpPort, {localAddress: nextClient()})
    assert.equal(open.id, 'live')
    const drained = await call(base, 'POST', '/api/v1/backends/live/drain')
    assert.equal(drained.body.backend.state, 'draining')
    const other = await connectAndGreet(proxy.tcpPort, {localAddress: nextClient()})
    other.socket.destroy()
    assert.equal(other.id, 'fallback')
    open.socket.write('still-here')
    assert.equal(await readUntil(open.socket, (t) => t.includes('still-here')), 'still-here')
    open.socket.destroy()
    await call(base, 'POST', '/api/v1/backends/live/enable')
    assert.equal((await call(base, 'POST', '/api/v1/heartbeat/live')).status, 200)
    const back = await connectAndGreet(proxy.tcpPort, {localAddress: nextClient()})
    back.socket.destroy()
    assert.equal(back.id, 'live')
  })

  test('with nothing else routable, a connection to an expired backend is closed without data', async () => {
    assert.equal((await call(base, 'POST', '/api/v1/backends/fallback/disable')).status, 200)
    await pollUntil(async () => (await stateOf('live')) === 'expired')
    const before = live.accepted + fallback.accepted
    const socket = net.connect({host: '127.0.0.1', port: proxy.tcpPort, localAddress: nextClient()})
    socket.on('error', () => {})
    assert.deepEqual(await closed(socket), {data: ''})
    assert.equal(live.accepted + fallback.accepted, before)
    // And the late heartbeat still revives it.
    assert.equal((await call(base, 'POST', '/api/v1/heartbeat/live')).body.stored, true)
    const {socket: s, id} = await connectAndGreet(proxy.tcpPort, {localAddress: nextClient()})
    s.destroy()
    assert.equal(id, 'live')
  })
})

describe('a second POP on the same store judges expiry from the stored lease', () => {
  const tmp = tempDir()
  const dbPath = path.join(tmp.dir, 'routing.db')
  let writer: ProxyProcess
  let reader: ProxyProcess
  let writerBase: string
  let readerBase: string
  let live: TestBackend
  let fallback: TestBackend
  let client = 100
  const nextClient = () => `127.0.0.${++client}`
  const pick = async (proxy: ProxyProcess) => {
    const {socket, id} = await connectAndGreet(proxy.tcpPort, {localAddress: nextClient()})
    socket.destroy()
    return id
  }

  before(async () => {
    live = await startBackend('live')
    fallback = await startBackend('fallback')
    createStore(dbPath)
    const db = new RoutingDb(dbPath)
    db.insert({id: 'fallback', region: 'eu', country: 'DE', port: fallback.port})
    db.close()
    const env = {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_REGION: 'sa'}
    writer = await startProxy({env: {...env, EDGEPROXY_HEARTBEAT_TTL_SECS: '1', EDGEPROXY_DB_RELOAD_SECS: '60'}})
    // The reader's own TTL is long: it must go by the lease stored with the row, not by its setting.
    reader = await startProxy({env: {...env, EDGEPROXY_HEARTBEAT_TTL_SECS: '600', EDGEPROXY_DB_RELOAD_SECS: '0.1'}})
    writerBase = apiBase(await writer.waitFor('started'))
    readerBase = apiBase(await reader.waitFor('started'))
  })
  after(async () => {
    await writer?.stop()
    await reader?.stop()
    await live?.close()
    await fallback?.close()
    tmp.cleanup()
  })

  test('the lease written through one POP expires and revives on the other, which writes nothing', async () => {
    let reloaded = reader.next('store_reloaded', (e) => e.backends === 2)
    assert.equal((await call(writerBase, 'POST', '/api/v1/register', register('live', live.port))).status, 201)
    await reloaded
    assert.equal(await pick(reader), 'live')

    await pollUntil(async () => (await call(readerBase, 'GET', '/api/v1/backends/live')).body.backend.state === 'expired')
    assert.equal(await pick(reader), 'fallback')

    reloaded = reader.next('store_reloaded')
    const beat = await call(writerBase, 'POST', '/api/v1/heartbeat/live')
    assert.equal(beat.body.stored, true)
    await reloaded
    assert.equal(await pick(reader), 'live')
    assert.equal((await call(readerBase, 'GET', '/health')).body.store.writes, 0)
    assert.equal((await call(writerBase, 'GET', '/health')).body.store.writes, 2)
  })
})

describe('500 parallel register and heartbeat requests', () => {
  const tmp = tempDir()
  const dbPath = path.join(tmp.dir, 'routing.db')
  let proxy: ProxyProcess
  let base: string
  let pool: Pool
  const ids = Array.from({length: 100}, (_, i) => `par-${String(i).padStart(3, '0')}`)
  const writes = async () => (await call(base, 'GET', '/health')).body.store.writes as number

  before(async () => {
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_HEARTBEAT_TTL_SECS: '60', EDGEPROXY_DB_RELOAD_SECS: '0.2'}})
    base = apiBase(await proxy.waitFor('started'))
    pool = new Pool(base, {connections: 256})
  })
  after(async () => {
    await pool?.close()
    await proxy?.stop()
    tmp.cleanup()
  })

  test('100 registers and 400 heartbeats at once: exactly 100 rows, and only the 100 register writes', async () => {
    // Interleaved: each id's register goes out before its heartbeats, but all 500 are in flight together.
    const requests: Promise<{kind: 'register' | 'heartbeat'; reply: Reply}>[] = []
    for (let round = 0; round < 5; round++) {
      for (const [i, id] of ids.entries()) {
        if (round === 0) {
          requests.push(poolCall(pool, 'POST', '/api/v1/register', register(id, 10_000 + i)).then((reply) => ({kind: 'register', reply})))
        } else {
          requests.push(poolCall(pool, 'POST', `/api/v1/heartbeat/${id}`).then((reply) => ({kind: 'heartbeat', reply})))
        }
      }
    }
    assert.equal(requests.length, 500)
    const results = await Promise.all(requests)
    const registers = results.filter((r) => r.kind === 'register')
    const heartbeats = results.filter((r) => r.kind === 'heartbeat')
    assert.deepEqual(registers.map((r) => r.reply.status), Array(100).fill(201))
    // A heartbeat that overtook its register finds no backend (404); the rest are coalesced.
    for (const {reply} of heartbeats) {
      assert.ok(reply.status === 200 || reply.status === 404, `heartbeat answered ${reply.status}: ${JSON.stringify(reply.body)}`)
      if (reply.status === 200) assert.equal(reply.body.stored, false)
    }

    const db = new RoutingDb(dbPath)
    try {
      assert.equal(db.count(), 100)
      const stored = db.db.prepare('SELECT id, port FROM backends ORDER BY id').all() as {id: string; port: number}[]
      assert.deepEqual(stored, ids.map((id, i) => ({id, port: 10_000 + i})))
    } finally {
      db.close()
    }
    assert.equal(await writes(), 100)

    // Once every backend exists, 400 more concurrent heartbeats all succeed and write nothing.
    const again = await Promise.all(ids.flatMap((id) => Array.from({length: 4}, () => poolCall(pool, 'POST', `/api/v1/heartbeat/${id}`))))
    assert.deepEqual([...new Set(again.map((r) => r.status))], [200])
    assert.equal(again.filter((r) => r.body.stored).length, 0)
    assert.equal(await writes(), 100)
    const health = (await call(base, 'GET', '/health')).body
    assert.equal(health.backends, 100)
    assert.equal(health.routable, 100)
  })
})

describe('a burst of heartbeats when a renewal is due', () => {
  const TTL_SECS = 6
  const tmp = tempDir()
  let proxy: ProxyProcess
  let base: string
  let pool: Pool

  before(async () => {
    proxy = await startProxy({
      env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_HEARTBEAT_TTL_SECS: String(TTL_SECS)},
    })
    base = apiBase(await proxy.waitFor('started'))
    pool = new Pool(base, {connections: 128})
  })
  after(async () => {
    await pool?.close()
    await proxy?.stop()
    tmp.cleanup()
  })

  test('500 heartbeats for one backend make exactly one write', async () => {
    const registered = await call(base, 'POST', '/api/v1/register', register('burst-1', 9000))
    assert.equal(registered.status, 201)
    const leaseMs = Date.parse(registered.body.backend.lease_expires_at)
    // A renewal is due once less than 2/3 of the TTL is left; wait for that moment (the proxy runs
    // on this machine's clock), then send the whole burst well inside the next third.
    const dueAtMs = leaseMs - (TTL_SECS * 1000 * 2) / 3
    const early = await call(base, 'POST', '/api/v1/heartbeat/burst-1')
    assert.equal(early.body.stored, false)
    await waitUntil(() => Date.now() > dueAtMs + 20, TTL_SECS * 1000)
    const writesBefore = (await call(base, 'GET', '/health')).body.store.writes as number
    assert.equal(writesBefore, 1)

    const started = Date.now()
    const burst = await Promise.all(Array.from({length: 500}, () => poolCall(pool, 'POST', '/api/v1/heartbeat/burst-1')))
    const tookMs = Date.now() - started
    assert.ok(tookMs < (TTL_SECS * 1000) / 3, `the burst took ${tookMs} ms, longer than a third of the TTL`)
    assert.deepEqual([...new Set(burst.map((r) => r.status))], [200])
    const stored = burst.filter((r) => r.body.stored)
    assert.equal(stored.length, 1)
    assert.equal((await call(base, 'GET', '/health')).body.store.writes, writesBefore + 1)
    const renewedLease = Date.parse(stored[0].body.backend.lease_expires_at)
    assert.ok(renewedLease > leaseMs, 'the lease moved forward')
    const after = (await call(base, 'GET', '/api/v1/backends/burst-1')).body.backend
    assert.equal(after.lease_expires_at, stored[0].body.backend.lease_expires_at)
  })
})
