// End to end: start-up validation, TLS termination and certificate renewal, graceful drain on
// SIGTERM, and a routing store that goes missing, locked or corrupt while the proxy runs.
import assert from 'node:assert/strict'
import crypto, {X509Certificate} from 'node:crypto'
import {once} from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {describe, test, type TestContext} from 'node:test'
import tls from 'node:tls'

import Database from 'better-sqlite3'

import {backendsTableDdl} from '../../src/store/schema.js'
import {closed, connectAndGreet, readUntil, startBackend, waitUntil} from '../support/backends.js'
import {RoutingDb} from '../support/routing-db.js'
import {ROOT, runCli, startProxy, tempDir} from '../support/proxy-process.js'

const FIXTURES = path.join(ROOT, 'test/fixtures/tls')
const fingerprint = (name: string) => new X509Certificate(fs.readFileSync(path.join(FIXTURES, `${name}.crt`))).fingerprint256

describe('start-up validation', () => {
  const cases: {name: string; env?: Record<string, string>; args?: string[]; names: string[]}[] = [
    {name: 'a listen port out of range', args: ['--listen', '0.0.0.0:70000'], names: ['--listen', '70000']},
    {name: 'a listen port out of range in the env', env: {EDGEPROXY_LISTEN_ADDR: '127.0.0.1:70000'}, names: ['EDGEPROXY_LISTEN_ADDR', '70000']},
    {name: 'a reload interval that is not a number', env: {EDGEPROXY_DB_RELOAD_SECS: 'abc'}, names: ['EDGEPROXY_DB_RELOAD_SECS', 'abc']},
    {
      name: 'a missing certificate file',
      env: {EDGEPROXY_TLS_ENABLED: 'true', EDGEPROXY_TLS_CERT: '/nonexistent/cert.pem', EDGEPROXY_TLS_KEY: path.join(FIXTURES, 'a.key')},
      names: ['EDGEPROXY_TLS_CERT', '/nonexistent/cert.pem'],
    },
    {
      name: 'a certificate that does not match its key',
      env: {EDGEPROXY_TLS_ENABLED: 'true', EDGEPROXY_TLS_CERT: path.join(FIXTURES, 'a.crt'), EDGEPROXY_TLS_KEY: path.join(FIXTURES, 'b.key')},
      names: ['a.crt', 'b.key'],
    },
    {name: 'an unknown region', env: {EDGEPROXY_REGION: 'mars'}, names: ['EDGEPROXY_REGION', 'mars']},
    {name: 'a bad boolean', env: {EDGEPROXY_PROXY_PROTOCOL: 'maybe'}, names: ['EDGEPROXY_PROXY_PROTOCOL', 'maybe']},
    {name: 'a bad CIDR', args: ['--proxy-protocol-trusted', '10.0.0.0/99'], names: ['--proxy-protocol-trusted', '10.0.0.0/99']},
    // Above the range: 100000000 s used to reach a Node timer as 1 ms, and every connect failed.
    {name: 'a connect timeout above its maximum', args: ['--connect-timeout-secs', '100000000'], names: ['--connect-timeout-secs', '100000000', 'at most 300']},
    {name: 'a shutdown timeout above its maximum', env: {EDGEPROXY_SHUTDOWN_TIMEOUT_SECS: '2147484'}, names: ['EDGEPROXY_SHUTDOWN_TIMEOUT_SECS', '2147484', 'at most 86400']},
    {name: 'a binding count above its maximum', args: ['--binding-max-entries', '99999999999'], names: ['--binding-max-entries', '99999999999', 'at most 10000000']},
  ]
  for (const c of cases) {
    test(`${c.name} stops start-up with exit 3 and names the setting and value`, async () => {
      const tmp = tempDir()
      try {
        const result = await runCli(['start', ...(c.args ?? [])], {
          cwd: tmp.dir,
          env: {EDGEPROXY_LISTEN_ADDR: '127.0.0.1:0', ...c.env},
        })
        assert.equal(result.code, 3, result.stderr)
        const first = result.stderr.split('\n')[0]
        for (const n of c.names) assert.ok(first.includes(n), `"${first}" should name ${n}`)
        assert.match(result.stderr, /Code: EP_CONFIG_INVALID/)
        assert.ok(!fs.existsSync(path.join(tmp.dir, 'routing.db')), 'nothing is created before validation passes')
      } finally {
        tmp.cleanup()
      }
    })
  }

  test('a start that fails after validation (address in use, not local, bad certificate) exits 3 and creates nothing', async (t) => {
    const blocker = net.createServer().listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    t.after(() => blocker.close())
    const busy = `127.0.0.1:${(blocker.address() as net.AddressInfo).port}`
    const failures: {name: string; args: string[]; env?: Record<string, string>; says: RegExp; code: string}[] = [
      {name: 'proxy address in use', args: ['--listen', busy], says: new RegExp(`${busy.replace(/\./g, '\\.')} is already in use`), code: 'EP_LISTEN_FAILED'},
      // The API listens last, after the store is open and the proxy listeners are bound.
      {name: 'API address in use', args: ['--listen', '127.0.0.1:0', '--api-listen', busy], says: /is already in use/, code: 'EP_LISTEN_FAILED'},
      {name: 'not a local address', args: ['--listen', '192.0.2.77:0'], says: /192\.0\.2\.77:0 is not an address of this host/, code: 'EP_LISTEN_FAILED'},
      {
        name: 'a certificate that does not match its key',
        args: ['--listen', '127.0.0.1:0', '--tls', '--tls-listen', '127.0.0.1:0', '--tls-cert', path.join(FIXTURES, 'a.crt'), '--tls-key', path.join(FIXTURES, 'b.key')],
        says: /a\.crt/,
        code: 'EP_CONFIG_INVALID',
      },
    ]
    await Promise.all(
      failures.map(async (f) => {
        const tmp = tempDir()
        try {
          const result = await runCli(['start', ...f.args], {cwd: tmp.dir, env: {EDGEPROXY_API_LISTEN_ADDR: '127.0.0.1:0'}})
          assert.equal(result.code, 3, `${f.name}: ${result.stderr}`)
          assert.match(result.stderr, f.says, f.name)
          assert.match(result.stderr, new RegExp(`Code: ${f.code}`), f.name)
          assert.match(result.stderr, /Try this: /, f.name)
          assert.deepEqual(fs.readdirSync(tmp.dir), [], `${f.name}: nothing left behind (no routing.db)`)
        } finally {
          tmp.cleanup()
        }
      }),
    )
  })

  test('with --log-format json a failed start is one JSON line: code, message, suggestion, exit', async (t) => {
    const blocker = net.createServer().listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    t.after(() => blocker.close())
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const busy = `127.0.0.1:${(blocker.address() as net.AddressInfo).port}`
    const [listen, config, usage] = await Promise.all([
      runCli(['start', '--log-format', 'json', '--listen', busy, '--api-listen', '127.0.0.1:0'], {cwd: tmp.dir}),
      runCli(['start', '--connect-timeout-secs', '100000000'], {cwd: tmp.dir, env: {EDGEPROXY_LOG_FORMAT: 'json'}}),
      runCli(['start', '--log-format=json', '--no-such-flag'], {cwd: tmp.dir}),
    ])
    for (const [result, code, exit] of [[listen, 'EP_LISTEN_FAILED', 3], [config, 'EP_CONFIG_INVALID', 3], [usage, 'EP_USAGE', 2]] as const) {
      assert.equal(result.code, exit, result.stderr)
      // Every line is JSON (a warning such as workers_unsupported may come first); the failure is one of them.
      const lines = result.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      const failed = lines.filter((l) => l.event === 'start_failed')
      assert.equal(failed.length, 1, `one start_failed line: ${result.stderr}`)
      const line = failed[0]!
      assert.deepEqual([line.level, line.event, line.code, line.exit], ['error', 'start_failed', code, exit])
      assert.equal(typeof line.message, 'string')
      assert.equal(typeof line.ts, 'string')
      if (code !== 'EP_USAGE') assert.equal(typeof line.suggestion, 'string')
    }
    assert.match(config.stderr, /100000000.*at most 300/)
    assert.deepEqual(fs.readdirSync(tmp.dir), [])
  })
})

