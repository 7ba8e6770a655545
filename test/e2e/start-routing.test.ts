// End to end: `bin/run.js start` on a temp routing.db routes real TCP connections by the country in
// PROXY headers, keeps affinity, respects hard limits under a burst, fails over, and picks up
// rows written by another process.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {encodeProxyV1, encodeProxyV2} from '../../src/proxy/proxy-protocol.js'
import {closed, closedPort, connectAndGreet, startBackend, waitUntil, type TestBackend} from '../support/backends.js'
import {RoutingDb} from '../support/routing-db.js'
import {startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'

const BR_IP = '200.160.2.3' // registro.br
const FR_IP = '90.0.0.1' // Orange France
const FR_IP6 = '2a01:e0a::1' // Free (France)
const ES_IP = '88.0.0.1' // Telefónica Spain
const UNKNOWN_IP = '192.0.2.55' // TEST-NET-1: no country

const v1 = (ip: string) => encodeProxyV1({address: ip, port: 40000}, {address: ip.includes(':') ? '::1' : '127.0.0.1', port: 8080})
const v2 = (ip: string) => encodeProxyV2({address: ip, port: 40000})

// Call right after the synchronous write, before any await, so the reload cannot be missed.
async function waitForBackends(proxy: ProxyProcess, n: number) {
  await proxy.next('store_reloaded', (e) => e.backends === n)
}

describe('geo routing through PROXY headers', () => {
  const tmp = tempDir()
  let proxy: ProxyProcess
  let db: RoutingDb
  const backends: TestBackend[] = []

  before(async () => {
    for (const id of ['br-1', 'de-1', 'us-1']) backends.push(await startBackend(id))
    proxy = await startProxy({
      env: {
        EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'),
        EDGEPROXY_REGION: 'us',
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_PROXY_PROTOCOL: 'true',
      },
    })
    db = new RoutingDb(path.join(tmp.dir, 'routing.db'))
    db.insert({id: 'br-1', region: 'sa', country: 'BR', port: backends[0].port})
    db.insert({id: 'de-1', region: 'eu', country: 'DE', port: backends[1].port})
    db.insert({id: 'us-1', region: 'us', country: 'US', port: backends[2].port})
    await waitForBackends(proxy, 3)
  })
  after(async () => {
    db?.close()
    await proxy?.stop()
    for (const b of backends) await b.close()
    tmp.cleanup()
  })

  test('a Brazilian client gets the backend in its country (v1 header)', async () => {
    const {socket, id} = await connectAndGreet(proxy.tcpPort, {preamble: v1(BR_IP)})
    socket.destroy()
    assert.equal(id, 'br-1')
  })

  test('a French client gets a backend of its region when none is in France (v2 header)', async () => {
    const {socket, id} = await connectAndGreet(proxy.tcpPort, {preamble: v2(FR_IP)})
    socket.destroy()
    assert.equal(id, 'de-1')
  })

  test('a French IPv6 client is routed by its country too', async () => {
    const {socket, id} = await connectAndGreet(proxy.tcpPort, {preamble: v2(FR_IP6)})
    socket.destroy()
    assert.equal(id, 'de-1')
  })

  test('an address with no country falls to the POP region', async () => {
    const {socket, id} = await connectAndGreet(proxy.tcpPort, {preamble: v1(UNKNOWN_IP)})
    socket.destroy()
    assert.equal(id, 'us-1')
  })

  test('bytes after the PROXY header in the same packet reach the backend', async () => {
    const s = net.connect({port: proxy.tcpPort, host: '127.0.0.1'})
    s.write(Buffer.concat([v1(ES_IP), Buffer.from('ping-in-first-packet')]))
    let text = ''
    await new Promise<void>((resolve, reject) => {
      s.on('data', (c) => {
        text += c
        if (text.includes('ping-in-first-packet')) resolve()
      })
      s.on('error', reject)
    })
    s.destroy()
    assert.equal(text, 'de-1\nping-in-first-packet')
  })

  test('a malformed header closes only that connection, and is counted', async () => {
    const bad = net.connect({port: proxy.tcpPort, host: '127.0.0.1'})
    bad.on('error', () => {})
    bad.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    const result = await closed(bad)
    assert.equal(result.data, '')
    const good = await connectAndGreet(proxy.tcpPort, {preamble: v1(BR_IP)})
    good.socket.destroy()
    assert.equal(good.id, 'br-1')
  })
})

describe('PROXY protocol from an untrusted source', () => {
  test('is refused and counted at shutdown', async (t) => {
    const tmp = tempDir()
    const backend = await startBackend('only')
    const proxy = await startProxy({
      env: {
        EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'),
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_PROXY_PROTOCOL: 'true',
        EDGEPROXY_PROXY_PROTOCOL_TRUSTED: '10.0.0.0/8',
      },
    })
    t.after(async () => {
      await proxy.stop()
      await backend.close()
      tmp.cleanup()
    })
    const db = new RoutingDb(path.join(tmp.dir, 'routing.db'))
    db.insert({id: 'only', region: 'sa', port: backend.port})
    db.close()
    await waitForBackends(proxy, 1)
    const s = net.connect({port: proxy.tcpPort, host: '127.0.0.1'})
    s.on('error', () => {})
    s.write(v1(BR_IP))
    const result = await closed(s)
    assert.equal(result.data, '')
    assert.equal(backend.accepted, 0)
  })
})

describe('selection under load and failure', () => {
  const f = twoBackends({EDGEPROXY_REGION: 'sa'})

  test('a burst of 200 simultaneous connects never exceeds hard_limit', async () => {
    f.db.insert({id: 'a', region: 'sa', port: f.a.port, soft_limit: 10, hard_limit: 50})
    f.db.insert({id: 'b', region: 'sa', port: f.b.port, soft_limit: 10, hard_limit: 50})
    await waitForBackends(f.proxy, 2)
    const attempts = await Promise.allSettled(Array.from({length: 200}, () => connectAndGreet(f.proxy.tcpPort)))
    const ok = attempts.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{id: string; socket: net.Socket}>).value)
    const perBackend = {a: ok.filter((c) => c.id === 'a').length, b: ok.filter((c) => c.id === 'b').length}
    assert.deepEqual(perBackend, {a: 50, b: 50})
    assert.equal(attempts.length - ok.length, 100, 'the other 100 are closed at once')
    assert.ok(f.a.open <= 50 && f.b.open <= 50, `open a=${f.a.open} b=${f.b.open}`)
    await f.proxy.waitFor('no_backend')
    for (const c of ok) c.socket.destroy()
    // Once the connections are gone, capacity is back: counts were released exactly.
    await waitUntil(() => f.a.open === 0 && f.b.open === 0)
    const again = await connectAndGreet(f.proxy.tcpPort)
    again.socket.destroy()
    assert.ok(['a', 'b'].includes(again.id))
    f.db.delete('a')
    f.db.delete('b')
    await waitForBackends(f.proxy, 0)
  })

  test('a refused connect fails over to the next best backend and is avoided afterwards', async () => {
    const dead = await closedPort()
    f.db.insert({id: 'dead', region: 'sa', country: 'BR', port: dead, weight: 10})
    f.db.insert({id: 'b', region: 'us', port: f.b.port})
    await waitForBackends(f.proxy, 2)
    const first = await connectAndGreet(f.proxy.tcpPort, {localAddress: '127.0.0.2'})
    first.socket.destroy()
    assert.equal(first.id, 'b')
    const failed = await f.proxy.waitFor('backend_connect_failed', (e) => e.backend === 'dead')
    assert.equal(failed.error, 'ECONNREFUSED')
    const second = await connectAndGreet(f.proxy.tcpPort, {localAddress: '127.0.0.3'})
    second.socket.destroy()
    assert.equal(second.id, 'b')
    f.db.delete('dead')
    f.db.delete('b')
    await waitForBackends(f.proxy, 0)
  })

  test('with no eligible backend the client is closed at once', async () => {
    const s = net.connect({port: f.proxy.tcpPort, host: '127.0.0.1'})
    s.on('error', () => {})
    const result = await closed(s)
    assert.equal(result.data, '')
  })
})

