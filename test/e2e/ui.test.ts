// End to end: the status page in Debian's headless Chromium (driven by playwright-core, off the
// network) against a real `bin/run.js start` with real backends and an API token. The page asks for
// the token (a wrong one is refused in words), lists the registered backends, shows a drain within a
// refresh, moves a backend's bar for a live connection, answers the route box like the API, escapes
// hostile ids, loads nothing from elsewhere, and is usable from the keyboard at desktop and phone
// widths. Screenshots go to test-output/ui/ (their paths are printed).
/// <reference lib="dom" />
// (Callbacks passed to page.evaluate run in the browser.)
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {once} from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import type {BrowserContext, Page} from 'playwright-core'

import {connectAndGreet, startBackend, type TestBackend} from '../support/backends.js'
import {createCluster, type EmulatorCluster} from '../support/corrosion-emulator/index.js'
import {backendsSchemaDir} from '../support/corrosion-emulator/targets.js'
import {apiCall, startPop, type Pop} from '../support/multi-pop.js'
import {ROOT, runCli, startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'
import {RoutingDb} from '../support/routing-db.js'

const CHROMIUM = '/usr/bin/chromium'
const TOKEN = 'ui-e2e-token-0123456789abcdef'
const SAMPLE_SECS = 1
/** A change must show within one refresh (SAMPLE_SECS) plus the store's pick-up and the page's fetch. */
const WITHIN_REFRESH_MS = SAMPLE_SECS * 1000 + 3000
const OUTPUT = path.join(ROOT, 'test-output', 'ui')
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const skipReason = fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium); the status page test needs it`
if (skipReason) console.log(`# skipping the status page browser test: ${skipReason}`)

/** Chromium off the network, in a fresh profile directory (--user-data-dir), at 1280×800. */
async function launchChromium(profileDir: string): Promise<{context: BrowserContext; page: Page}> {
  const {chromium} = await import('playwright-core')
  const context = await chromium.launchPersistentContext(profileDir, {executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: {width: 1280, height: 800}})
  return {context, page: context.pages()[0] ?? (await context.newPage())}
}

