// End to end: `bin/run.js start` with TCP and TLS listeners (PROXY headers, a short-lived certificate
// made here with openssl), real backends, and real connections: exact counter deltas per listener,
// per backend and per routing tier on GET /metrics; active gauges back to 0; a deleted backend's
// series gone; promtool's verdict on a real scrape; the token rules of both endpoints; the
// certificate expiry warning in the log, /health and the metrics; and, on an emulated Corrosion
// agent, the store kind and the subscription state.
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {X509Certificate} from 'node:crypto'
import {once} from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import tls from 'node:tls'

import {parseExposition, sampleValue, type Sample} from '../../src/metrics/exposition.js'
import {encodeProxyV1} from '../../src/proxy/proxy-protocol.js'
import {closedPort, readUntil, startBackend, type TestBackend} from '../support/backends.js'
import {emulatorTarget} from '../support/corrosion-emulator/targets.js'
import {startPop} from '../support/multi-pop.js'
import {RoutingDb} from '../support/routing-db.js'
import {startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'

const BR_IP = '200.160.2.3' // registro.br
const AR_IP = '181.30.0.1' // Argentina: region sa, no backend in AR
const UNKNOWN_IP = '192.0.2.55' // TEST-NET-1: no country, so the POP region
const API_TOKEN = 'metrics-e2e-api-token-0123456789'
const METRICS_TOKEN = 'metrics-e2e-scrape-token-0123456789'
const GREETING_BYTES = 'br-1\n'.length // every backend id here has 4 characters
const PING = 'ping'

/** One client connection through the proxy: PROXY header, optional TLS, greeting, one echo, a clean close. */
async function roundTrip(port: number, clientIp: string, options: {tls?: boolean; hold?: boolean} = {}): Promise<{id: string; close: () => Promise<void>}> {
  const raw = net.connect({host: '127.0.0.1', port})
  raw.on('error', () => {})
  await once(raw, 'connect')
  raw.write(encodeProxyV1({address: clientIp, port: 40000}, {address: '127.0.0.1', port}))
  let socket: net.Socket = raw
  if (options.tls) {
    socket = tls.connect({socket: raw, rejectUnauthorized: false, servername: 'localhost'})
    socket.on('error', () => {})
    await once(socket, 'secureConnect')
  }
  const greeting = await readUntil(socket, (t) => t.includes('\n'))
  const id = greeting.slice(0, greeting.indexOf('\n'))
  socket.write(PING)
  await readUntil(socket, (t) => t.includes(PING))
  const close = async () => {
    const closed = once(socket, 'close')
    socket.end()
    socket.resume()
    await closed
  }
  if (!options.hold) await close()
  return {id, close}
}

async function get(url: string, token?: string): Promise<{status: number; type: string; text: string}> {
  const res = await fetch(url, {headers: token ? {authorization: `Bearer ${token}`} : {}})
  return {status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text()}
}

async function eventually<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const portOf = (address: unknown) => Number(String(address).slice(String(address).lastIndexOf(':') + 1))

describe('metrics of a running POP', () => {
  const tmp = tempDir()
  const certPath = path.join(tmp.dir, 'cert.pem')
  const keyPath = path.join(tmp.dir, 'key.pem')
  let proxy: ProxyProcess
  let db: RoutingDb
  let apiUrl: string
  let metricsUrl: string
  const backends: TestBackend[] = []

  const scrape = async (): Promise<Sample[]> => {
    const res = await get(metricsUrl, METRICS_TOKEN)
    assert.equal(res.status, 200, res.text)
    return parseExposition(res.text)
  }
  /** The figures the tests compare, read from one scrape. */
  const figures = (s: Sample[]) => {
    const v = (name: string, labels: Record<string, string> = {}) => sampleValue(s, name, labels) ?? 0
    const backend = (id: string) => ({
      connections: v('edgeproxy_backend_connections_total', {backend: id}),
      active: v('edgeproxy_backend_connections_active', {backend: id}),
      errors: v('edgeproxy_backend_connect_errors_total', {backend: id}),
      connects: v('edgeproxy_backend_connect_time_seconds_count', {backend: id}),
    })
    return {
      tcp: {total: v('edgeproxy_connections_total', {listener: 'tcp'}), active: v('edgeproxy_connections_active', {listener: 'tcp'}), sent: v('edgeproxy_bytes_sent_total', {listener: 'tcp'}), received: v('edgeproxy_bytes_received_total', {listener: 'tcp'})},
      tls: {total: v('edgeproxy_connections_total', {listener: 'tls'}), active: v('edgeproxy_connections_active', {listener: 'tls'}), sent: v('edgeproxy_bytes_sent_total', {listener: 'tls'}), received: v('edgeproxy_bytes_received_total', {listener: 'tls'})},
      tiers: Object.fromEntries(['country', 'region', 'pop', 'other', 'affinity'].map((tier) => [tier, v('edgeproxy_routing_decisions_total', {tier})])),
      br: backend('br-1'),
      us: backend('us-1'),
      dead: backend('dead'),
      connectFailed: v('edgeproxy_connection_errors_total', {reason: 'connect_failed'}),
      failovers: v('edgeproxy_failovers_total'),
    }
  }
  type Figures = ReturnType<typeof figures>
  /** Numeric leaves of b minus a, keeping only the non-zero ones. */
  const delta = (a: Figures, b: Figures) => {
    const out: Record<string, number> = {}
    const walk = (x: Record<string, unknown>, y: Record<string, unknown>, prefix: string) => {
      for (const k of Object.keys(y)) {
        if (typeof y[k] === 'number') {
          const d = (y[k] as number) - ((x[k] as number) ?? 0)
          if (d !== 0) out[prefix + k] = d
        } else walk(x[k] as Record<string, unknown>, y[k] as Record<string, unknown>, `${prefix}${k}.`)
      }
    }
    walk(a, b, '')
    return out
  }
  const settled = () => eventually(async () => {
    const s = await scrape()
    const f = figures(s)
    return f.tcp.active === 0 && f.tls.active === 0 ? f : undefined
  }, 'connections_active back to 0')

  before(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=short-lived.test'], {stdio: 'ignore'})
    for (const id of ['br-1', 'us-1']) backends.push(await startBackend(id))
    proxy = await startProxy({
      env: {
        EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'),
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_REGION: 'us',
        EDGEPROXY_PROXY_PROTOCOL: 'true',
        EDGEPROXY_TLS_ENABLED: 'true',
        EDGEPROXY_TLS_LISTEN_ADDR: '127.0.0.1:0',
        EDGEPROXY_TLS_CERT: certPath,
        EDGEPROXY_TLS_KEY: keyPath,
        EDGEPROXY_API_TOKEN: API_TOKEN,
        EDGEPROXY_METRICS_LISTEN_ADDR: '127.0.0.1:0',
        EDGEPROXY_METRICS_TOKEN: METRICS_TOKEN,
      },
    })
    apiUrl = `http://127.0.0.1:${portOf(proxy.events.find((e) => e.event === 'started')!.api)}`
    metricsUrl = `http://127.0.0.1:${portOf((await proxy.waitFor('metrics_listening')).address)}/metrics`
    db = new RoutingDb(path.join(tmp.dir, 'routing.db'))
    db.insert({id: 'br-1', region: 'sa', country: 'BR', port: backends[0].port})
    db.insert({id: 'us-1', region: 'us', country: 'US', port: backends[1].port})
    await proxy.next('store_reloaded', (e) => e.backends === 2)
  })
  after(async () => {
    db?.close()
    await proxy?.stop()
    for (const b of backends) await b.close()
    tmp.cleanup()
  })

  test('N connections move the counters by exactly N, per listener, per backend and per tier', async () => {
    const before = await settled()
    const ids: string[] = []
    for (const ip of [BR_IP, AR_IP, UNKNOWN_IP]) for (let i = 0; i < 5; i++) ids.push((await roundTrip(proxy.tcpPort, ip)).id)
    for (let i = 0; i < 2; i++) ids.push((await roundTrip(proxy.tlsPort, BR_IP, {tls: true})).id)
    assert.deepEqual(ids, [...Array(10).fill('br-1'), ...Array(5).fill('us-1'), 'br-1', 'br-1'])
    const after = await settled()
    const perConnection = {sent: PING.length, received: GREETING_BYTES + PING.length}
    assert.deepEqual(delta(before, after), {
      'tcp.total': 15,
      'tcp.sent': 15 * perConnection.sent,
      'tcp.received': 15 * perConnection.received,
      'tls.total': 2,
      'tls.sent': 2 * perConnection.sent,
      'tls.received': 2 * perConnection.received,
      // The first connection of each client picks by geography; the other four (and TLS) follow the binding.
      'tiers.country': 1,
      'tiers.region': 1,
      'tiers.pop': 1,
      'tiers.affinity': 14,
      'br.connections': 12,
      'br.connects': 12,
      'us.connections': 5,
      'us.connects': 5,
    })
  })

  test('active gauges count an open connection and are back to 0 after it closes', async () => {
    const held = await roundTrip(proxy.tlsPort, BR_IP, {tls: true, hold: true})
    const open = figures(await scrape())
    assert.equal(open.tls.active, 1)
    assert.equal(open.br.active, 1)
    assert.equal(open.tcp.active, 0)
    await held.close()
    const closed = await settled()
    assert.equal(closed.br.active, 0)
    assert.equal(closed.us.active, 0)
  })

  test('a refused connect counts against its backend, fails over, and the retry is counted too', async () => {
    const before = await settled()
    db.insert({id: 'dead', region: 'us', country: 'US', port: await closedPort(), weight: 10})
    await proxy.next('store_reloaded', (e) => e.backends === 3)
    // dead and us-1 tie on score; dead was never picked, so it goes first, is refused, and us-1 takes over.
    assert.equal((await roundTrip(proxy.tcpPort, '192.0.2.77')).id, 'us-1')
    const after = await settled()
    assert.deepEqual(delta(before, after), {
      'tcp.total': 1,
      'tcp.sent': PING.length,
      'tcp.received': GREETING_BYTES + PING.length,
      'tiers.pop': 2,
      'us.connections': 1,
      'us.connects': 1,
      'dead.connections': 1,
      'dead.errors': 1,
      connectFailed: 1,
      failovers: 1,
    })
    const s = await scrape()
    assert.equal(sampleValue(s, 'edgeproxy_backends', {state: 'cooling_down'}), 1, 'dead, after its refusal')
    assert.equal(sampleValue(s, 'edgeproxy_backends', {state: 'up'}), 2)
    assert.equal(sampleValue(s, 'edgeproxy_backend_up', {backend: 'dead'}), 0)
  })

  test('the scrape passes promtool check metrics', async (t) => {
    const text = (await get(metricsUrl, METRICS_TOKEN)).text
    const result = spawnSync('promtool', ['check', 'metrics'], {input: text, encoding: 'utf8'})
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      t.skip('promtool is not installed (Debian package prometheus; .ci/run installs it)')
      return
    }
    assert.equal(result.status, 0, `promtool check metrics:\n${result.stdout}${result.stderr}`)
    assert.equal(sampleValue(parseExposition(text), 'edgeproxy_backend_connect_time_seconds_bucket', {backend: 'dead', app: 'web', region: 'us', le: '+Inf'}), 0)
  })

  test('a client that matches nothing near it counts as "other"', async () => {
    const before = await settled()
    const drained = await fetch(`${apiUrl}/api/v1/backends/us-1/drain`, {method: 'POST', headers: {authorization: `Bearer ${API_TOKEN}`}})
    assert.equal(drained.status, 200)
    // us-1 drains and dead cools down after its refusal: br-1 (sa) is all that is left for this POP (us).
    assert.equal((await roundTrip(proxy.tcpPort, '192.0.2.99')).id, 'br-1')
    const after = await settled()
    assert.equal(delta(before, after)['tiers.other'], 1)
    assert.equal(sampleValue(await scrape(), 'edgeproxy_backend_up', {backend: 'us-1'}), 0)
  })

  test("a deleted backend's series disappear (API deregister, and a row deleted from the store)", async () => {
    let s = await scrape()
    assert.ok(s.some((x) => x.labels.backend === 'us-1') && s.some((x) => x.labels.backend === 'dead'))
    const res = await fetch(`${apiUrl}/api/v1/backends/us-1`, {method: 'DELETE', headers: {authorization: `Bearer ${API_TOKEN}`}})
    assert.equal(res.status, 200)
    db.delete('dead')
    // Deregister deletes the row: only br-1 is left once both deletes are read.
    await proxy.next('store_reloaded', (e) => e.backends === 1)
    s = await scrape()
    assert.deepEqual(s.filter((x) => x.labels.backend === 'us-1' || x.labels.backend === 'dead').map((x) => x.name), [])
    assert.equal(sampleValue(s, 'edgeproxy_backend_connections_total', {backend: 'br-1'}), 14, 'the others keep theirs')
    assert.equal(sampleValue(s, 'edgeproxy_store_backends', {state: 'healthy'}), 1)
  })

  test('both endpoints keep the token rules: the API its token, the metrics listener its own', async () => {
    assert.equal((await get(`${apiUrl}/metrics`)).status, 401)
    assert.equal((await get(`${apiUrl}/metrics`, METRICS_TOKEN)).status, 401, 'the metrics token opens only the metrics listener')
    const api = await get(`${apiUrl}/metrics`, API_TOKEN)
    assert.equal(api.status, 200)
    assert.match(api.type, /^text\/plain; version=0\.0\.4/)
    assert.match(api.text, /^edgeproxy_build_info\{version="[^"]+",region="us",store="sqlite"\} 1$/m)
    assert.equal((await get(metricsUrl)).status, 401)
    assert.equal((await get(metricsUrl, API_TOKEN)).status, 401, 'with its own token, the API token does not open it')
    assert.equal((await get(metricsUrl.replace('/metrics', '/health'), METRICS_TOKEN)).status, 404)
    const post = await fetch(metricsUrl, {method: 'POST', headers: {authorization: `Bearer ${METRICS_TOKEN}`}})
    assert.equal(post.status, 405)
  })

  test('a certificate close to expiry is logged at start, reported on /health, and exported', async () => {
    const notAfterMs = Date.parse(new X509Certificate(fs.readFileSync(certPath)).validTo)
    const logged = await proxy.waitFor('tls_certificate_expiring')
    assert.equal(logged.level, 'warn')
    assert.equal(logged.subject, 'short-lived.test')
    assert.ok(Number(logged.days_left) > 1.9 && Number(logged.days_left) <= 2, String(logged.days_left))
    const health = (await (await fetch(`${apiUrl}/health`)).json()) as {status: string; warnings?: string[]}
    assert.equal(health.status, 'ok', 'expiring is a warning, not degraded')
    assert.ok(health.warnings?.some((w) => /TLS certificate short-lived\.test expires in 2 days/.test(w)), JSON.stringify(health.warnings))
    assert.equal(sampleValue(await scrape(), 'edgeproxy_tls_certificate_expiry_timestamp_seconds'), notAfterMs / 1000)
  })
})