describe('TLS termination', () => {
  /** A proxy terminating TLS with certificate a, routing to one echo backend, cleaned up after the test. */
  async function tlsProxy(t: TestContext, reloadSecs = '0.1') {
    const tmp = tempDir()
    const backend = await startBackend('tls-backend')
    const cert = path.join(tmp.dir, 'cert.pem')
    const key = path.join(tmp.dir, 'key.pem')
    fs.copyFileSync(path.join(FIXTURES, 'a.crt'), cert)
    fs.copyFileSync(path.join(FIXTURES, 'a.key'), key)
    const proxy = await startProxy({
      env: {
        EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'),
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_TLS_ENABLED: 'true',
        EDGEPROXY_TLS_LISTEN_ADDR: '127.0.0.1:0',
        EDGEPROXY_TLS_CERT: cert,
        EDGEPROXY_TLS_KEY: key,
        EDGEPROXY_TLS_RELOAD_SECS: reloadSecs,
      },
    })
    t.after(async () => {
      await proxy.stop()
      await backend.close()
      tmp.cleanup()
    })
    const db = new RoutingDb(path.join(tmp.dir, 'routing.db'))
    db.insert({id: 'tls-backend', region: 'sa', port: backend.port})
    db.close()
    await proxy.next('store_reloaded', (e) => e.backends === 1)
    const connect = async () => {
      const socket = tls.connect({port: proxy.tlsPort, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost'})
      await once(socket, 'secureConnect')
      return socket
    }
    return {proxy, backend, cert, key, connect}
  }

  test('routes the plaintext and serves a renewed certificate without a restart', async (t) => {
    const {proxy, cert, key, connect} = await tlsProxy(t)
    const talk = async () => {
      const socket = await connect()
      const served = socket.getPeerX509Certificate()!.fingerprint256
      socket.write('hello over tls')
      const text = await readUntil(socket, (t) => t.includes('hello over tls'))
      socket.destroy()
      return {served, text}
    }
    const before = await talk()
    assert.equal(before.served, fingerprint('a'))
    assert.equal(before.text, 'tls-backend\nhello over tls')

    // Renew in place the way certbot does: new files renamed over the old ones.
    fs.copyFileSync(path.join(FIXTURES, 'b.key'), key + '.new')
    fs.copyFileSync(path.join(FIXTURES, 'b.crt'), cert + '.new')
    const reloaded = proxy.next('tls_certificate_reloaded')
    fs.renameSync(key + '.new', key)
    fs.renameSync(cert + '.new', cert)
    assert.equal((await reloaded).subject, 'edge-b.test')
    const renewed = await talk()
    assert.equal(renewed.served, fingerprint('b'))
    assert.equal(renewed.text, 'tls-backend\nhello over tls')
  })

  test('SIGHUP re-reads the certificate at once and logs whether it changed, with the store rows', async (t) => {
    // The watcher would look only after an hour: what changes here is SIGHUP's doing.
    const {proxy, cert, key, connect} = await tlsProxy(t, '3600')
    const hup = async () => {
      const reloaded = proxy.next('reloaded')
      proxy.child.kill('SIGHUP')
      return reloaded
    }
    const quiet = await hup()
    assert.deepEqual([quiet.certificate, quiet.store, quiet.backends], ['unchanged', 'unchanged', 1])
    fs.copyFileSync(path.join(FIXTURES, 'b.key'), key + '.new')
    fs.copyFileSync(path.join(FIXTURES, 'b.crt'), cert + '.new')
    fs.renameSync(key + '.new', key)
    fs.renameSync(cert + '.new', cert)
    assert.equal((await hup()).certificate, 'changed')
    const socket = await connect()
    assert.equal(socket.getPeerX509Certificate()!.fingerprint256, fingerprint('b'))
    socket.destroy()
  })

  test('bulk data both ways through a client that stops reading arrives intact', async (t) => {
    const {backend, connect} = await tlsProxy(t)
    const socket = await connect()
    const greeting = Buffer.from('tls-backend\n')
    // 256 MB, far beyond what loopback TCP buffers can hold along the way (tcp_rmem allows 32 MB per
    // socket here): one random megabyte written 256 times, hashed as it goes and as it comes back.
    const block = crypto.randomBytes(1024 * 1024)
    const blocks = 256
    const expected = crypto.createHash('sha256').update(greeting)
    // Upload everything while not reading: the echo fills the TLS side, the relay must pause the
    // backend, the backend stops reading, and the upload stalls until the client reads again.
    socket.pause()
    for (let i = 0; i < blocks; i++) {
      socket.write(block)
      expected.update(block)
    }
    socket.end()
    // The echo backend stalls: it has read the same amount for 20 polls in a row, and far less than
    // was sent (what loopback buffers hold on the way back is about 72 MB). A proxy that buffered
    // without bound would let the backend read all 256 MB.
    let last = -1
    let stable = 0
    await waitUntil(() => {
      stable = backend.received === last ? stable + 1 : 0
      last = backend.received
      return stable >= 20 && last > 0
    }, 20_000)
    assert.ok(backend.received < 128 * 1024 * 1024, `the backend read ${backend.received} bytes with the client not reading: the proxy buffered too much`)
    const actual = crypto.createHash('sha256')
    let head = Buffer.alloc(0)
    let received = 0
    socket.on('data', (c: Buffer) => {
      if (head.length < greeting.length) head = Buffer.concat([head, c.subarray(0, greeting.length - head.length)])
      received += c.length
      actual.update(c)
    })
    socket.resume()
    await once(socket, 'end')
    assert.equal(received, greeting.length + blocks * block.length)
    assert.ok(head.equals(greeting))
    assert.equal(actual.digest('hex'), expected.digest('hex'))
  })
})

describe('graceful shutdown', () => {
  test('SIGTERM stops accepting, keeps open connections working until the timeout, then cuts them and exits 0', async (t) => {
    const tmp = tempDir()
    const backend = await startBackend('drain-target')
    const proxy = await startProxy({
      env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_DB_RELOAD_SECS: '0.1', EDGEPROXY_SHUTDOWN_TIMEOUT_SECS: '1.5'},
    })
    t.after(async () => {
      await proxy.stop('SIGKILL')
      await backend.close()
      tmp.cleanup()
    })
    const db = new RoutingDb(path.join(tmp.dir, 'routing.db'))
    db.insert({id: 'drain-target', region: 'sa', port: backend.port})
    db.close()
    await proxy.next('store_reloaded', (e) => e.backends === 1)

    const open = await connectAndGreet(proxy.tcpPort)
    const finishing = await connectAndGreet(proxy.tcpPort, {localAddress: '127.0.0.2'})
    proxy.child.kill('SIGTERM')
    const started = await proxy.waitFor('shutdown_started')
    assert.equal(started.open, 2)

    // New connections are refused once the listener is closed.
    const refused = net.connect({port: proxy.tcpPort, host: '127.0.0.1'})
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException]
    assert.equal(error.code, 'ECONNREFUSED')

    // The open connection still carries data both ways during the drain.
    open.socket.write('still here')
    assert.equal(await readUntil(open.socket, (t) => t.includes('still here')), 'still here')

    // One finishes on its own within the timeout; the other is cut at the timeout.
    finishing.socket.end()
    const cut = closed(open.socket)
    const exit = await proxy.exited
    await cut
    assert.equal(exit.code, 0)
    const complete = await proxy.waitFor('shutdown_complete')
    assert.deepEqual({drained: complete.drained, cut: complete.cut}, {drained: 1, cut: 1})
  })

  test('with nothing open, SIGINT exits 0 at once', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db')}})
    proxy.child.kill('SIGINT')
    const exit = await proxy.exited
    assert.equal(exit.code, 0)
    const complete = await proxy.waitFor('shutdown_complete')
    assert.deepEqual({drained: complete.drained, cut: complete.cut}, {drained: 0, cut: 0})
  })
})