describe('the status page (/ui) in headless Chromium', {skip: skipReason}, () => {
  const tmp = tempDir('edgeproxy-ui-')
  const backends: TestBackend[] = []
  const held: {socket: {destroy(): void}}[] = []
  let proxy: ProxyProcess
  let db: RoutingDb
  let apiUrl: string
  let context: BrowserContext
  let page: Page
  const foreignRequests: string[] = []

  const api = async (method: string, pathname: string, body?: unknown) => {
    const res = await fetch(apiUrl + pathname, {
      method,
      headers: {authorization: `Bearer ${TOKEN}`, ...(body ? {'content-type': 'application/json'} : {})},
      body: body ? JSON.stringify(body) : undefined,
    })
    return {status: res.status, body: (await res.json()) as Record<string, unknown>}
  }

  before(async () => {
    for (const id of ['eu-1', 'eu-2', 'us-1']) backends.push(await startBackend(id))
    const dbPath = path.join(tmp.dir, 'routing.db')
    // A certificate that runs out in 5 days: inside EDGEPROXY_TLS_EXPIRY_WARN_DAYS (14), so a warning.
    const [certPath, keyPath] = [path.join(tmp.dir, 'cert.pem'), path.join(tmp.dir, 'key.pem')]
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '5', '-subj', '/CN=ui.test'], {stdio: 'ignore'})
    proxy = await startProxy({
      env: {
        EDGEPROXY_DB_PATH: dbPath,
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_API_TOKEN: TOKEN,
        EDGEPROXY_REGION: 'eu',
        EDGEPROXY_UI_SAMPLE_SECS: String(SAMPLE_SECS),
        EDGEPROXY_TLS_ENABLED: 'true',
        EDGEPROXY_TLS_LISTEN_ADDR: '127.0.0.1:0',
        EDGEPROXY_TLS_CERT: certPath,
        EDGEPROXY_TLS_KEY: keyPath,
        // The embedded GeoIP database ages with the calendar: its warning is kept off, the certificate's is the one shown.
        EDGEPROXY_GEOIP_MAX_AGE_DAYS: '36500',
        // Active checks and circuits on, so the page shows their states too.
        EDGEPROXY_HEALTH_CHECK_ENABLED: 'true',
        EDGEPROXY_HEALTH_CHECK_INTERVAL_SECS: '0.5',
        EDGEPROXY_HEALTH_CHECK_FAST_INTERVAL_SECS: '0.2',
        EDGEPROXY_HEALTH_CHECK_TIMEOUT_SECS: '0.3',
        EDGEPROXY_HEALTH_UNHEALTHY_THRESHOLD: '2',
        EDGEPROXY_CIRCUIT_BREAKER_ENABLED: 'true',
      },
    })
    const started = proxy.events.find((e) => e.event === 'started')!
    apiUrl = `http://${String(started.api)}`
    for (const [i, b] of backends.entries()) {
      const region = b.id.slice(0, 2)
      const reply = await api('POST', '/api/v1/register', {id: b.id, app: 'web', region, ip: '127.0.0.1', port: b.port, weight: i === 0 ? 5 : 2, soft_limit: 4, hard_limit: 8})
      assert.equal(reply.status, 201, JSON.stringify(reply.body))
    }
    // A row written straight into the store by some other process: its text must reach the page as text.
    db = new RoutingDb(dbPath)
    db.insert({id: '<img src=x id=pwned>', app: '<b>app</b>', region: 'ap', port: backends[2].port, healthy: 0})
    // And one whose lease ran out.
    db.insert({id: 'us-old', region: 'us', port: backends[2].port, lease_expires_at_ms: Date.now() - 60_000})
    await proxy.next('store_reloaded', (e) => e.backends === 5)

    ;({context, page} = await launchChromium(path.join(tmp.dir, 'chromium-profile')))
    page.on('request', (r) => {
      if (!r.url().startsWith(apiUrl) && !r.url().startsWith('data:')) foreignRequests.push(r.url())
    })
    fs.mkdirSync(OUTPUT, {recursive: true})
  })

  after(async () => {
    for (const h of held) h.socket.destroy()
    await context?.close()
    db?.close()
    await proxy?.stop()
    for (const b of backends) await b.close()
    tmp.cleanup()
  })

  test('asks for the token, says when it is wrong, then shows the POP and every registered backend', async () => {
    const response = await page.goto(`${apiUrl}/ui`)
    assert.equal(response?.status(), 200)
    const csp = response!.headers()['content-security-policy'] ?? ''
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
    // The data calls need the token even though the page does not.
    assert.equal((await fetch(`${apiUrl}/api/v1/traffic`)).status, 401)

    await page.locator('#token').waitFor({state: 'visible'})
    assert.equal(await page.locator('#token').evaluate((el) => el === document.activeElement), true, 'the token box has focus')
    await page.locator('#token').fill('not-the-token-at-all')
    await page.keyboard.press('Enter')
    await page.getByText('The API refused this token').waitFor()

    await page.locator('#token').fill(TOKEN)
    await page.keyboard.press('Enter')
    await page.locator('#groups tr[data-backend-id="eu-1"]').waitFor()
    assert.equal(await page.locator('#token-section').isHidden(), true)
    assert.equal(await page.evaluate(() => sessionStorage.getItem('edgeproxy.api-token')), TOKEN)
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in local storage')

    for (const id of ['eu-1', 'eu-2', 'us-1']) {
      assert.equal(await page.locator(`#groups tr[data-backend-id="${id}"]`).getAttribute('data-state'), 'healthy', id)
    }
    assert.equal(await page.locator('#pop-status').textContent(), '● ok')
    const facts = await page.locator('#pop-facts').textContent()
    assert.match(facts ?? '', /Region\s*eu/)
    assert.match(facts ?? '', /Store\s*sqlite/)
    assert.match(facts ?? '', /GeoIP database\s*built \d{4}-\d\d-\d\d/)
    assert.match(facts ?? '', /TLS certificate\s*ui\.test · expires \d{4}-\d\d-\d\d \(in [45](\.\d)? days\)/)
    // Trouble ahead is listed in words under Warnings.
    assert.match((await page.locator('#reasons').textContent()) ?? '', /Warnings\s*the TLS certificate ui\.test expires in [45](\.\d)? days/)
    // Grouped by app and region, this POP's region first.
    const groups = await page.locator('details.group summary').allTextContents()
    assert.match(groups[0], /app <b>app<\/b> · region ap/)
    assert.match(groups[1], /app web · region eu\s*this POP/)
    assert.match(groups[2], /app web · region us/)
  })

  test('a backend whose lease ran out says so in words, with how long ago', async () => {
    const row = page.locator('#groups tr[data-backend-id="us-old"]')
    assert.equal(await row.getAttribute('data-state'), 'expired')
    assert.equal((await row.locator('.state').textContent())?.trim(), '✕ expired')
    // Its lease ended 60 s before the row was written; a busy machine may add seconds before the page reads it.
    assert.match((await row.locator('td[data-label="Lease"]').textContent()) ?? '', /^expired [1-3]m\d+s ago/)
  })

  test('hostile ids and apps are shown as text, never run or parsed', async () => {
    const row = page.locator('#groups tr[data-backend-id="<img src=x id=pwned>"]')
    await row.waitFor()
    assert.equal(await row.locator('th').textContent(), '<img src=x id=pwned>')
    assert.equal(await row.getAttribute('data-state'), 'disabled')
    assert.equal(await page.locator('#pwned').count(), 0)
    assert.equal(await page.locator('b', {hasText: 'app'}).count(), 0)
  })

  test('a drain shows within a refresh, as a word', async () => {
    const started = Date.now()
    assert.equal((await api('POST', '/api/v1/backends/eu-2/drain')).status, 200)
    await page.locator('#groups tr[data-backend-id="eu-2"][data-state="draining"]').waitFor({timeout: WITHIN_REFRESH_MS})
    const shownAfterMs = Date.now() - started
    assert.equal((await page.locator('#groups tr[data-backend-id="eu-2"] .state').textContent())?.trim(), '◐ draining')
    assert.match((await page.locator('#backends-summary').textContent()) ?? '', /1 draining/)
    console.log(`# drain shown after ${shownAfterMs} ms (refresh every ${SAMPLE_SECS} s)`)
  })

  test('a live connection moves the bar of the backend it went to, and the traffic chart', async () => {
    const bar = page.locator('#groups tr[data-backend-id="eu-1"] [role="meter"]')
    assert.equal(await bar.getAttribute('aria-valuenow'), '0')
    const widthBefore = await bar.locator('.fill').evaluate((el) => el.getBoundingClientRect().width)
    // eu-2 drains and us-1 is in another region: the connection goes to eu-1.
    held.push(await connectAndGreet(proxy.tcpPort))
    await page.locator('#groups tr[data-backend-id="eu-1"] [role="meter"][aria-valuenow="1"]').waitFor({timeout: WITHIN_REFRESH_MS})
    await page.waitForFunction(() => (document.querySelector('#groups tr[data-backend-id="eu-1"] .fill')?.getBoundingClientRect().width ?? 0) > 0)
    const widthAfter = await bar.locator('.fill').evaluate((el) => el.getBoundingClientRect().width)
    assert.ok(widthAfter > widthBefore, `bar width ${widthBefore} → ${widthAfter}`)
    assert.match((await bar.getAttribute('aria-valuetext')) ?? '', /^1 of hard 8, soft 4/)
    // The chart: one connection in a sample of about 1 s is a peak of about 1/s.
    await page.waitForFunction(() => Number((document.querySelector('#chart-connections') as HTMLElement | null)?.dataset.peak) > 0.5, undefined, {timeout: WITHIN_REFRESH_MS})
    assert.match((await page.locator('#chart-connections svg').getAttribute('aria-label')) ?? '', /^New connections per second: now [\d.]+, peak (0\.[5-9]\d*|1(\.\d+)?) over the last/)
    const traffic = (await api('GET', '/api/v1/traffic')).body as {connections_per_sec: number[]; sample_secs: number; active: number[]}
    assert.equal(traffic.sample_secs, SAMPLE_SECS)
    assert.ok(traffic.connections_per_sec.some((r) => r > 0.5), JSON.stringify(traffic))
    assert.equal(traffic.active.at(-1), 1)
  })

  test('a failed TLS handshake shows on the errors chart', async () => {
    assert.equal(Number(await page.locator('#chart-errors').getAttribute('data-peak')), 0)
    const socket = net.connect(proxy.tlsPort, '127.0.0.1')
    socket.on('error', () => {})
    socket.end('this is not a TLS client hello\r\n\r\n')
    await once(socket, 'close')
    await page.waitForFunction(() => Number((document.querySelector('#chart-errors') as HTMLElement | null)?.dataset.peak) > 0.5, undefined, {timeout: WITHIN_REFRESH_MS})
    assert.match((await page.locator('#chart-errors svg').getAttribute('aria-label')) ?? '', /^Errors per second: now [\d.]+, peak [\d.]+ over the last/)
  })

  test('the route box gives the same answer as GET /api/v1/route', async () => {
    const expected = (await api('GET', '/api/v1/route?ip=127.0.0.1')).body
    await page.locator('#route-ip').fill('127.0.0.1')
    await page.locator('#route-ip').press('Enter')
    await page.locator('#route-chosen').waitFor()
    assert.equal(await page.locator('#route-chosen').getAttribute('data-chosen'), expected.chosen)
    assert.equal(expected.chosen, 'eu-1')
    assert.match((await page.locator('#route-chosen').textContent()) ?? '', /127\.0\.0\.1 → eu-1 \(affinity binding\)/)
    assert.match((await page.locator('#route-answer tr[data-backend-id="eu-2"]').textContent()) ?? '', /no: draining/)
    // A bad address: the API's own message.
    await page.locator('#route-ip').fill('not-an-ip')
    await page.locator('#route-go').click()
    await page.getByText('ip "not-an-ip" must be an IPv4 or IPv6 address').waitFor()
  })

  test('the route box takes an app: one address, two apps, two answers, each as route explain --app --json', async () => {
    // A second app in this POP's region, on the same server as eu-1.
    const reply = await api('POST', '/api/v1/register', {id: 'api-1', app: 'api', region: 'eu', ip: '127.0.0.1', port: backends[0]!.port, soft_limit: 4, hard_limit: 8})
    assert.equal(reply.status, 201, JSON.stringify(reply.body))
    await page.locator('#groups tr[data-backend-id="api-1"]').waitFor({timeout: WITHIN_REFRESH_MS})
    // The box is labelled, so it is found by its name, and Tab goes address → app → Explain.
    assert.equal(await page.getByLabel('App', {exact: true}).getAttribute('id'), 'route-app')
    await page.locator('#route-ip').fill('127.0.0.1')
    await page.locator('#route-ip').focus()
    await page.keyboard.press('Tab')
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'route-app')
    const chosen: Record<string, string> = {}
    for (const app of ['web', 'api']) {
      const cli = await runCli(['route', 'explain', '127.0.0.1', '--app', app, '--api-url', apiUrl, '--json'], {env: {EDGEPROXY_API_TOKEN: TOKEN}})
      assert.equal(cli.code, 0, cli.stderr)
      const expected = JSON.parse(cli.stdout) as {app: string; chosen: string; reason: string; candidates: {id: string}[]}
      assert.equal(expected.app, app)
      await page.locator('#route-app').fill(app)
      await page.locator('#route-app').press('Enter')
      await page.locator(`#route-chosen[data-chosen="${expected.chosen}"]`).waitFor()
      assert.match((await page.locator('#route-answer dl').textContent()) ?? '', new RegExp(`App\\s*${app}`))
      assert.equal((await page.locator('#route-chosen').textContent())?.endsWith(`(${expected.reason})`), true)
      const shown = await page.locator('#route-answer tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-backend-id')))
      assert.deepEqual(shown, expected.candidates.map((c) => c.id), `the candidates for app ${app}, in the CLI's order`)
      chosen[app] = expected.chosen
    }
    // 127.0.0.1 is bound to eu-1 (its live connection); among app api's backends the binding does not apply.
    assert.deepEqual(chosen, {web: 'eu-1', api: 'api-1'})
    // Without an app: every app's backends, as before.
    await page.locator('#route-app').fill('')
    await page.locator('#route-go').click()
    await page.locator('#route-answer tr[data-backend-id="api-1"]').waitFor()
    assert.match((await page.locator('#route-answer dl').textContent()) ?? '', /App\s*every app/)
  })

  test('a backend whose process is gone shows as down by its check, with the check and circuit columns', async () => {
    const row = page.locator('#groups tr[data-backend-id="us-1"]')
    assert.match((await row.locator('td[data-label="Check"]').textContent()) ?? '', /^UP/)
    assert.equal(await row.locator('td[data-label="Circuit"]').textContent(), 'closed')
    await backends[2]!.close()
    await page.locator('#groups tr[data-backend-id="us-1"][data-state="down"]').waitFor({timeout: 5000})
    assert.match((await row.locator('td[data-label="Check"]').textContent()) ?? '', /^DOWN/)
    assert.equal((await row.locator('.state').textContent())?.trim(), '✕ down')
    assert.match((await row.locator('.state').getAttribute('title')) ?? '', /^down by active check/)
    // The word is the POP's own (routing_state), not worked out again by the page.
    assert.equal(((await api('GET', '/api/v1/backends/us-1')).body.backend as {routing_state: string}).routing_state, 'down')
  })

  test('keyboard: Tab reaches every control in order; states are words; reduced motion is respected', async () => {
    await page.locator('body').focus()
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur())
    const reached: string[] = []
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab')
      reached.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName.toLowerCase() || ''))
    }
    for (const id of ['refresh', 'pause', 'filter', 'route-ip', 'route-app', 'route-go']) assert.ok(reached.includes(id), `${id} not reached by Tab: ${reached.join(' ')}`)
    assert.ok(reached.indexOf('refresh') < reached.indexOf('filter') && reached.indexOf('filter') < reached.indexOf('route-ip'))
    assert.ok(reached.includes('summary'), 'the backend groups open and close from the keyboard')
    // Pause from the keyboard.
    await page.locator('#pause').focus()
    await page.keyboard.press('Enter')
    assert.equal(await page.locator('#pause').getAttribute('aria-pressed'), 'true')
    await page.keyboard.press('Enter')
    assert.equal(await page.locator('#pause').getAttribute('aria-pressed'), 'false')
    // The filter narrows the list from the keyboard.
    await page.locator('#filter').fill('draining')
    assert.deepEqual(await page.locator('#groups tr[data-backend-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-backend-id'))), ['eu-2'])
    await page.locator('#filter').fill('')

    // Every state cell has a word, not only a colour.
    for (const text of await page.locator('#groups .state').allTextContents()) assert.match(text, /[a-z]{4,}/)
    await page.emulateMedia({reducedMotion: 'reduce'})
    assert.equal(await page.locator('#groups tr[data-backend-id="eu-1"] .fill').evaluate((el) => getComputedStyle(el).transitionDuration), '0s')
    await page.emulateMedia({reducedMotion: 'no-preference'})
    assert.deepEqual(foreignRequests, [], 'the page loads nothing from elsewhere')
  })

  test('readable at 1280×800 and at phone width: screenshots for people to look at', async (t) => {
    const desktop = path.join(OUTPUT, 'status-page-1280x800.png')
    await page.setViewportSize({width: 1280, height: 800})
    await page.locator('#route-ip').fill('127.0.0.1')
    await page.locator('#route-go').click()
    await page.locator('#route-chosen').waitFor()
    await page.evaluate(() => window.scrollTo(0, 0))
    await page.screenshot({path: desktop})
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 1280), 'no horizontal scroll at 1280 px')

    const phone = path.join(OUTPUT, 'status-page-390x844-phone.png')
    const phoneBackends = path.join(OUTPUT, 'status-page-390x844-phone-backends.png')
    await page.setViewportSize({width: 390, height: 844})
    await page.locator('#groups tr[data-backend-id="eu-1"]').waitFor()
    const width = await page.evaluate(() => document.documentElement.scrollWidth)
    assert.ok(width <= 390, `the page is ${width} px wide on a 390 px screen`)
    // Each cell says which column it is, since the header row is hidden on a phone.
    assert.equal(await page.locator('#groups tr[data-backend-id="eu-1"] td').first().getAttribute('data-label'), 'State')
    await page.evaluate(() => window.scrollTo(0, 0))
    await page.screenshot({path: phone})
    await page.locator('#backends-h').evaluate((el) => el.scrollIntoView())
    await page.screenshot({path: phoneBackends})
    for (const file of [desktop, phone, phoneBackends]) {
      assert.ok(fs.statSync(file).size > 10_000, file)
      t.diagnostic(`screenshot: ${file}`)
      console.log(`# screenshot: ${file}`)
    }
  })
})

