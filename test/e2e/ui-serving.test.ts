// End to end without a browser: how a real `bin/run.js start` serves the status page. The page and
// its files load without the token under a strict CSP; the traffic history and every other data call
// keep the API's token rules; EDGEPROXY_UI_ENABLED=false removes the page. The shipped files are
// checked as text: no inline script or style, no event-handler attribute, nothing from elsewhere,
// and a size budget (the README states the size).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {connectAndGreet, startBackend, type TestBackend} from '../support/backends.js'
import {ROOT, startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'
import {RoutingDb} from '../support/routing-db.js'
import {supportsReusePort} from '../../src/workers/settings.js'

const TOKEN = 'ui-serving-token-0123456789abcdef'
const PAGE_DIR = path.join(ROOT, 'dist/src/ui/page')
const WORKERS_SKIP = supportsReusePort() ? false : `several workers need Node ≥ 22.12 (net reusePort); this is Node ${process.versions.node}`
if (WORKERS_SKIP) console.log(`# skipping the status page's workers test: ${WORKERS_SKIP}`)
const apiOf = (proxy: ProxyProcess) => `http://${String(proxy.events.find((e) => e.event === 'started')!.api)}`

describe('the status page as served by edgeproxy start', () => {
  const tmp = tempDir('edgeproxy-ui-serving-')
  let proxy: ProxyProcess
  let apiUrl: string
  let backend: TestBackend

  before(async () => {
    backend = await startBackend('b1')
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_API_TOKEN: TOKEN, EDGEPROXY_UI_SAMPLE_SECS: '1', EDGEPROXY_REGION: 'eu'}})
    apiUrl = apiOf(proxy)
  })
  after(async () => {
    await proxy?.stop()
    await backend?.close()
    tmp.cleanup()
  })

  test('the page and its files load without the token, with a strict CSP and the right types', async () => {
    for (const [pathname, type] of [
      ['/ui', 'text/html; charset=utf-8'],
      ['/ui/', 'text/html; charset=utf-8'],
      ['/ui/app.js', 'text/javascript; charset=utf-8'],
      ['/ui/app.css', 'text/css; charset=utf-8'],
      ['/ui/icon.svg', 'image/svg+xml'],
    ] as const) {
      const res = await fetch(apiUrl + pathname)
      assert.equal(res.status, 200, pathname)
      assert.equal(res.headers.get('content-type'), type, pathname)
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
      assert.equal(res.headers.get('x-frame-options'), 'DENY')
      const csp = res.headers.get('content-security-policy') ?? ''
      assert.match(csp, /^default-src 'none'; script-src 'self'; style-src 'self';/, pathname)
      assert.match(csp, /frame-ancestors 'none'/)
      assert.equal(Buffer.from(await res.arrayBuffer()).equals(fs.readFileSync(path.join(PAGE_DIR, pathname === '/ui' || pathname === '/ui/' ? 'index.html' : pathname.slice(4)))), true)
    }
    // Nothing else under /ui is public, not even a 404.
    assert.equal((await fetch(`${apiUrl}/ui/tsconfig.json`)).status, 401)
    assert.equal((await fetch(`${apiUrl}/ui/../health`)).status, 200, 'normalised by the URL parser to /health')
    assert.equal((await fetch(`${apiUrl}/ui/tsconfig.json`, {headers: {authorization: `Bearer ${TOKEN}`}})).status, 404)
  })

  test('GET /api/v1/traffic needs the token and reports samples of real connections', async () => {
    assert.equal((await fetch(`${apiUrl}/api/v1/traffic`)).status, 401)
    assert.equal((await fetch(`${apiUrl}/api/v1/traffic`, {headers: {authorization: 'Bearer wrong-token-0123456789'}})).status, 401)
    // With no backend, a connection is closed at once: a client error (no_backend).
    const client = await import('node:net').then((net) => net.connect(proxy.tcpPort, '127.0.0.1'))
    await new Promise((resolve) => client.on('close', resolve))
    const deadline = Date.now() + 5000
    let traffic: {sample_secs: number; window_secs: number; connections_per_sec: number[]; errors_per_sec: number[]; active: number[]; last_sample_at: string | null}
    do {
      const res = await fetch(`${apiUrl}/api/v1/traffic`, {headers: {authorization: `Bearer ${TOKEN}`}})
      assert.equal(res.status, 200)
      traffic = (await res.json()) as typeof traffic
      if (traffic.errors_per_sec.some((r) => r > 0)) break
      await new Promise((resolve) => setTimeout(resolve, 200))
    } while (Date.now() < deadline)
    assert.equal(traffic.sample_secs, 1)
    assert.equal(traffic.window_secs, 600)
    assert.ok(traffic.connections_per_sec.some((r) => r > 0), JSON.stringify(traffic))
    assert.ok(traffic.errors_per_sec.some((r) => r > 0), JSON.stringify(traffic))
    assert.equal(traffic.connections_per_sec.length, traffic.active.length)
    assert.match(traffic.last_sample_at ?? '', /^\d{4}-\d\d-\d\dT/)
  })

  test('with workers (EDGEPROXY_WORKERS=2) the charts count what the workers accept and hold', {skip: WORKERS_SKIP}, async (t) => {
    const dbPath = path.join(tmp.dir, 'workers.db')
    const pooled = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_DB_RELOAD_SECS: '0.1', EDGEPROXY_API_TOKEN: TOKEN, EDGEPROXY_UI_SAMPLE_SECS: '1', EDGEPROXY_REGION: 'eu', EDGEPROXY_WORKERS: '2'}})
    t.after(() => pooled.stop())
    const db = new RoutingDb(dbPath)
    t.after(() => db.close())
    db.insert({id: 'b1', region: 'eu', port: backend.port})
    await pooled.next('store_reloaded', (e) => e.backends === 1)
    const held = await connectAndGreet(pooled.tcpPort)
    t.after(() => held.socket.destroy())
    assert.equal(held.id, 'b1')
    // The connection is in a worker: the sample must ask the workers for their sums (a timer, not the data path).
    const deadline = Date.now() + 10_000
    let traffic: {connections_per_sec: number[]; active: number[]}
    do {
      traffic = (await (await fetch(`${apiOf(pooled)}/api/v1/traffic`, {headers: {authorization: `Bearer ${TOKEN}`}})).json()) as typeof traffic
      if (traffic.active.at(-1) === 1 && traffic.connections_per_sec.some((r) => r > 0)) break
      await new Promise((resolve) => setTimeout(resolve, 200))
    } while (Date.now() < deadline)
    assert.equal(traffic.active.at(-1), 1, JSON.stringify(traffic))
    assert.ok(traffic.connections_per_sec.some((r) => r > 0), JSON.stringify(traffic))
  })

  test('/health carries what the page shows: the GeoIP build date (and the certificate with TLS)', async () => {
    const health = (await (await fetch(`${apiUrl}/health`)).json()) as {expiry: {tls_certificate: unknown; geoip: {built_at: string; age_days: number; source: string}}}
    assert.equal(health.expiry.tls_certificate, null)
    assert.match(health.expiry.geoip.built_at, /^\d{4}-\d\d-\d\dT/)
    assert.equal(typeof health.expiry.geoip.age_days, 'number')
    assert.match(health.expiry.geoip.source, /^embedded/)
  })

  test('EDGEPROXY_UI_ENABLED=false: no page, no traffic endpoint', async (t) => {
    const off = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'off.db'), EDGEPROXY_API_TOKEN: TOKEN, EDGEPROXY_UI_ENABLED: 'false'}})
    t.after(() => off.stop())
    const url = apiOf(off)
    assert.equal((await fetch(`${url}/ui`)).status, 401)
    assert.equal((await fetch(`${url}/ui`, {headers: {authorization: `Bearer ${TOKEN}`}})).status, 404)
    assert.equal((await fetch(`${url}/api/v1/traffic`, {headers: {authorization: `Bearer ${TOKEN}`}})).status, 404)
  })

  test('npm pack ships the page', async () => {
    const {execFileSync} = await import('node:child_process')
    const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {cwd: ROOT, encoding: 'utf8'})) as {files: {path: string}[]}[]
    const files = new Set(packed[0]!.files.map((f) => f.path))
    for (const name of ['index.html', 'app.js', 'app.css', 'icon.svg']) assert.ok(files.has(`dist/src/ui/page/${name}`), `npm pack lacks dist/src/ui/page/${name}`)
  })

  test('the shipped files: no inline code or handlers, nothing from elsewhere, within the size budget', () => {
    const html = fs.readFileSync(path.join(PAGE_DIR, 'index.html'), 'utf8')
    const js = fs.readFileSync(path.join(PAGE_DIR, 'app.js'), 'utf8')
    const css = fs.readFileSync(path.join(PAGE_DIR, 'app.css'), 'utf8')
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, 'no inline script')
    assert.doesNotMatch(html, /<style|\sstyle=/, 'no inline style')
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'no event-handler attribute')
    assert.doesNotMatch(html + css, /https?:\/\//, 'nothing loaded from elsewhere')
    assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/, 'values reach the page as text only')
    assert.doesNotMatch(js, /localStorage\.setItem/, 'the token stays in session storage')
    const total = ['index.html', 'app.js', 'app.css', 'icon.svg'].reduce((n, f) => n + fs.statSync(path.join(PAGE_DIR, f)).size, 0)
    console.log(`# status page: ${total} bytes (html ${html.length}, js ${js.length}, css ${css.length})`)
    assert.ok(total < 64 * 1024, `the page is ${total} bytes; the budget is 64 KiB`)
  })
})
