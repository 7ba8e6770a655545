// End to end: what a running POP says about itself. Several apps in one table without
// EDGEPROXY_APP are announced at start and whenever the set of apps changes; `route explain --app`
// and `GET /api/v1/route?app=` decide among one app's backends; SIGHUP logs what it re-read; and
// DEBUG (set by other tools) does not turn on the per-connection lines, EDGEPROXY_DEBUG does.
import assert from 'node:assert/strict'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import Database from 'better-sqlite3'

import {backendsTableDdl} from '../../src/store/schema.js'
import {connectAndGreet, startBackend, type TestBackend} from '../support/backends.js'
import {RoutingDb} from '../support/routing-db.js'
import {runCli, startProxy, tempDir, type LogEvent, type ProxyProcess} from '../support/proxy-process.js'

const BR_IP = '200.160.2.3'

interface Route {
  app: string | null
  chosen: string | null
  reason: string
  candidates: {id: string}[]
}
const route = async (url: string): Promise<Route> => (await (await fetch(url)).json()) as Route

describe('a POP routing several apps, with DEBUG set by another tool', () => {
  const tmp = tempDir()
  const dbPath = path.join(tmp.dir, 'routing.db')
  let proxy: ProxyProcess
  let db: RoutingDb
  let apiUrl: string
  const backends: TestBackend[] = []

  /** SIGHUP, and the `reloaded` line it logs. */
  async function hup(): Promise<LogEvent> {
    const reloaded = proxy.next('reloaded')
    proxy.child.kill('SIGHUP')
    return reloaded
  }

  before(async () => {
    for (const id of ['web-1', 'api-1']) backends.push(await startBackend(id))
    // Two apps in the table before the proxy starts.
    const seed = new Database(dbPath)
    seed.exec(backendsTableDdl({ifNotExists: true}))
    seed.close()
    db = new RoutingDb(dbPath)
    db.insert({id: 'web-1', app: 'web', region: 'sa', country: 'BR', port: backends[0]!.port})
    db.insert({id: 'api-1', app: 'api', region: 'sa', country: 'BR', port: backends[1]!.port})
    proxy = await startProxy({
      // Reloads only on SIGHUP, so every table change below is one the test asked for.
      env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_DB_RELOAD_SECS: '3600', DEBUG: 'express:*,*'},
    })
    apiUrl = `http://${String((await proxy.waitFor('started')).api)}`
  })
  after(async () => {
    db?.close()
    await proxy?.stop()
    for (const b of backends) await b.close()
    tmp.cleanup()
  })

  test('several apps without EDGEPROXY_APP are announced at start', async () => {
    const mixed = await proxy.waitFor('apps_mixed')
    assert.equal(mixed.level, 'warn')
    assert.equal(mixed.apps, '"api","web"')
    assert.match(mixed.msg, /EDGEPROXY_APP/)
    assert.ok(proxy.events.indexOf(mixed) < proxy.events.findIndex((e) => e.event === 'started'), 'before the started line')
  })

  test('SIGHUP logs what it re-read (store unchanged or changed, backends); apps_mixed again only when the set of apps changes', async () => {
    const count = () => proxy.events.filter((e) => e.event === 'apps_mixed').length
    const quiet = await hup()
    assert.deepEqual([quiet.store, quiet.backends], ['unchanged', 2])
    db.insert({id: 'web-2', app: 'web', region: 'us', port: backends[0]!.port})
    const changed = await hup()
    assert.deepEqual([changed.store, changed.backends], ['changed', 3])
    assert.equal(count(), 1, 'same apps: nothing new to say')
    const next = proxy.next('apps_mixed')
    db.insert({id: 'shop-1', app: 'shop', region: 'eu', port: backends[0]!.port})
    assert.equal((await hup()).backends, 4)
    assert.equal((await next).apps, '"api","shop","web"')
  })

  test('route explain --app and GET /api/v1/route?app= decide among one app\'s backends', async () => {
    const all = await route(`${apiUrl}/api/v1/route?ip=${BR_IP}`)
    assert.deepEqual(all.candidates.map((c) => c.id).sort(), ['api-1', 'shop-1', 'web-1', 'web-2'])
    const api = await route(`${apiUrl}/api/v1/route?ip=${BR_IP}&app=api`)
    assert.deepEqual([api.app, api.chosen, api.candidates.map((c) => c.id)], ['api', 'api-1', ['api-1']])
    const none = await route(`${apiUrl}/api/v1/route?ip=${BR_IP}&app=nope`)
    assert.deepEqual([none.chosen, none.candidates], [null, []])
    const cli = await runCli(['route', 'explain', BR_IP, '--app', 'web', '--api-url', apiUrl, '--json'])
    assert.equal(cli.code, 0, cli.stderr)
    const explained = JSON.parse(cli.stdout)
    assert.equal(explained.app, 'web')
    assert.deepEqual(explained.candidates.map((c: {id: string}) => c.id).sort(), ['web-1', 'web-2'])
    assert.equal(explained.chosen, 'web-1', 'the Brazilian client gets the web backend in Brazil')
  })

  test('DEBUG=express:* does not turn on the per-connection lines (EDGEPROXY_DEBUG does)', async () => {
    const mark = proxy.events.length
    const c = await connectAndGreet(proxy.tcpPort)
    c.socket.destroy()
    // The connection's line, if any, comes before the reload line the signal asks for now.
    await hup()
    assert.deepEqual(proxy.events.slice(mark).map((e) => e.event).filter((e) => e === 'connection' || e === 'api_request'), [])
  })
})

describe('a POP pinned to one app', () => {
  test('route ?app= another app says the POP routes only its own; no apps_mixed', async (t) => {
    const tmp = tempDir()
    const dbPath = path.join(tmp.dir, 'routing.db')
    const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_APP: 'web', EDGEPROXY_DB_RELOAD_SECS: '0.1'}})
    t.after(async () => {
      await proxy.stop()
      tmp.cleanup()
    })
    const db = new RoutingDb(dbPath)
    db.insert({id: 'web-1', app: 'web', region: 'sa', port: 9})
    db.insert({id: 'api-1', app: 'api', region: 'sa', port: 9})
    db.close()
    await proxy.next('store_reloaded')
    const apiUrl = `http://${String((await proxy.waitFor('started')).api)}`
    const other = await route(`${apiUrl}/api/v1/route?ip=${BR_IP}&app=api`)
    assert.deepEqual([other.app, other.chosen, other.candidates], ['api', null, []])
    assert.match(other.reason, /routes only app "web"/)
    const own = await route(`${apiUrl}/api/v1/route?ip=${BR_IP}`)
    assert.deepEqual([own.app, own.candidates.map((c) => c.id)], ['web', ['web-1']])
    assert.equal(proxy.events.filter((e) => e.event === 'apps_mixed').length, 0)
  })
})