describe('metrics of a POP on Corrosion', () => {
  test('the store kind and the subscription state follow the agent: connected, then down when it stops', async (t) => {
    const target = await emulatorTarget()
    t.after(() => target.close())
    const pop = await startPop({region: 'sa', corrosionUrl: target.url, pollSecs: 0.2})
    t.after(() => pop.proxy.stop())
    const scrapeText = async () => parseExposition(await (await fetch(`${pop.api}/metrics`)).text())
    const connected = await eventually(async () => {
      const s = await scrapeText()
      return sampleValue(s, 'edgeproxy_store_subscription_state', {state: 'connected'}) === 1 ? s : undefined
    }, 'subscription connected')
    assert.equal(sampleValue(connected, 'edgeproxy_build_info', {store: 'corrosion', region: 'sa'}), 1)
    assert.equal(sampleValue(connected, 'edgeproxy_store_current'), 1)
    await target.emulator.stop()
    const down = await eventually(async () => {
      const s = await scrapeText()
      return sampleValue(s, 'edgeproxy_store_current') === 0 ? s : undefined
    }, 'store_current 0 once the agent is gone', 10_000)
    const state = down.find((x) => x.name === 'edgeproxy_store_subscription_state')
    assert.ok(state !== undefined && state.labels.state !== 'connected' && state.value === 1, JSON.stringify(state))
  })
})

