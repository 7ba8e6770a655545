// End to end: what happens on one connection through `bin/run.js start`: half-closes both ways,
// backpressure from a slow reader, IPv6 from listener to backend, and the EDGEPROXY_DEBUG connection line.
import assert from 'node:assert/strict'
import {once} from 'node:events'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {encodeProxyV2} from '../../src/proxy/proxy-protocol.js'
import {readUntil, startBackend, waitUntil, type TestBackend} from '../support/backends.js'
import {RoutingDb} from '../support/routing-db.js'
import {startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'

describe('one connection', () => {
  const tmp = tempDir()
  let proxy: ProxyProcess
  let db: RoutingDb
  const servers: net.Server[] = []

  /** A backend with custom behaviour, registered as the only row. */
  async function useBackend(id: string, onConnection: (socket: net.Socket) => void): Promise<void> {
    const server = net.createServer({allowHalfOpen: true}, onConnection)
    servers.push(server)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    db.db.prepare('DELETE FROM backends').run()
    db.insert({id, region: 'sa', port: (server.address() as net.AddressInfo).port})
    await proxy.next('store_reloaded', (e) => e.backends === 1)
  }

  before(async () => {
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_DB_RELOAD_SECS: '0.1', EDGEPROXY_DEBUG: '1'}})
    db = new RoutingDb(path.join(tmp.dir, 'routing.db'))
  })
  after(async () => {
    db?.close()
    await proxy?.stop()
    for (const s of servers) s.close()
    tmp.cleanup()
  })

  test('client half-close: the backend sees EOF and can still answer', async () => {
    await useBackend('answers-after-eof', (socket) => {
      let received = ''
      socket.on('data', (c) => (received += c))
      socket.on('end', () => socket.end(`got ${received.length} bytes`))
    })
    const client = net.connect({port: proxy.tcpPort, host: '127.0.0.1', allowHalfOpen: true})
    await once(client, 'connect')
    client.end('x'.repeat(100_000))
    let reply = ''
    client.on('data', (c) => (reply += c))
    await once(client, 'end')
    assert.equal(reply, 'got 100000 bytes')
  })

  test('a client that closes before the backend connect completes is passed on and finished (no leak)', async () => {
    // What a health checker does (anycast watch's listener probe): connect, then close at once.
    const open = new Set<net.Socket>()
    let sawEof = 0
    await useBackend('probed', (socket) => {
      open.add(socket)
      socket.on('end', () => {
        sawEof++
        socket.end()
      })
      socket.on('close', () => open.delete(socket))
    })
    for (let i = 0; i < 5; i++) {
      const client = net.connect({port: proxy.tcpPort, host: '127.0.0.1'})
      await once(client, 'connect')
      client.destroy()
    }
    await waitUntil(() => sawEof === 5 && open.size === 0, 5000)
    const health = (await (await fetch(`http://${String(proxy.events.find((e) => e.event === 'started')!.api)}/health`)).json()) as {connections: {active: number}}
    assert.equal(health.connections.active, 0, 'the proxy holds no connection either')
  })

  test('backend half-close: the client sees EOF and can still send', async () => {
    let lateData = ''
    let resolveEof!: () => void
    const backendGotEof = new Promise<void>((resolve) => (resolveEof = resolve))
    await useBackend('closes-first', (socket) => {
      socket.end('bye')
      socket.on('data', (c) => (lateData += c))
      socket.on('end', () => resolveEof())
    })
    const client = net.connect({port: proxy.tcpPort, host: '127.0.0.1', allowHalfOpen: true})
    let reply = ''
    client.on('data', (c) => (reply += c))
    await once(client, 'end')
    assert.equal(reply, 'bye')
    client.end('still talking')
    await backendGotEof
    assert.equal(lateData, 'still talking')
  })

  test('a slow reader does not make the proxy buffer without bound, and loses nothing', async () => {
    const total = 256 * 1024 * 1024
    let flushed = 0
    let finished = false
    await useBackend('firehose', (socket) => {
      const chunk = Buffer.alloc(64 * 1024, 7)
      let sent = 0
      const pump = () => {
        while (sent < total) {
          sent += chunk.length
          const more = socket.write(chunk, () => (flushed += chunk.length))
          if (!more) return
        }
        socket.end(() => (finished = true))
      }
      socket.on('drain', pump)
      pump()
    })
    const client = net.connect({port: proxy.tcpPort, host: '127.0.0.1'})
    client.pause()
    await once(client, 'connect')
    // Wait for the backend to stall: nothing more flushed for 20 consecutive 10 ms polls.
    let last = -1
    let stable = 0
    await waitUntil(() => {
      stable = flushed === last ? stable + 1 : 0
      last = flushed
      return stable >= 20 && flushed > 0
    }, 20_000)
    assert.ok(!finished, 'the backend must be held back')
    assert.ok(flushed < 48 * 1024 * 1024, `backend flushed ${flushed} bytes into a paused client: the proxy buffered too much`)
    let received = 0
    client.on('data', (c: Buffer) => (received += c.length))
    client.resume()
    await once(client, 'end')
    assert.equal(received, total)
  })

  test('EDGEPROXY_DEBUG=1 logs one line per connection with client, backend, bytes each way, duration and reason', async () => {
    await useBackend('debug-target', (socket) => {
      socket.on('data', () => {})
      socket.on('end', () => socket.end('0123456789'))
    })
    const client = net.connect({port: proxy.tcpPort, host: '127.0.0.1', localAddress: '127.0.0.9'})
    const line = proxy.next('connection', (e) => e.client === '127.0.0.9')
    await once(client, 'connect')
    client.end('abc')
    client.resume()
    await once(client, 'close')
    const event = await line
    assert.equal(event.level, 'debug')
    assert.equal(event.backend, 'debug-target')
    assert.equal(event.country, null)
    assert.equal(event.bytes_in, 3)
    assert.equal(event.bytes_out, 10)
    assert.equal(typeof event.duration_ms, 'number')
    assert.equal(typeof event.reason, 'string')
  })
})

