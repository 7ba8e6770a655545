// End to end: the `edgeproxy backend …` and `route explain` commands, run as real child processes
// against a running `edgeproxy start` (and against a routing.db with --db), then real connections
// through the proxy to check what they changed.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {once} from 'node:events'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {connectAndGreet, readUntil, startBackend, type TestBackend} from '../support/backends.js'
import {BIN, cleanEnv, ROOT, runCli, startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'

const TOKEN = 'test-token-0123456789abcdef'

function apiUrl(proxy: ProxyProcess): string {
  const started = proxy.events.find((e) => e.event === 'started')!
  return `http://${String(started.api)}`
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const {port} = s.address() as net.AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

describe('backend commands against a running proxy', () => {
  const tmp = tempDir()
  let proxy: ProxyProcess
  let a: TestBackend
  let b: TestBackend
  let env: Record<string, string>
  const cli = (...args: string[]) => runCli(args, {env})
  const json = async (...args: string[]) => {
    const r = await cli(...args, '--json')
    assert.equal(r.code, 0, r.stdout + r.stderr)
    return JSON.parse(r.stdout)
  }

  before(async () => {
    a = await startBackend('a')
    b = await startBackend('b')
    proxy = await startProxy({
      // A long lease: under load this block can outlast the default 60 s, and an expired backend would not route.
      env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_DB_RELOAD_SECS: '60', EDGEPROXY_API_TOKEN: TOKEN, EDGEPROXY_HEARTBEAT_TTL_SECS: '3600'},
    })
    env = {EDGEPROXY_API_URL: apiUrl(proxy), EDGEPROXY_API_TOKEN: TOKEN}
  })
  after(async () => {
    await proxy?.stop()
    await a?.close()
    await b?.close()
    tmp.cleanup()
  })

  test('register through the CLI: the next connection reaches the new backend at once', async () => {
    const out = await json('backend', 'register', '--id', 'a', '--app', 'web', '--region', 'sa', '--country', 'BR', '--ip', '127.0.0.1', '--port', String(a.port))
    assert.equal(out.created, true)
    assert.equal(out.backend.state, 'healthy')
    const c = await connectAndGreet(proxy.tcpPort)
    c.socket.write('through the proxy')
    assert.equal(await readUntil(c.socket, (t) => t.includes('through the proxy')), 'through the proxy')
    c.socket.destroy()
    const again = await json('backend', 'register', '--id', 'a', '--app', 'web', '--region', 'sa', '--country', 'BR', '--ip', '127.0.0.1', '--port', String(a.port))
    assert.equal(again.created, false)
  })

  test('list --json prints the stable object, and filters', async () => {
    await json('backend', 'register', '--id', 'b', '--app', 'api', '--region', 'us', '--ip', '127.0.0.1', '--port', String(b.port))
    const all = await json('backend', 'list')
    assert.deepEqual(
      all.backends.map((x: Record<string, unknown>) => x.id),
      ['a', 'b'],
    )
    for (const key of ['id', 'app', 'region', 'country', 'ip', 'port', 'state', 'weight', 'soft_limit', 'hard_limit', 'connections', 'heartbeat_age_secs']) {
      assert.ok(key in all.backends[0], `list entries carry ${key}`)
    }
    assert.deepEqual((await json('backend', 'list', '--app', 'api')).backends.map((x: {id: string}) => x.id), ['b'])
    assert.deepEqual((await json('backend', 'list', '--region', 'sa')).backends.map((x: {id: string}) => x.id), ['a'])
    assert.equal((await json('backend', 'list', '--state', 'draining')).backends.length, 0)
    const human = await cli('backend', 'list')
    assert.equal(human.code, 0)
    assert.match(human.stdout, /^ID {3}APP {3}REGION {3}COUNTRY/, 'plain columns with a header row when stdout is a pipe')
    assert.doesNotMatch(human.stdout, /[│─┌└]/, 'no box drawing in a pipe')
    assert.match(human.stdout, /127\.0\.0\.1:\d+/)
  })

  test('drain keeps the open connection alive while new ones go elsewhere; enable undoes it', async () => {
    const open = await connectAndGreet(proxy.tcpPort, {localAddress: '127.0.0.20'})
    assert.equal(open.id, 'a')
    const drained = await json('backend', 'drain', 'a')
    assert.equal(drained.backend.state, 'draining')
    const fresh = await connectAndGreet(proxy.tcpPort, {localAddress: '127.0.0.21'})
    fresh.socket.destroy()
    assert.equal(fresh.id, 'b')
    open.socket.write('still flowing')
    assert.equal(await readUntil(open.socket, (t) => t.includes('still flowing')), 'still flowing')
    const sameClient = await connectAndGreet(proxy.tcpPort, {localAddress: '127.0.0.20'})
    sameClient.socket.destroy()
    assert.equal(sameClient.id, 'b', 'the binding to a draining backend is dropped')
    open.socket.destroy()
    assert.equal((await json('backend', 'enable', 'a')).backend.state, 'healthy')
  })

  test('get, set-weight, disable, and route explain show the live picture', async () => {
    const got = await json('backend', 'get', 'a')
    assert.equal(got.backend.id, 'a')
    // Registered through this POP's API: its region (EDGEPROXY_REGION's default, sa) is the POP that took it.
    assert.equal(got.backend.registered_by, 'sa')
    assert.match((await cli('backend', 'get', 'a')).stdout, /^registered by +sa$/m)
    assert.equal((await json('backend', 'set-weight', 'a', '7')).backend.weight, 7)
    const explained = await json('route', 'explain', '200.160.2.3')
    assert.equal(explained.country, 'BR')
    assert.equal(explained.chosen, 'a')
    assert.equal(explained.candidates[0].id, 'a')
    assert.equal(explained.candidates[0].geo_score, 0)
    await json('backend', 'disable', 'a')
    const after = await json('route', 'explain', '200.160.2.3')
    assert.equal(after.chosen, 'b')
    assert.equal(after.candidates.find((c: {id: string}) => c.id === 'a').skipped, 'unhealthy')
    const human = await cli('route', 'explain', '200.160.2.3')
    assert.match(human.stdout, /→ b/)
    assert.match(human.stdout, /unhealthy/)
    await json('backend', 'enable', 'a')
  })

  test('ids and apps at the edges of the rule round-trip through register, get, heartbeat, drain and deregister', async () => {
    const edge = async (id: string, app: string) => {
      const reg = await json('backend', 'register', '--id', id, '--app', app, '--region', 'eu', '--ip', '127.0.0.1', '--port', '9')
      assert.deepEqual([reg.backend.id, reg.backend.app], [id, app])
      const got = await json('backend', 'get', id)
      assert.deepEqual([got.backend.id, got.backend.app], [id, app])
      assert.equal((await json('backend', 'heartbeat', id)).backend.id, id)
      assert.equal((await json('backend', 'drain', id)).backend.state, 'draining')
      assert.equal((await json('backend', 'deregister', id)).backend.id, id)
    }
    // Dots inside (a path normalises only "." and ".." segments), every allowed character, the longest id.
    await Promise.all([edge('A.b_c-9..z', 'Web.app_1-x'), edge('9'.repeat(64), 'a')])
    // What a URL path would change or split is refused at register, with the rule.
    const ids = ['..', 'a/b', 'a%2Fb', 'a?b', 'a#b']
    const refusals = await Promise.all(ids.map((id) => cli('backend', 'register', '--id', id, '--app', 'web', '--region', 'eu', '--ip', '127.0.0.1', '--port', '9', '--json')))
    for (const [i, refused] of refusals.entries()) {
      assert.equal(refused.code, 3, ids[i])
      const error = JSON.parse(refused.stdout).error
      assert.deepEqual([error.code, error.field], ['EP_INVALID_FIELD', 'id'], ids[i])
      assert.match(error.message, /1-64 characters of A-Z a-z 0-9 \. _ -/, `${ids[i]}: the message states the rule`)
    }
  })

  test('deregister removes it from routing at once; then every command reports it not found', async () => {
    const gone = await json('backend', 'deregister', 'a')
    assert.equal(gone.deregistered, true)
    assert.equal(gone.backend.id, 'a', 'the backend as it was')
    const c = await connectAndGreet(proxy.tcpPort, {localAddress: '127.0.0.30'})
    c.socket.destroy()
    assert.equal(c.id, 'b')
    // (Every API endpoint is checked in api.test.ts; these are the commands that used to disagree.)
    const commands = [['deregister', 'a'], ['get', 'a'], ['heartbeat', 'a']]
    const results = await Promise.all(commands.map((args) => cli('backend', ...args, '--json')))
    for (const [i, again] of results.entries()) {
      assert.equal(again.code, 3, commands[i]!.join(' '))
      assert.equal(JSON.parse(again.stdout).error.code, 'EP_BACKEND_NOT_FOUND', commands[i]!.join(' '))
    }
  })

  test('a wrong token is refused with exit 3; an unknown id with exit 3', async () => {
    const wrong = await runCli(['backend', 'list'], {env: {EDGEPROXY_API_URL: env.EDGEPROXY_API_URL, EDGEPROXY_API_TOKEN: 'wrong-token-wrong-token'}})
    assert.equal(wrong.code, 3)
    assert.match(wrong.stderr, /EP_API_UNAUTHORIZED/)
    assert.doesNotMatch(wrong.stderr, /wrong-token/, 'the token is never printed')
    const missing = await cli('backend', 'get', 'nope', '--json')
    assert.equal(missing.code, 3)
    assert.equal(JSON.parse(missing.stdout).error.code, 'EP_BACKEND_NOT_FOUND')
  })

  test('invalid values are refused naming the field, and nothing is stored', async () => {
    const bad = await cli('backend', 'register', '--id', "x'); DROP TABLE backends;--", '--app', 'web', '--region', 'sa', '--ip', '127.0.0.1', '--port', '80', '--json')
    assert.equal(bad.code, 3)
    assert.equal(JSON.parse(bad.stdout).error.field, 'id')
    const port = await cli('backend', 'register', '--id', 'p', '--app', 'web', '--region', 'sa', '--ip', '127.0.0.1', '--port', '70000', '--json')
    assert.equal(JSON.parse(port.stdout).error.field, 'port')
    const limits = await cli('backend', 'register', '--id', 'p', '--app', 'web', '--region', 'sa', '--ip', '127.0.0.1', '--port', '80', '--soft-limit', '200', '--hard-limit', '100', '--json')
    assert.equal(JSON.parse(limits.stdout).error.field, 'soft_limit')
    assert.deepEqual((await json('backend', 'list')).backends.map((x: {id: string}) => x.id), ['b'])
  })

  test('without a terminal, missing required flags fail at once naming every one', async () => {
    const r = await cli('backend', 'register', '--id', 'z')
    assert.equal(r.code, 2)
    for (const flag of ['--app', '--region', '--ip', '--port']) assert.ok(r.stderr.includes(flag), `${flag} named in: ${r.stderr}`)
    assert.match(r.stderr, /EP_MISSING_FLAG/)
  })
})

describe('backend commands without a proxy', () => {
  test('an unreachable API names the URL, suggests edgeproxy start or --api-url, and exits 4', async () => {
    const port = await freePort()
    const r = await runCli(['backend', 'list', '--api-url', `http://127.0.0.1:${port}`])
    assert.equal(r.code, 4)
    assert.ok(r.stderr.includes(`http://127.0.0.1:${port}`))
    assert.match(r.stderr, /edgeproxy start/)
    assert.match(r.stderr, /--api-url/)
    const j = await runCli(['backend', 'list', '--api-url', `http://127.0.0.1:${port}`, '--json'])
    assert.equal(j.code, 4)
    assert.equal(JSON.parse(j.stdout).error.code, 'EP_API_UNAVAILABLE')
  })

  test('in a terminal, register asks for the missing values (inquirer) and stores them', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const db = path.join(tmp.dir, 'routing.db')
    const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: db, EDGEPROXY_API_ENABLED: 'false'}})
    await proxy.stop()
    const answers = [
      ['App', 'web\r'],
      ['Region', '\u001b[B\u001b[B\r'],
      ['Address the proxy dials', '10.1.2.3\r'],
      ['Port', '9000\r'],
    ]
    const child = spawn('python3', [path.join(ROOT, 'test/support/pty-run.py'), JSON.stringify(answers), BIN, 'backend', 'register', '--db', db, '--id', 'tty-1'], {
      env: cleanEnv(),
    })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c))
    child.stderr.on('data', (c: Buffer) => (output += c))
    const [code] = (await once(child, 'exit')) as [number]
    assert.equal(code, 0, output)
    assert.match(output, /Registered backend tty-1/)
    const list = JSON.parse((await runCli(['backend', 'list', '--db', db, '--json'])).stdout)
    assert.deepEqual(
      list.backends.map((b: {id: string; app: string; region: string; ip: string; port: number}) => [b.id, b.app, b.region, b.ip, b.port]),
      [['tty-1', 'web', 'eu', '10.1.2.3', 9000]],
    )
  })

  test('--db works on a routing store directly, with the same validation', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const db = path.join(tmp.dir, 'routing.db')
    // The store must exist: --db never creates a file by accident.
    const none = await runCli(['backend', 'list', '--db', db, '--json'])
    assert.equal(none.code, 3)
    assert.equal(JSON.parse(none.stdout).error.code, 'EP_STORE_MISSING')
    const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: db, EDGEPROXY_API_ENABLED: 'false'}})
    await proxy.stop()
    const reg = await runCli(['backend', 'register', '--db', db, '--id', 'local-1', '--app', 'web', '--region', 'eu', '--ip', '::1', '--port', '9000', '--json'])
    assert.equal(reg.code, 0, reg.stderr)
    assert.equal(JSON.parse(reg.stdout).backend.connections, null)
    // No POP's API took it: no registering POP, in JSON and in words.
    assert.equal(JSON.parse(reg.stdout).backend.registered_by, null)
    assert.match((await runCli(['backend', 'get', 'local-1', '--db', db])).stdout, /^registered by +- \(not through a POP's API\)$/m)
    const list = JSON.parse((await runCli(['backend', 'list', '--db', db, '--json'])).stdout)
    assert.deepEqual(list.backends.map((x: {id: string; ip: string}) => [x.id, x.ip]), [['local-1', '::1']])
    const hb = JSON.parse((await runCli(['backend', 'heartbeat', 'local-1', '--db', db, '--json'])).stdout)
    assert.equal(hb.stored, false, 'a fresh lease is not rewritten')
  })

  test('heartbeat --every survives an API restart with backoff and logs the recovery', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const apiPort = await freePort()
    const db = path.join(tmp.dir, 'routing.db')
    const proxyEnv = {EDGEPROXY_DB_PATH: db, EDGEPROXY_API_LISTEN_ADDR: `127.0.0.1:${apiPort}`, EDGEPROXY_HEARTBEAT_TTL_SECS: '0.6'}
    let proxy = await startProxy({env: proxyEnv})
    t.after(() => proxy.stop())
    const url = `http://127.0.0.1:${apiPort}`
    const reg = await runCli(['backend', 'register', '--api-url', url, '--id', 'hb', '--app', 'web', '--region', 'sa', '--ip', '127.0.0.1', '--port', '9'])
    assert.equal(reg.code, 0, reg.stderr)
    const child = spawn(process.execPath, [BIN, 'backend', 'heartbeat', 'hb', '--every', '100ms', '--api-url', url], {env: cleanEnv()})
    t.after(() => child.kill('SIGKILL'))
    let stderr = ''
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(stderr)) {
            child.stderr.removeListener('data', check)
            resolve()
          }
        }
        child.stderr.on('data', (c: Buffer) => {
          stderr += c
          check()
        })
        child.once('exit', () => reject(new Error(`heartbeat exited early:\n${stderr}`)))
        check()
      })
    await seen(/heartbeat hb ok/)
    await proxy.stop()
    await seen(/heartbeat hb failing: cannot reach the edgeproxy API/)
    const restartedAtMs = Date.now()
    proxy = await startProxy({env: proxyEnv})
    await seen(/heartbeat hb recovered after \d+ failure.*; lease until \S+/)
    child.kill('SIGTERM')
    const [code] = (await once(child, 'exit')) as [number]
    assert.equal(code, 0)
    assert.match(stderr, /stopped after \d+ beat/)
    // The first beat after the restart renewed the short lease: it now ends after the restart (a CLI
    // read afterwards would race the 0.6 s lease on a busy machine, so the beat's own answer is checked).
    const leaseUntil = Date.parse(/recovered after .*; lease until (\S+)/.exec(stderr)![1])
    assert.ok(leaseUntil > restartedAtMs, `lease until ${new Date(leaseUntil).toISOString()} ends after the restart at ${new Date(restartedAtMs).toISOString()}`)
  })
})
