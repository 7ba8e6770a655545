// The commands that make one call to a running proxy (backend list/get/…, route explain) and
// --version take the lean path: they load neither oclif, the engine, SQLite nor undici, print what
// the oclif path prints (EDGEPROXY_CLI_LEAN=0 forces that path), and exit as soon as they have
// printed, even when the server would keep the connection open. Timings are measured by
// scripts/cli-speed.ts, not here (a shared CI machine is too noisy to assert on them).
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {once} from 'node:events'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {BIN, cleanEnv, runCli, startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'

/**
 * Every module the CLI resolves while running `args`, via a resolve hook that writes to stderr. Where
 * Node has module.registerHooks (22.15+, 24) the hook runs in-thread and sees require() too, which
 * oclif uses to load commands on a Node that can require() ES modules; elsewhere (Node 20) the
 * off-thread module.register hook sees every import.
 */
async function modulesLoaded(args: string[], env: Record<string, string>): Promise<{urls: string[]; code: number | null}> {
  const asyncHook = 'export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write("LOADED " + r.url + "\\n"); return r }'
  const hook = `data:text/javascript,${encodeURIComponent(
    `import * as m from 'node:module'
    // Node's own bundled undici (loaded by fetch, or by an ES import of node:http on Node 22+) is an internal module: listed here.
    process.on('exit', () => { for (const id of process.moduleLoadList ?? []) if (id.includes('undici')) process.stderr.write("LOADED internal:" + id + "\\n") })
    if (m.registerHooks) m.registerHooks({resolve(s, c, next) { const r = next(s, c); process.stderr.write("LOADED " + r.url + "\\n"); return r }})
    else m.register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(asyncHook)}))`,
  )}`
  const child = spawn(process.execPath, ['--import', hook, BIN, ...args], {env: cleanEnv(env)})
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c))
  child.stdout.resume()
  const [code] = (await once(child, 'exit')) as [number | null]
  return {urls: stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7)), code}
}

describe('the lean path', () => {
  const tmp = tempDir('edgeproxy-lean-')
  let proxy: ProxyProcess
  let env: Record<string, string>

  before(async () => {
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_API_TOKEN: 'lean-test-token-0123456789'}})
    env = {EDGEPROXY_API_URL: `http://${String(proxy.events.find((e) => e.event === 'started')!.api)}`, EDGEPROXY_API_TOKEN: 'lean-test-token-0123456789'}
    for (const [id, region] of [['sa-1', 'sa'], ['eu-1', 'eu']]) {
      const r = await runCli(['backend', 'register', '--id', id!, '--app', 'web', '--region', region!, '--ip', '127.0.0.1', '--port', '9'], {env})
      assert.equal(r.code, 0, r.stderr)
    }
  })
  after(async () => {
    await proxy?.stop()
    tmp.cleanup()
  })

  test('API commands and --version load neither oclif, the engine, SQLite nor undici', async () => {
    const heavy = /@oclif|better-sqlite3|undici|\/engine\.js|\/store\/|\/corrosion\/|\/proxy\/|inquirer/
    for (const args of [
      ['backend', 'list', '--json'],
      ['backend', 'get', 'sa-1'],
      ['route', 'explain', '90.0.0.1'],
      ['backend', 'register', '--id', 'sa-2', '--app', 'web', '--region', 'sa', '--ip', '127.0.0.1', '--port', '9', '--json'],
      ['backend', 'get', 'nope', '--json'],
      ['status'],
      ['status', '--json'],
      ['--version'],
    ]) {
      const {urls, code} = await modulesLoaded(args, env)
      assert.ok(code === 0 || args.includes('nope'), `${args.join(' ')} ran`)
      assert.ok(urls.some((u) => u.endsWith('/src/cli/lean/run-lean.js')), `${args.join(' ')} took the lean path`)
      assert.deepEqual(urls.filter((u) => heavy.test(u)), [], `${args.join(' ')} loads nothing heavy`)
    }
    // The control: a --db command does need SQLite, and goes through oclif.
    const {urls} = await modulesLoaded(['backend', 'list', '--db', path.join(tmp.dir, 'routing.db')], env)
    assert.ok(urls.some((u) => u.includes('better-sqlite3')) && urls.some((u) => u.includes('@oclif')))
  })

  test('prints exactly what the oclif path prints, output and errors', async () => {
    for (const args of [
      ['backend', 'list'],
      ['backend', 'list', '--json', '--region', 'eu'],
      ['backend', 'get', 'sa-1', '--json'],
      ['route', 'explain', '200.160.2.3'],
      ['backend', 'get', 'nope'],
      ['backend', 'get', 'nope', '--json'],
      ['backend', 'list', '--api-url', 'notaurl'],
      ['status', '--api-url', 'notaurl', '--json'],
      ['status', '--token', 'wrong-token-0123456789'],
      ['version', '--json'],
    ]) {
      const lean = await runCli(args, {env})
      const full = await runCli(args, {env: {...env, EDGEPROXY_CLI_LEAN: '0'}})
      const stable = (text: string) => text.replace(/"heartbeat_age_secs": [\d.]+/g, '"heartbeat_age_secs": 0').replace(/\d+s ago/g, '0s ago')
      assert.equal(lean.code, full.code, args.join(' '))
      assert.equal(stable(lean.stdout), stable(full.stdout), args.join(' '))
      assert.equal(lean.stderr, full.stderr, args.join(' '))
    }
    // status samples the live proxy: the same screen and JSON but for the clock.
    const clockless = (text: string) => text.replace(/\d+(\.\d+)?(m\d+)?s\b/g, 'Ns').replace(/"(uptime_secs|last_sync_age_secs|interval_secs)": [\d.]+/g, '"$1": 0')
    for (const args of [['status'], ['status', '--json']]) {
      const lean = await runCli(args, {env})
      const full = await runCli(args, {env: {...env, EDGEPROXY_CLI_LEAN: '0'}})
      assert.equal(lean.code, full.code, args.join(' '))
      assert.equal(clockless(lean.stdout), clockless(full.stdout), args.join(' '))
    }
  })

  test('exits as soon as it has printed, even when the server would keep the connection open', async (t) => {
    const server = http.createServer({keepAliveTimeout: 60_000}, (req, res) => {
      res.writeHead(200, {'content-type': 'application/json', connection: 'keep-alive', 'keep-alive': 'timeout=60'})
      res.end(JSON.stringify({backends: []}))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    t.after(() => server.close())
    let closedByClient = false
    server.on('connection', (socket) => socket.on('end', () => (closedByClient = true)))
    const started = Date.now()
    const r = await runCli(['backend', 'list', '--json'], {env: {EDGEPROXY_API_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`}, timeoutMs: 20_000})
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), {backends: []})
    assert.ok(closedByClient, 'the CLI closed its connection instead of keeping it alive')
    assert.ok(Date.now() - started < 15_000, 'it did not wait for the server to close the connection')
  })
})

