// End to end: what a hostile or broken client can send the Auto-Discovery API of `bin/run.js start`.
// Raw sockets for request targets (absolute and authority forms, *, //, bad percent-encoding) and
// slow or idle clients; a corpus of bodies (malformed JSON, wrong types, huge numbers, NUL, unicode,
// __proto__, duplicate keys, 10 MB, unfinished chunked). Every reply is a 4xx (never a 500), the
// proxy stays alive, the table is unchanged, and malformed targets are logged once per 10 s.
import assert from 'node:assert/strict'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {RoutingDb} from '../support/routing-db.js'
import {startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'

interface RawReply {
  status: number
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
  text: string
}

/** Sends `request` as is on a fresh connection and reads the reply until the server closes. */
function raw(port: number, request: string | Buffer, options: {endAfterWrite?: boolean} = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({port, host: '127.0.0.1'}, () => {
      socket.write(request)
      if (options.endAfterWrite) socket.end()
    })
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (c: string) => (text += c))
    socket.on('error', () => {})
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
      const bodyText = text.slice(text.indexOf('\r\n\r\n') + 4)
      let body: unknown
      try {
        body = JSON.parse(bodyText)
      } catch {
        body = undefined
      }
      resolve({status, body, text})
    })
    setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(String(request).slice(0, 80))}`)), 15_000).unref()
  })
}

const get = (target: string, headers = '') => `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`
const post = (target: string, body: string | Buffer, contentType = 'application/json') =>
  Buffer.concat([Buffer.from(`POST ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`), Buffer.from(body)])

const VALID = {id: 'h-1', app: 'web', region: 'sa', ip: '10.0.0.1', port: 9000}
const fields = (over: Record<string, unknown>) => JSON.stringify({...VALID, ...over})

describe('the API under hostile input', () => {
  const tmp = tempDir()
  const dbPath = path.join(tmp.dir, 'routing.db')
  let proxy: ProxyProcess
  let port: number
  let db: RoutingDb
  const table = () => db.db.prepare('SELECT * FROM backends ORDER BY id').all()

  before(async () => {
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_DB_RELOAD_SECS: '60'}})
    const started = await proxy.waitFor('started')
    port = Number(String(started.api).split(':').pop())
    db = new RoutingDb(dbPath)
    db.insert({id: 'keep', region: 'sa', port: 9000})
  })
  after(async () => {
    db?.close()
    await proxy?.stop()
    tmp.cleanup()
  })

  test('malformed request targets are 400 (not 500), logged once per 10 s with a count', async () => {
    const before = table()
    const mark = proxy.events.length
    const cases: [string, string][] = [
      ['GET http://a:99999/api/v1/backends HTTP/1.1', 'invalid_request_target'],
      ['GET http://127.0.0.1/api/v1/backends HTTP/1.1', 'invalid_request_target'],
      ['DELETE http://127.0.0.1/api/v1/backends/keep HTTP/1.1', 'invalid_request_target'],
      ['OPTIONS * HTTP/1.1', 'invalid_request_target'],
      ['GET //api/v1/backends HTTP/1.1', 'invalid_request_target'],
      ['GET //evil.example/health HTTP/1.1', 'invalid_request_target'],
      ['GET /api/v1/backends/%zz HTTP/1.1', 'invalid_field'],
      ['GET /api/v1/backends/%E0%A4%A HTTP/1.1', 'invalid_field'],
      ['GET /api/v1/backends/%2e%2E HTTP/1.1', 'invalid_field'],
      ['DELETE /api/v1/backends/.. HTTP/1.1', 'invalid_field'],
      ['POST /api/v1/backends/./drain HTTP/1.1', 'invalid_field'],
      ['GET /api/v1/route?ip=1.1.1.1&bogus=1 HTTP/1.1', 'unknown_field'],
      ['GET /api/v1/backends?app=a&app=b HTTP/1.1', 'invalid_field'],
      ['GET /api/v1/backends?stat=healthy HTTP/1.1', 'unknown_field'],
    ]
    for (const [line, code] of cases) {
      const r = await raw(port, `${line}\r\nHost: x\r\nConnection: close\r\n\r\n`)
      assert.equal(r.status, 400, `${line}: ${r.text}`)
      assert.equal(r.body?.error?.code, code, line)
    }
    for (const _ of Array.from({length: 20})) assert.equal((await raw(port, get('http://a:99999/api/v1/backends'))).status, 400)
    // A query the endpoints do not know by heart is still harmless: bad percent-encoding in a value is data.
    assert.equal((await raw(port, get('/api/v1/backends?app=%zz'))).status, 200)
    // CONNECT is not something the API serves: the connection is closed, nothing breaks.
    const connect = await raw(port, 'CONNECT a:99999 HTTP/1.1\r\nHost: a:99999\r\n\r\n')
    assert.notEqual(connect.status, 500)
    assert.deepEqual(table(), before)
    assert.equal((await raw(port, get('/health'))).status, 200)
    const logged = proxy.events.slice(mark).filter((e) => e.event === 'api_bad_request_target')
    assert.equal(logged.length, 1, 'one line for 26 malformed targets within 10 s')
    assert.equal(proxy.events.slice(mark).filter((e) => e.event === 'api_internal_error').length, 0)
  })

  test('a corpus of hostile bodies: every one a 4xx naming the problem, nothing stored, the API alive', async () => {
    const before = table()
    const corpus: [string, string | Buffer, number, string, string?][] = [
      ['truncated', '{"id": "h-1", "app": ', 400, 'invalid_json'],
      ['not JSON', "{'id': 'h-1'}", 400, 'invalid_json'],
      ['a lone NUL', '\u0000', 400, 'invalid_json'],
      ['raw NUL in a string', '{"id": "h\u0000-1"}', 400, 'invalid_json'],
      ['escaped NUL in the id', fields({id: 'h\u0000-1'}), 400, 'invalid_field', 'id'],
      ['escaped NUL in the app', fields({app: 'web\u0000'}), 400, 'invalid_field', 'app'],
      ['a number as id', fields({id: 1}), 400, 'invalid_field', 'id'],
      ['an object as port', fields({port: {n: 1}}), 400, 'invalid_field', 'port'],
      ['a string port', fields({port: '9000'}), 400, 'invalid_field', 'port'],
      ['a boolean region', fields({region: true}), 400, 'invalid_field', 'region'],
      ['an array as app', fields({app: ['web']}), 400, 'invalid_field', 'app'],
      ['1e400 as port', fields({}).replace('"port":9000', '"port":1e400'), 400, 'invalid_field', 'port'],
      ['a weight beyond 2^64', fields({}).replace('"port":9000', '"port":9000,"weight":123456789012345678901234567890'), 400, 'invalid_field', 'weight'],
      ['a negative zero-ish soft limit', fields({soft_limit: -1e-300}), 400, 'invalid_field', 'soft_limit'],
      ['unicode look-alike id', fields({id: 'ｈ-1'}), 400, 'invalid_field', 'id'],
      ['right-to-left override in the id', fields({id: 'h\u202e1'}), 400, 'invalid_field', 'id'],
      ['an emoji app', fields({app: '🚀'}), 400, 'invalid_field', 'app'],
      ['lone surrogate', '{"id": "\\ud800", "app": "web", "region": "sa", "ip": "10.0.0.1", "port": 9000}', 400, 'invalid_field', 'id'],
      ['__proto__', '{"__proto__": {"id": "polluted"}, "id": "h-1", "app": "web", "region": "sa", "ip": "10.0.0.1", "port": 9000}', 400, 'unknown_field', '__proto__'],
      ['constructor', fields({constructor: {prototype: {}}}), 400, 'unknown_field', 'constructor'],
      ['duplicate key', '{"id": "h-1", "app": "web", "region": "sa", "ip": "10.0.0.1", "port": 9000, "port": 9001}', 400, 'duplicate_key', 'port'],
      ['duplicate key spelled with an escape', '{"id": "h-1", "\\u0069d": "h-2", "app": "web", "region": "sa", "ip": "10.0.0.1", "port": 9000}', 400, 'duplicate_key', 'id'],
      ['duplicate key in a nested object', '{"id": "h-1", "app": {"a": 1, "a": 2}}', 400, 'duplicate_key', 'a'],
      ['deep nesting', '['.repeat(30_000) + ']'.repeat(30_000), 400, 'invalid_body'],
      ['unterminated deep nesting', '{"a":'.repeat(10_000), 400, 'invalid_json'],
      ['a long key', `{"${'k'.repeat(60_000)}": 1}`, 400, 'unknown_field'],
      ['text/plain', fields({}), 415, 'unsupported_media_type'],
    ]
    for (const [name, body, status, code, field] of corpus) {
      const r = await raw(port, post('/api/v1/register', body, name === 'text/plain' ? 'text/plain' : 'application/json'))
      assert.equal(r.status, status, `${name}: ${r.text.slice(0, 300)}`)
      assert.equal(r.body?.error?.code, code, name)
      if (field !== undefined) assert.equal(r.body?.error?.field, field, name)
    }
    // 10 MB announced: refused at once from the header, before the body is read.
    const huge = await raw(port, `POST /api/v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n${'{"id":'.padEnd(1024, ' ')}`)
    assert.deepEqual([huge.status, huge.body?.error?.code], [413, 'payload_too_large'])
    const weight = await raw(port, Buffer.from(post('/api/v1/backends/keep/weight', '{"weight": 1, "weight": 1e400}').toString().replace('POST', 'PUT')))
    assert.deepEqual([weight.status, weight.body?.error?.code], [400, 'duplicate_key'])
    // An unfinished chunked body, then the client goes away.
    const unfinished = await raw(
      port,
      'POST /api/v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"id":"h-1","ap',
      {endAfterWrite: true},
    )
    assert.notEqual(unfinished.status, 500)
    assert.deepEqual(table(), before, 'nothing stored')
    const health = await raw(port, get('/health'))
    assert.equal(health.status, 200)
    assert.equal(health.body.store.writes, 0)
    assert.equal(proxy.events.filter((e) => e.event === 'api_internal_error').length, 0)
  })

  test('a client that sends headers slowly is cut at 5 s; 500 idle or slow connections never delay a normal request', async () => {
    const started = performance.now()
    const slow = new Promise<{reply: string; afterMs: number}>((resolve) => {
      const s = net.connect({port, host: '127.0.0.1'}, () => s.write('GET /health HTTP/1.1\r\nHost: x\r\n'))
      let reply = ''
      s.setEncoding('latin1')
      s.on('data', (c: string) => (reply += c))
      s.on('error', () => {})
      s.on('close', () => resolve({reply, afterMs: performance.now() - started}))
    })
    const idle: net.Socket[] = []
    const ready: Promise<void>[] = []
    for (let i = 0; i < 500; i++) {
      const s = net.connect({port, host: '127.0.0.1'})
      s.on('error', () => {})
      // Half of them send part of a request, the other half nothing; each is ready once connected
      // and (for the first half) its partial headers are written.
      ready.push(
        new Promise((resolve) => s.once('connect', () => (i % 2 === 0 ? resolve() : s.write('POST /api/v1/register HTTP/1.1\r\nHost: x\r\n', () => resolve())))),
      )
      idle.push(s)
    }
    try {
      await Promise.all(ready)
      const t0 = performance.now()
      const r = await raw(port, get('/api/v1/backends'))
      const took = performance.now() - t0
      assert.equal(r.status, 200)
      // Far below the 5 s a request stuck behind the slow ones would wait; 2 s leaves room for a busy machine.
      assert.ok(took < 2000, `a normal request took ${Math.round(took)} ms beside 500 idle connections`)
      const cut = await slow
      assert.match(cut.reply, /^HTTP\/1\.1 408/)
      // The limit is 5 s, checked every 250 ms; the upper bound allows for a loaded machine's event loop
      // and still tells it from Node's 30 s default interval.
      assert.ok(cut.afterMs > 4500 && cut.afterMs < 10_000, `slow headers cut after ${Math.round(cut.afterMs)} ms (limit 5 s)`)
    } finally {
      for (const s of idle) s.destroy()
    }
  })
})
