// The probes against real sockets: a listener that accepts, a port nobody listens on, and an HTTP
// server playing /health in each state the proxy can be in (ok, degraded, draining, down, no
// backend, hung, not JSON).
import assert from 'node:assert/strict'
import {once} from 'node:events'
import http from 'node:http'
import net from 'node:net'
import {describe, test} from 'node:test'

import {healthProbes, probeOnce, tcpProbe} from '../../../src/anycast/probes.js'

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as net.AddressInfo).port
}

async function closedPort(): Promise<number> {
  const server = net.createServer()
  const port = await listen(server)
  await new Promise<void>((r) => server.close(() => r()))
  return port
}

/** An HTTP server whose /health answer the test sets. */
async function healthServer(t: {after: (fn: () => Promise<void> | void) => void}) {
  let answer: {status: number; body: string} | 'hang' = {status: 200, body: '{}'}
  const hung: http.ServerResponse[] = []
  const server = http.createServer((req, res) => {
    if (answer === 'hang') {
      hung.push(res)
      return
    }
    res.writeHead(answer.status, {'content-type': 'application/json'})
    res.end(answer.body)
  })
  const port = await listen(server)
  t.after(async () => {
    for (const r of hung) r.destroy()
    server.closeAllConnections()
    await new Promise<void>((r) => server.close(() => r()))
  })
  return {
    url: `http://127.0.0.1:${port}/health`,
    set(status: number, body: unknown) {
      answer = {status, body: typeof body === 'string' ? body : JSON.stringify(body)}
    },
    hang() {
      answer = 'hang'
    },
  }
}

describe('anycast probes', () => {
  test('TCP: a listening port connects, a closed one is refused', async (t) => {
    const server = net.createServer((s) => s.destroy())
    const port = await listen(server)
    t.after(() => server.close())
    const ok = await tcpProbe({host: '127.0.0.1', port}, 500)
    assert.equal(ok.isOk, true)
    assert.equal(ok.target, `127.0.0.1:${port}`)
    const refused = await tcpProbe({host: '127.0.0.1', port: await closedPort()}, 500)
    assert.equal(refused.isOk, false)
    assert.equal(refused.detail, 'ECONNREFUSED')
  })

  test('/health: ok and degraded announce, draining, down and error statuses do not', async (t) => {
    const h = await healthServer(t)
    const cases: Array<[number, unknown, boolean, RegExp]> = [
      [200, {status: 'ok', routable: 2}, true, /status ok/],
      [200, {status: 'degraded', routable: 1, degraded_reasons: ['store: not current']}, true, /status degraded/],
      [503, {status: 'draining', routable: 2}, false, /status draining \(HTTP 503\)/],
      [200, {status: 'draining', routable: 2}, false, /status draining/],
      [503, {status: 'down', routable: 0}, false, /status down/],
      [500, {error: {code: 'internal'}}, false, /HTTP 500 without a status field/],
      [200, 'not json', false, /without a status field/],
    ]
    for (const [code, body, isOk, detail] of cases) {
      h.set(code, body)
      const [health] = await healthProbes(h.url, 500)
      assert.equal(health.isOk, isOk, `${code} ${JSON.stringify(body)}`)
      assert.match(health.detail, detail)
    }
  })

  test('/health: at least one routable backend', async (t) => {
    const h = await healthServer(t)
    h.set(200, {status: 'ok', routable: 0})
    const [health, backends] = await healthProbes(h.url, 500)
    assert.equal(health.isOk, true)
    assert.equal(backends.isOk, false)
    assert.equal(backends.detail, 'no routable backend')
    h.set(200, {status: 'ok'})
    assert.equal((await healthProbes(h.url, 500))[1].detail, 'no routable count in /health')
    h.set(200, {status: 'ok', routable: 3})
    assert.equal((await healthProbes(h.url, 500))[1].detail, '3 routable')
  })

  test('a hung API fails within the timeout', async (t) => {
    const h = await healthServer(t)
    h.hang()
    const started = Date.now()
    const [health, backends] = await healthProbes(h.url, 200)
    const elapsed = Date.now() - started
    assert.equal(health.isOk, false)
    assert.match(health.detail, /no answer within 200 ms/)
    assert.equal(backends.isOk, false)
    assert.ok(elapsed >= 190 && elapsed < 1500, `took ${elapsed} ms`)
  })

  test('a round is ok only when every probe is, and names the first failure', async (t) => {
    const h = await healthServer(t)
    h.set(200, {status: 'ok', routable: 1})
    const server = net.createServer((s) => s.destroy())
    const port = await listen(server)
    t.after(() => server.close())
    const good = await probeOnce({targets: [{host: '127.0.0.1', port}], healthUrl: h.url, timeoutMs: 500})
    assert.equal(good.isOk, true)
    assert.deepEqual(good.probes.map((p) => p.kind), ['listener', 'health', 'backends'])
    const closed = await closedPort()
    const bad = await probeOnce({targets: [{host: '127.0.0.1', port}, {host: '127.0.0.1', port: closed}], healthUrl: h.url, timeoutMs: 500})
    assert.equal(bad.isOk, false)
    assert.equal(bad.reason, `listener 127.0.0.1:${closed}: ECONNREFUSED`)
  })
})