describe('IPv6 throughout', () => {
  let backend: TestBackend
  let proxy: ProxyProcess
  const tmp = tempDir()

  before(async () => {
    backend = await startBackend('v6-backend', {host: '::1'})
    proxy = await startProxy({
      env: {
        EDGEPROXY_LISTEN_ADDR: '[::]:0',
        EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'),
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_PROXY_PROTOCOL: 'true',
      },
    })
    const db = new RoutingDb(path.join(tmp.dir, 'routing.db'))
    db.insert({id: 'v6-backend', region: 'eu', country: 'FR', wg_ip: '::1', port: backend.port})
    db.insert({id: 'v4-local', region: 'sa', wg_ip: '127.0.0.1', port: 9})
    db.close()
    await proxy.next('store_reloaded', (e) => e.backends === 2)
  })
  after(async () => {
    await proxy?.stop()
    await backend?.close()
    tmp.cleanup()
  })

  test('an IPv6 client with a French IPv6 PROXY address reaches an IPv6 backend', async () => {
    const client = net.connect({port: proxy.tcpPort, host: '::1'})
    await once(client, 'connect')
    client.write(encodeProxyV2({address: '2a01:e0a::1', port: 5000}, {address: '::1', port: 8080}))
    const text = await readUntil(client, (t) => t.includes('\n'))
    client.destroy()
    assert.equal(text, 'v6-backend\n')
  })

  test('the dual-stack listener also takes IPv4 clients', async () => {
    const client = net.connect({port: proxy.tcpPort, host: '127.0.0.1'})
    await once(client, 'connect')
    client.write(encodeProxyV2({address: '90.0.0.1', port: 5000}))
    const text = await readUntil(client, (t) => t.includes('\n'))
    client.destroy()
    assert.equal(text, 'v6-backend\n')
  })
})