describe('metrics of health checks, circuits and admission', () => {
  test('check results, transitions, admission refusals by reason and the client table, exactly; promtool accepts the scrape', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const good = await startBackend('good')
    t.after(() => good.close())
    const proxy = await startProxy({
      env: {
        EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'),
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_REGION: 'sa',
        EDGEPROXY_PROXY_PROTOCOL: 'true',
        EDGEPROXY_API_TOKEN: API_TOKEN,
        EDGEPROXY_HEALTH_CHECK_ENABLED: 'true',
        EDGEPROXY_HEALTH_CHECK_INTERVAL_SECS: '0.2',
        EDGEPROXY_HEALTH_CHECK_TIMEOUT_SECS: '0.15',
        EDGEPROXY_HEALTH_UNHEALTHY_THRESHOLD: '2',
        EDGEPROXY_CIRCUIT_BREAKER_ENABLED: 'true',
        EDGEPROXY_MAX_CONNS_PER_IP: '1',
      },
    })
    t.after(() => proxy.stop())
    const api = `http://127.0.0.1:${portOf(proxy.events.find((e) => e.event === 'started')!.api)}`
    const tcpPort = portOf(proxy.events.find((e) => e.event === 'started')!.listen)
    const scrapeApi = async () => {
      const res = await get(`${api}/metrics`, API_TOKEN)
      assert.equal(res.status, 200, res.text)
      return {samples: parseExposition(res.text), text: res.text}
    }
    const db = new RoutingDb(path.join(tmp.dir, 'routing.db'))
    t.after(() => db.close())
    db.insert({id: 'good', region: 'sa', country: 'BR', port: good.port})
    db.insert({id: 'gone', region: 'sa', country: 'BR', port: await closedPort()})
    await proxy.next('store_reloaded', (e) => e.backends === 2)

    // The dead backend fails its checks and goes down; the live one passes.
    const down = await eventually(async () => {
      const {samples} = await scrapeApi()
      // Both: the dead one can go down before the live one's first check has answered (a busy machine).
      const isDown = (sampleValue(samples, 'edgeproxy_health_transitions_total', {to: 'down'}) ?? 0) >= 1
      return isDown && (sampleValue(samples, 'edgeproxy_health_checks_total', {result: 'pass'}) ?? 0) >= 1 ? samples : undefined
    }, 'the dead backend marked down by its checks and the live one passing', 15_000)
    // A backend never checked before goes down on its first failed check (as HAProxy's initial state).
    assert.ok((sampleValue(down, 'edgeproxy_health_checks_total', {result: 'fail'}) ?? 0) >= 1)
    assert.ok((sampleValue(down, 'edgeproxy_health_checks_total', {result: 'pass'}) ?? 0) >= 1)
    assert.equal(sampleValue(down, 'edgeproxy_backends', {state: 'down'}), 1)
    assert.equal(sampleValue(down, 'edgeproxy_backend_up', {backend: 'gone'}), 0)
    assert.equal(sampleValue(down, 'edgeproxy_circuit_transitions_total', {to: 'open'}), 0)

    // One client held open; each further connect of the same client is refused at accept: exactly N.
    const before = (await scrapeApi()).samples
    const held = await roundTrip(tcpPort, BR_IP, {hold: true})
    assert.equal(held.id, 'good')
    const N = 3
    for (let i = 0; i < N; i++) {
      const refused = net.connect({host: '127.0.0.1', port: tcpPort})
      refused.on('error', () => {})
      await once(refused, 'connect')
      refused.write(encodeProxyV1({address: BR_IP, port: 40001 + i}, {address: '127.0.0.1', port: tcpPort}))
      refused.resume()
      await once(refused, 'close')
    }
    const after = await eventually(async () => {
      const {samples} = await scrapeApi()
      return sampleValue(samples, 'edgeproxy_connection_errors_total', {reason: 'conn_limit'}) === (sampleValue(before, 'edgeproxy_connection_errors_total', {reason: 'conn_limit'}) ?? 0) + N ? samples : undefined
    }, `${N} conn_limit refusals`)
    assert.equal(sampleValue(after, 'edgeproxy_connection_errors_total', {reason: 'rate_limited'}), 0)
    assert.equal(sampleValue(after, 'edgeproxy_connection_errors_total', {reason: 'max_connections'}), 0)
    assert.equal(sampleValue(after, 'edgeproxy_admission_clients'), 1, 'one client key')
    assert.equal(sampleValue(after, 'edgeproxy_backend_connections_total', {backend: 'good'}), 1, 'refused connects dial nothing')
    await held.close()

    const {text} = await scrapeApi()
    const check = spawnSync('promtool', ['check', 'metrics'], {input: text, encoding: 'utf8'})
    if (check.error) t.diagnostic('promtool is not installed (Debian package prometheus; .ci/run installs it): exposition not checked')
    else assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`)
  })
})
