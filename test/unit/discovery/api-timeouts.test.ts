// The API's time limits hold as configured: a client that sends its headers or its body slowly is
// cut at the limit (plus at most one check interval), not at Node's 30 s check. Real sockets on an
// ApiServer with short limits; the defaults keep the same check interval relation.
import assert from 'node:assert/strict'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {Router} from '../../../src/balancer/router.js'
import {API_TIMEOUTS, ApiServer} from '../../../src/discovery/api-server.js'
import {BackendService} from '../../../src/discovery/backend-service.js'
import {openGeoResolver} from '../../../src/geo/geo-resolver.js'
import {silentLogger} from '../../../src/log/logger.js'
import {SqliteBackendStore} from '../../../src/store/sqlite-backend-store.js'
import {tempDir} from '../../support/proxy-process.js'

const LIMITS = {headersMs: 300, requestMs: 700, keepAliveMs: 300, checkIntervalMs: 50}
/** Past the limit a cut may come this late on a loaded machine; Node's own 30 s check is far beyond it. */
const LATE_MS = 2000

/** Opens a socket, sends `text`, and resolves with what came back and when the server closed it. */
function slowClient(port: number, text: string): Promise<{reply: string; closedAfterMs: number}> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = net.connect({port, host: '127.0.0.1'}, () => socket.write(text))
    let reply = ''
    socket.on('data', (c: Buffer) => (reply += c))
    socket.on('error', () => {})
    socket.on('close', () => resolve({reply, closedAfterMs: performance.now() - started}))
    setTimeout(() => {
      socket.destroy()
      reject(new Error(`not cut within 10 s; got ${JSON.stringify(reply)}`))
    }, 10_000).unref()
  })
}

describe('API time limits', () => {
  const tmp = tempDir()
  let api: ApiServer
  let store: SqliteBackendStore
  let port: number

  before(async () => {
    store = SqliteBackendStore.open(path.join(tmp.dir, 'routing.db'), {create: true})
    const router = new Router({localRegion: 'sa', bindingTtlMs: 1000, bindingMaxEntries: 10, failureCooldownMs: 1000})
    const service = new BackendService({store, leaseMs: 60_000, view: router})
    api = new ApiServer({
      service,
      router,
      geo: await openGeoResolver(undefined),
      logger: silentLogger,
      version: 'test',
      health: () => ({httpStatus: 200, body: {status: 'ok'}}),
      timeouts: LIMITS,
    })
    port = (await api.listen({host: '127.0.0.1', port: 0})).port
  })
  after(() => {
    api.closeNow()
    store.close()
    tmp.cleanup()
  })

  test('headers sent slowly are cut at the header limit with a 408', async () => {
    const {reply, closedAfterMs} = await slowClient(port, 'GET /health HTTP/1.1\r\nHost: x\r\n')
    assert.match(reply, /^HTTP\/1\.1 408/)
    assert.ok(closedAfterMs >= LIMITS.headersMs - 20 && closedAfterMs < LIMITS.headersMs + LATE_MS, `cut after ${Math.round(closedAfterMs)} ms`)
  })

  test('a body sent slowly is cut at the request limit with a 408, and nothing is stored', async () => {
    const head = 'POST /api/v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"id":"slow",'
    const {reply, closedAfterMs} = await slowClient(port, head)
    assert.match(reply, /^HTTP\/1\.1 408/)
    assert.ok(closedAfterMs >= LIMITS.requestMs - 20 && closedAfterMs < LIMITS.requestMs + LATE_MS, `cut after ${Math.round(closedAfterMs)} ms`)
    assert.deepEqual(await store.list(), [])
  })

  test('the defaults: 5 s for headers, 10 s for the request, checked every 250 ms (not Node\'s 30 s)', () => {
    assert.deepEqual(API_TIMEOUTS, {headersMs: 5000, requestMs: 10_000, keepAliveMs: 5000, checkIntervalMs: 250})
  })
})