describe('affinity and external writes', () => {
  const f = twoBackends({EDGEPROXY_PROXY_PROTOCOL: 'true'})

  test("the seeds' sqlite3 INSERT is picked up while running", async () => {
    execFileSync('sqlite3', [
      f.dbPath,
      `INSERT INTO backends (id, app, region, wg_ip, port, healthy, weight, soft_limit, hard_limit) VALUES ('a', 'myapp', 'sa', '127.0.0.1', ${f.a.port}, 1, 2, 100, 150);`,
    ])
    await waitForBackends(f.proxy, 1)
    const c = await connectAndGreet(f.proxy.tcpPort, {preamble: v1(BR_IP)})
    c.socket.destroy()
    assert.equal(c.id, 'a')
  })

  test('a client stays on its backend, and is re-bound when that backend turns unhealthy', async () => {
    f.db.insert({id: 'b', region: 'sa', port: f.b.port})
    await waitForBackends(f.proxy, 2)
    const client = v1('177.10.10.10')
    const first = await connectAndGreet(f.proxy.tcpPort, {preamble: client})
    first.socket.destroy()
    // Equal scores rotate between backends; the binding must win over the rotation.
    for (let i = 0; i < 4; i++) {
      const again = await connectAndGreet(f.proxy.tcpPort, {preamble: client})
      again.socket.destroy()
      assert.equal(again.id, first.id)
    }
    const other = first.id === 'a' ? 'b' : 'a'
    f.db.update(first.id, {healthy: 0})
    await f.proxy.next('store_reloaded')
    const moved = await connectAndGreet(f.proxy.tcpPort, {preamble: client})
    moved.socket.destroy()
    assert.equal(moved.id, other)
    f.db.update(first.id, {healthy: 1})
    await f.proxy.next('store_reloaded')
    const stays = await connectAndGreet(f.proxy.tcpPort, {preamble: client})
    stays.socket.destroy()
    assert.equal(stays.id, other, 'the new binding holds after the old backend recovers')
  })

  test('a deleted backend loses its bindings', async () => {
    const client = v1('177.20.20.20')
    const first = await connectAndGreet(f.proxy.tcpPort, {preamble: client})
    first.socket.destroy()
    f.db.update(first.id, {deleted: 1})
    await f.proxy.next('store_reloaded')
    const moved = await connectAndGreet(f.proxy.tcpPort, {preamble: client})
    moved.socket.destroy()
    assert.notEqual(moved.id, first.id)
  })
})

/** A proxy on a fresh routing.db with two greeting backends, a and b, for one describe block. */
function twoBackends(env: Record<string, string>) {
  const tmp = tempDir()
  const f = {} as {proxy: ProxyProcess; db: RoutingDb; a: TestBackend; b: TestBackend; dbPath: string}
  f.dbPath = path.join(tmp.dir, 'routing.db')
  before(async () => {
    f.a = await startBackend('a')
    f.b = await startBackend('b')
    f.proxy = await startProxy({env: {EDGEPROXY_DB_PATH: f.dbPath, EDGEPROXY_DB_RELOAD_SECS: '0.1', ...env}})
    f.db = new RoutingDb(f.dbPath)
  })
  after(async () => {
    f.db?.close()
    await f.proxy?.stop()
    await f.a?.close()
    await f.b?.close()
    tmp.cleanup()
  })
  return f
}