describe('routing store failures keep the last good table', () => {
  async function setup(t: {after: (fn: () => unknown) => void}) {
    const tmp = tempDir()
    const backend = await startBackend('survivor')
    const dbPath = path.join(tmp.dir, 'routing.db')
    const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_DB_RELOAD_SECS: '0.1'}})
    t.after(async () => {
      await proxy.stop()
      await backend.close()
      tmp.cleanup()
    })
    const db = new RoutingDb(dbPath)
    db.insert({id: 'survivor', region: 'sa', port: backend.port})
    db.close()
    await proxy.next('store_reloaded', (e) => e.backends === 1)
    return {proxy, dbPath, backend}
  }

  test('a missing file', async (t) => {
    const {proxy, dbPath} = await setup(t)
    const failed = proxy.next('store_read_failed')
    fs.renameSync(dbPath, dbPath + '.moved')
    assert.equal((await failed).code, 'EP_STORE_MISSING')
    const c = await connectAndGreet(proxy.tcpPort)
    c.socket.destroy()
    assert.equal(c.id, 'survivor')
    const recovered = proxy.next('store_recovered')
    fs.renameSync(dbPath + '.moved', dbPath)
    await recovered
  })

  test('a corrupt file', async (t) => {
    const {proxy, dbPath} = await setup(t)
    const failed = proxy.next('store_read_failed')
    for (const suffix of ['-wal', '-shm']) fs.rmSync(dbPath + suffix, {force: true})
    fs.writeFileSync(dbPath + '.tmp', 'this is not a database '.repeat(400))
    fs.renameSync(dbPath + '.tmp', dbPath)
    assert.equal((await failed).code, 'EP_STORE_CORRUPT')
    const c = await connectAndGreet(proxy.tcpPort)
    c.socket.destroy()
    assert.equal(c.id, 'survivor')
  })

  test('a replacement file still locked by the process writing it', async (t) => {
    const {proxy, dbPath} = await setup(t)
    // An operator builds a new routing.db with sqlite3 (rollback journal) and moves it into place
    // while its writer still holds an exclusive transaction.
    const replacement = dbPath + '.new'
    const locker = new Database(replacement)
    t.after(() => locker.open && locker.close())
    locker.exec(backendsTableDdl({ifNotExists: true}))
    locker.exec('BEGIN EXCLUSIVE')
    locker.prepare("INSERT INTO backends (id, region, wg_ip, port) VALUES ('newcomer', 'sa', '127.0.0.1', 9)").run()
    const failed = proxy.next('store_read_failed')
    for (const suffix of ['-wal', '-shm']) fs.rmSync(dbPath + suffix, {force: true})
    fs.renameSync(replacement, dbPath)
    assert.equal((await failed).code, 'EP_STORE_BUSY')
    const c = await connectAndGreet(proxy.tcpPort)
    c.socket.destroy()
    assert.equal(c.id, 'survivor')
    const recovered = proxy.next('store_recovered')
    const reloaded = proxy.next('store_reloaded')
    locker.exec('COMMIT')
    locker.close()
    await recovered
    assert.equal((await reloaded).backends, 1, 'the new file, with only the newcomer, is now the table')
  })
})