describe('the status page of a POP on Corrosion: the cluster as the replicated table shows it', {skip: skipReason}, () => {
  const tmp = tempDir('edgeproxy-ui-corrosion-')
  const schemaDir = backendsSchemaDir()
  const servers: TestBackend[] = []
  const pops: Pop[] = []
  let cluster: EmulatorCluster
  let context: BrowserContext
  let page: Page

  before(async () => {
    cluster = await createCluster(2, {delayMs: 20, schemaPaths: [schemaDir]})
    for (const id of ['sa-1', 'eu-1']) servers.push(await startBackend(id))
    for (const [i, region] of ['sa', 'eu'].entries()) pops.push(await startPop({region, corrosionUrl: cluster.agents[i]!.url, env: {EDGEPROXY_UI_SAMPLE_SECS: '1'}}))
    // Each backend registers at the POP of its region; the other POP learns it by replication.
    for (const [i, pop] of pops.entries()) {
      const reply = await apiCall(pop, 'POST', '/api/v1/register', {id: servers[i]!.id, app: 'web', region: pop.region, ip: '127.0.0.1', port: servers[i]!.port})
      assert.equal(reply.status, 201, JSON.stringify(reply.body))
    }
    // A backend of region us that registers at the eu POP (none in its own region), and one written
    // straight into the table with SQL (the README quick start's INSERT), which no POP registered.
    const us = await apiCall(pops[1]!, 'POST', '/api/v1/register', {id: 'us-1', app: 'web', region: 'us', ip: '127.0.0.1', port: servers[1]!.port})
    assert.equal(us.status, 201, JSON.stringify(us.body))
    cluster.agents[0]!.transact([["INSERT INTO backends (id, app, region, wg_ip, port, healthy, weight, soft_limit, hard_limit) VALUES ('us-sql', 'web', 'us', '127.0.0.1', ?, 1, 2, 100, 150)", [servers[1]!.port]]])
    ;({context, page} = await launchChromium(path.join(tmp.dir, 'chromium-profile')))
  })
  after(async () => {
    await context?.close()
    for (const pop of pops) await pop.proxy.stop()
    for (const s of servers) await s.close()
    await cluster?.close()
    fs.rmSync(schemaDir, {recursive: true, force: true})
    tmp.cleanup()
  })

  test('without an API token no token is asked; every region of the table, the subscription, a screenshot', async (t) => {
    await page.goto(`${pops[0]!.api}/ui`)
    await page.locator('#cluster article[data-region="eu"] li', {hasText: 'eu-1'}).waitFor({timeout: 10_000})
    assert.equal(await page.locator('#token-section').isHidden(), true)
    await page.locator('#cluster article[data-region="us"] li[data-backend-id="us-sql"]').waitFor({timeout: 10_000})
    const regions = await page.locator('#cluster article').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-region')))
    assert.deepEqual(regions, ['sa', 'eu', 'us'], "this POP's region first")
    assert.match((await page.locator('#cluster article[data-region="sa"] h3').textContent()) ?? '', /Region sa\s*this POP/)
    assert.match((await page.locator('#cluster article[data-region="sa"]').textContent()) ?? '', /1 backend: 1 healthy.*sa-1/s)
    // Which POP registered each backend, from the replicated registered_by column: us-1 registered
    // at the other POP (eu) says so on this POP's page; a row written by SQL has no POP.
    const registeredBy = async (id: string) => (await page.locator(`#cluster li[data-backend-id="${id}"]`).textContent())?.replace(/^.*· /s, '')
    assert.deepEqual(
      {sa: await registeredBy('sa-1'), eu: await registeredBy('eu-1'), us: await registeredBy('us-1'), sql: await registeredBy('us-sql')},
      {sa: 'registered by sa', eu: 'registered by eu', us: 'registered by eu', sql: 'registered by -'},
    )
    assert.match((await page.locator('#groups tr[data-backend-id="us-1"] td[data-label="Lease"]').textContent()) ?? '', /· registered by eu$/)
    const apiView = (await apiCall(pops[0]!, 'GET', '/api/v1/backends')).body as {backends: {id: string; registered_by: string | null}[]}
    assert.deepEqual(Object.fromEntries(apiView.backends.map((b) => [b.id, b.registered_by])), {'eu-1': 'eu', 'sa-1': 'sa', 'us-1': 'eu', 'us-sql': null})
    assert.match((await page.locator('#agent-facts').textContent()) ?? '', /Subscription\s*● connected/)
    // The agent's own view of its cluster, from /health's corrosion section (the emulator's real
    // /v1/members and gaps): the other agent of the two is alive, nothing is missing.
    const health = (await (await fetch(`${pops[0]!.api}/health`)).json()) as {corrosion: {members: number; gaps: number}}
    assert.deepEqual([health.corrosion.members, health.corrosion.gaps], [1, 0], JSON.stringify(health.corrosion))
    await page.waitForFunction(() => /Members\s*1 other agent alive.*Gaps\s*none/s.test(document.querySelector('#agent-facts')?.textContent ?? ''), undefined, {timeout: 10_000})
    assert.match((await page.locator('#pop-facts').textContent()) ?? '', /Store\s*corrosion:http/)
    // The backends table groups the replicated rows by region too.
    assert.deepEqual(await page.locator('#groups tr[data-backend-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-backend-id'))), ['sa-1', 'eu-1', 'us-1', 'us-sql'])
    // A drain written at the other POP reaches this POP's page through the agents.
    assert.equal((await apiCall(pops[1]!, 'POST', '/api/v1/backends/eu-1/drain')).status, 200)
    await page.locator('#cluster article[data-region="eu"] [data-state="draining"]').waitFor({timeout: 10_000})
    fs.mkdirSync(OUTPUT, {recursive: true})
    const shot = path.join(OUTPUT, 'status-page-corrosion-cluster.png')
    await page.locator('#cluster').screenshot({path: shot})
    t.diagnostic(`screenshot: ${shot}`)
    console.log(`# screenshot: ${shot}`)
  })
})
