// The Auto-Discovery API contract over real HTTP, against `bin/run.js start` on a temp routing.db:
// every endpoint and status, validation (hostile ids and fields refused, nothing half-written on any
// error), body limits and content types, bearer-token enforcement, and the refusal to listen beyond
// loopback without a token.
import assert from 'node:assert/strict'
import net from 'node:net'
import path from 'node:path'
import {Readable} from 'node:stream'
import {after, before, describe, test} from 'node:test'

import {request} from 'undici'

import {RoutingDb} from '../support/routing-db.js'
import {startProxy, tempDir, type LogEvent, type ProxyProcess} from '../support/proxy-process.js'

const BR_IP = '200.160.2.3' // registro.br
const FR_IP = '90.0.0.1' // Orange France
const TOKEN = 'e2e-token-0123456789abcdef0123456789'
const HOSTILE_ID = "x'); DROP TABLE backends;--"
const MAX_BODY = 64 * 1024

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
}

interface CallOptions {
  /** A value sent as JSON (application/json). */
  json?: unknown
  /** A raw body, sent as is (a string/Buffer with Content-Length, an async iterable chunked). */
  raw?: string | Buffer | AsyncIterable<Buffer>
  /** Content-Type for a raw body; none when omitted. */
  contentType?: string
  token?: string
  authorization?: string
}

function apiBase(started: LogEvent): string {
  const text = String(started.api)
  return `http://127.0.0.1:${Number(text.slice(text.lastIndexOf(':') + 1))}`
}

async function call(base: string, method: string, urlPath: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = {}
  let body: string | Buffer | Readable | undefined
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(options.json)
  } else if (options.raw !== undefined) {
    body = typeof options.raw === 'string' || Buffer.isBuffer(options.raw) ? options.raw : Readable.from(options.raw)
    if (options.contentType !== undefined) headers['content-type'] = options.contentType
  }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  if (options.authorization !== undefined) headers.authorization = options.authorization
  const res = await request(`${base}${urlPath}`, {method: method as 'GET', headers, body})
  const text = await res.body.text()
  assert.match(String(res.headers['content-type']), /^application\/json/, `${method} ${urlPath} answered ${text}`)
  return {status: res.statusCode, headers: res.headers, body: JSON.parse(text)}
}

/** Asserts a JSON error reply: status, error.code and error.field (undefined = no field). */
function assertError(reply: Reply, status: number, code: string, field?: string): void {
  assert.equal(reply.status, status, JSON.stringify(reply.body))
  assert.equal(reply.body.error.code, code)
  assert.equal(reply.body.error.field, field)
  assert.equal(typeof reply.body.error.message, 'string')
}

const backend = (id: string, over: Record<string, unknown> = {}) => ({id, app: 'web', region: 'sa', ip: '10.50.1.1', port: 9000, ...over})

async function* chunks(total: number, size = 8 * 1024): AsyncIterable<Buffer> {
  for (let sent = 0; sent < total; sent += size) yield Buffer.alloc(Math.min(size, total - sent), 0x20)
}

describe('Auto-Discovery API without a token (loopback)', () => {
  const tmp = tempDir()
  const dbPath = path.join(tmp.dir, 'routing.db')
  let proxy: ProxyProcess
  let base: string
  let db: RoutingDb

  /** Every stored row, through a second connection: what "nothing half-written" is checked against. */
  const rows = () => db.db.prepare('SELECT * FROM backends ORDER BY id').all()
  const tableExists = () => db.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'backends'").get() as {n: number}
  const health = async () => (await call(base, 'GET', '/health')).body

  /** Sends a request expected to fail and checks the store did not change. */
  async function refusedWithoutWrite(
    send: () => Promise<Reply>,
    status: number,
    code: string,
    field?: string,
  ): Promise<Reply> {
    const before = rows()
    const writesBefore = (await health()).store.writes
    const reply = await send()
    assertError(reply, status, code, field)
    assert.deepEqual(rows(), before, 'the stored rows changed on an error')
    assert.equal((await health()).store.writes, writesBefore)
    return reply
  }

  before(async () => {
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_REGION: 'sa', EDGEPROXY_DB_RELOAD_SECS: '60'}})
    base = apiBase(await proxy.waitFor('started'))
    db = new RoutingDb(dbPath)
  })
  after(async () => {
    db?.close()
    await proxy?.stop()
    tmp.cleanup()
  })

  test('the started event carries the bound API address', async () => {
    const started = await proxy.waitFor('started')
    assert.match(String(started.api), /^127\.0\.0\.1:\d+$/)
    assert.notEqual(started.api, '127.0.0.1:0')
  })

  test('GET /health reports the version, the store kind and whether it is current', async () => {
    const reply = await call(base, 'GET', '/health')
    assert.equal(reply.status, 200)
    assert.equal(reply.body.status, 'ok')
    assert.equal(typeof reply.body.version, 'string')
    assert.equal(reply.body.backends, 0)
    assert.equal(typeof reply.body.uptime_secs, 'number')
    assert.equal(reply.body.store.kind, 'sqlite')
    assert.equal(reply.body.store.current, true)
    assert.equal(reply.body.store.target, `sqlite:${dbPath}`)
    assert.equal(reply.body.store.writes, 0)
    assert.equal(reply.headers['cache-control'], 'no-store')
  })

  test('register answers 201 created, then 200 updated for the same id', async () => {
    const created = await call(base, 'POST', '/api/v1/register', {json: backend('reg-1')})
    assert.equal(created.status, 201)
    assert.equal(created.body.created, true)
    assert.equal(created.body.updated, false)
    assert.equal(created.body.country_derived, true)
    assert.equal(created.body.lease_secs, 60)
    assert.deepEqual(
      {...created.body.backend, lease_expires_at: undefined, registered_at: undefined, updated_at: undefined, heartbeat_age_secs: undefined},
      {
        id: 'reg-1',
        app: 'web',
        region: 'sa',
        country: 'BR',
        ip: '10.50.1.1',
        port: 9000,
        state: 'healthy',
        healthy: true,
        draining: false,
        weight: 2,
        soft_limit: 100,
        hard_limit: 150,
        connections: 0,
        lease_expires_at: undefined,
        registered_at: undefined,
        // This POP's region (EDGEPROXY_REGION's default), as the POP that took the register.
        registered_by: 'sa',
        updated_at: undefined,
        heartbeat_age_secs: undefined,
        check: null,
        circuit: {state: 'closed', label: 'closed', failures: 0, openings: 0, remaining_secs: null},
        routing_state: 'up',
      },
    )
    const lease = Date.parse(created.body.backend.lease_expires_at)
    assert.ok(Math.abs(lease - (Date.now() + 60_000)) < 5000, created.body.backend.lease_expires_at)

    const updated = await call(base, 'POST', '/api/v1/register', {json: backend('reg-1', {port: 9001, country: 'AR', weight: 5})})
    assert.equal(updated.status, 200)
    assert.equal(updated.body.created, false)
    assert.equal(updated.body.updated, true)
    assert.equal(updated.body.country_derived, false)
    assert.equal(updated.body.backend.registered_at, created.body.backend.registered_at)
    const row = db.db.prepare('SELECT port, country, weight, deleted FROM backends WHERE id = ?').get('reg-1')
    assert.deepEqual(row, {port: 9001, country: 'AR', weight: 5, deleted: 0})
    assert.equal(db.count(), 1)
    assert.equal((await health()).store.writes, 2)
    assert.equal((await health()).backends, 1)
  })

  test('register accepts the content type with parameters and the +json suffix', async () => {
    const a = await call(base, 'POST', '/api/v1/register', {raw: JSON.stringify(backend('ct-1')), contentType: 'application/json; charset=utf-8'})
    assert.equal(a.status, 201)
    const b = await call(base, 'POST', '/api/v1/register', {raw: JSON.stringify(backend('ct-1')), contentType: 'application/vnd.edgeproxy+json'})
    assert.equal(b.status, 200)
  })

  test('heartbeat answers 200 for a known id (coalesced while the lease is fresh) and 404 otherwise', async () => {
    await call(base, 'POST', '/api/v1/register', {json: backend('hb-1')})
    const beat = await call(base, 'POST', '/api/v1/heartbeat/hb-1')
    assert.equal(beat.status, 200)
    assert.equal(beat.body.stored, false)
    assert.equal(beat.body.backend.id, 'hb-1')
    assert.equal(beat.body.backend.state, 'healthy')
    const withBody = await call(base, 'POST', '/api/v1/heartbeat/hb-1', {json: {}})
    assert.equal(withBody.status, 200)
    await refusedWithoutWrite(() => call(base, 'POST', '/api/v1/heartbeat/no-such-backend'), 404, 'not_found', 'id')
  })

  test('list returns every backend and filters by ?app, ?region and ?state', async () => {
    await call(base, 'POST', '/api/v1/register', {json: backend('f-sa-web', {region: 'sa'})})
    await call(base, 'POST', '/api/v1/register', {json: backend('f-eu-web', {region: 'eu', country: 'DE'})})
    await call(base, 'POST', '/api/v1/register', {json: backend('f-eu-api', {region: 'eu', country: 'DE', app: 'api'})})
    assert.equal((await call(base, 'POST', '/api/v1/backends/f-eu-web/drain')).status, 200)
    const ids = async (query: string) => {
      const reply = await call(base, 'GET', `/api/v1/backends${query}`)
      assert.equal(reply.status, 200)
      return (reply.body.backends as {id: string}[]).map((b) => b.id).filter((id) => id.startsWith('f-'))
    }
    assert.deepEqual(await ids(''), ['f-eu-api', 'f-eu-web', 'f-sa-web'])
    assert.deepEqual(await ids('?app=api'), ['f-eu-api'])
    assert.deepEqual(await ids('?region=eu'), ['f-eu-api', 'f-eu-web'])
    assert.deepEqual(await ids('?state=draining'), ['f-eu-web'])
    assert.deepEqual(await ids('?app=web&region=eu&state=healthy'), [])
    assert.deepEqual(await ids('?app=web&state=healthy'), ['f-sa-web'])
    const listed = await call(base, 'GET', '/api/v1/backends?app=api')
    assert.deepEqual(Object.keys(listed.body), ['backends'])
    assert.equal(listed.body.backends[0].connections, 0)
    await refusedWithoutWrite(() => call(base, 'GET', '/api/v1/backends?state=alive'), 400, 'invalid_field', 'state')
    await refusedWithoutWrite(() => call(base, 'GET', '/api/v1/backends?region=mars'), 400, 'invalid_field', 'region')
  })

  test('get answers 200 with the backend and 404 for an unknown id', async () => {
    await call(base, 'POST', '/api/v1/register', {json: backend('get-1', {region: 'us', country: 'US', hard_limit: 0, soft_limit: 500})})
    const got = await call(base, 'GET', '/api/v1/backends/get-1')
    assert.equal(got.status, 200)
    assert.deepEqual(
      {id: got.body.backend.id, region: got.body.backend.region, country: got.body.backend.country, soft: got.body.backend.soft_limit, hard: got.body.backend.hard_limit},
      {id: 'get-1', region: 'us', country: 'US', soft: 500, hard: 0},
    )
    await refusedWithoutWrite(() => call(base, 'GET', '/api/v1/backends/get-404'), 404, 'not_found', 'id')
  })

  test('drain, enable and disable change the state (404 for an unknown id)', async () => {
    await call(base, 'POST', '/api/v1/register', {json: backend('st-1')})
    const state = async (verb: string) => {
      const reply = await call(base, 'POST', `/api/v1/backends/st-1/${verb}`)
      assert.equal(reply.status, 200)
      return reply.body.backend.state
    }
    assert.equal(await state('drain'), 'draining')
    assert.equal((await call(base, 'GET', '/api/v1/backends/st-1')).body.backend.draining, true)
    assert.equal(await state('enable'), 'healthy')
    assert.equal(await state('disable'), 'unhealthy')
    assert.equal((db.db.prepare('SELECT healthy, draining FROM backends WHERE id = ?').get('st-1') as {healthy: number}).healthy, 0)
    assert.equal(await state('enable'), 'healthy')
    for (const verb of ['drain', 'enable', 'disable']) {
      await refusedWithoutWrite(() => call(base, 'POST', `/api/v1/backends/st-404/${verb}`), 404, 'not_found', 'id')
    }
  })

  test('PUT weight sets the weight; -1, "x", 1001 and a missing weight are 400; an unknown id 404', async () => {
    await call(base, 'POST', '/api/v1/register', {json: backend('w-1')})
    const set = await call(base, 'PUT', '/api/v1/backends/w-1/weight', {json: {weight: 7}})
    assert.equal(set.status, 200)
    assert.equal(set.body.backend.weight, 7)
    assert.equal((db.db.prepare('SELECT weight FROM backends WHERE id = ?').get('w-1') as {weight: number}).weight, 7)
    for (const weight of [-1, 'x', 1001, 1.5, null]) {
      await refusedWithoutWrite(() => call(base, 'PUT', '/api/v1/backends/w-1/weight', {json: {weight}}), 400, 'invalid_field', 'weight')
    }
    await refusedWithoutWrite(() => call(base, 'PUT', '/api/v1/backends/w-1/weight', {json: {}}), 400, 'missing_field', 'weight')
    await refusedWithoutWrite(() => call(base, 'PUT', '/api/v1/backends/w-404/weight', {json: {weight: 3}}), 404, 'not_found', 'id')
  })

  test('DELETE answers 200 once, then 404 everywhere: the row is gone (no tombstone), routing drops it at once', async () => {
    await call(base, 'POST', '/api/v1/register', {json: backend('del-1')})
    const gone = await call(base, 'DELETE', '/api/v1/backends/del-1')
    assert.equal(gone.status, 200)
    assert.equal(gone.body.deregistered, true)
    assert.equal(gone.body.backend.id, 'del-1', 'the backend as it was')
    await refusedWithoutWrite(() => call(base, 'DELETE', '/api/v1/backends/del-1'), 404, 'not_found', 'id')
    await refusedWithoutWrite(() => call(base, 'GET', '/api/v1/backends/del-1'), 404, 'not_found', 'id')
    await refusedWithoutWrite(() => call(base, 'POST', '/api/v1/heartbeat/del-1'), 404, 'not_found', 'id')
    for (const verb of ['enable', 'disable', 'drain']) await refusedWithoutWrite(() => call(base, 'POST', `/api/v1/backends/del-1/${verb}`), 404, 'not_found', 'id')
    await refusedWithoutWrite(() => call(base, 'PUT', '/api/v1/backends/del-1/weight', {json: {weight: 3}}), 404, 'not_found', 'id')
    await refusedWithoutWrite(() => call(base, 'DELETE', '/api/v1/backends/del-404'), 404, 'not_found', 'id')
    await refusedWithoutWrite(() => call(base, 'GET', '/api/v1/backends?state=deleted'), 400, 'invalid_field', 'state')
    const listed = await call(base, 'GET', '/api/v1/backends')
    assert.ok(!(listed.body.backends as {id: string}[]).some((b) => b.id === 'del-1'))
    assert.equal(db.db.prepare('SELECT id FROM backends WHERE id = ?').get('del-1'), undefined)
    const route = await call(base, 'GET', `/api/v1/route?ip=${BR_IP}`)
    assert.equal((route.body.candidates as {id: string}[]).find((c) => c.id === 'del-1'), undefined)
    // Registering the id again adds it anew.
    const again = await call(base, 'POST', '/api/v1/register', {json: backend('del-1')})
    assert.equal(again.status, 201)
    assert.equal(again.body.backend.state, 'healthy')
  })

  test('GET /api/v1/route explains the choice for a client address; a bad ip is 400', async () => {
    // France: no other test registers a backend there, so the expected choice is unambiguous.
    await call(base, 'POST', '/api/v1/register', {json: backend('r-fr', {region: 'eu', country: 'FR'})})
    await call(base, 'POST', '/api/v1/register', {json: backend('r-fr-off', {region: 'eu', country: 'FR'})})
    await call(base, 'POST', '/api/v1/register', {json: backend('r-us', {region: 'us', country: 'US'})})
    await call(base, 'POST', '/api/v1/register', {json: backend('r-sa', {region: 'sa', country: 'BR'})})
    await call(base, 'POST', '/api/v1/backends/r-fr-off/disable')
    const fr = await call(base, 'GET', `/api/v1/route?ip=${FR_IP}`)
    assert.equal(fr.status, 200)
    assert.deepEqual(
      {ip: fr.body.ip, country: fr.body.country, client_region: fr.body.client_region, pop_region: fr.body.pop_region, chosen: fr.body.chosen},
      {ip: FR_IP, country: 'FR', client_region: 'eu', pop_region: 'sa', chosen: 'r-fr'},
    )
    assert.equal(fr.body.reason, 'lowest score')
    const byId = new Map((fr.body.candidates as {id: string}[]).map((c) => [c.id, c as Record<string, unknown>]))
    const view = (id: string) => {
      const c = byId.get(id)!
      return {geo: c.geo_score, eligible: c.eligible, skipped: c.skipped, score: c.score, weight: c.weight, load: c.load_factor}
    }
    assert.deepEqual(view('r-fr'), {geo: 0, eligible: true, skipped: null, score: 0, weight: 2, load: 0})
    assert.deepEqual(view('r-fr-off'), {geo: 0, eligible: false, skipped: 'unhealthy', score: 0, weight: 2, load: 0})
    assert.deepEqual(view('r-sa'), {geo: 2, eligible: true, skipped: null, score: 200, weight: 2, load: 0})
    assert.deepEqual(view('r-us'), {geo: 3, eligible: true, skipped: null, score: 300, weight: 2, load: 0})
    for (const ip of ['not-an-ip', '', '999.1.1.1', "1.1.1.1' OR 1=1"]) {
      await refusedWithoutWrite(() => call(base, 'GET', `/api/v1/route?ip=${encodeURIComponent(ip)}`), 400, 'invalid_field', 'ip')
    }
    await refusedWithoutWrite(() => call(base, 'GET', '/api/v1/route'), 400, 'invalid_field', 'ip')
  })

  test('a wrong method is 405 with an Allow header; an unknown path is 404', async () => {
    const cases: [string, string, string][] = [
      ['PUT', '/api/v1/register', 'POST'],
      ['GET', '/api/v1/register', 'POST'],
      ['GET', '/api/v1/heartbeat/x', 'POST'],
      ['PATCH', '/api/v1/backends/x', 'GET, DELETE'],
      ['POST', '/api/v1/backends', 'GET'],
      ['DELETE', '/api/v1/backends', 'GET'],
      ['GET', '/api/v1/backends/x/drain', 'POST'],
      ['POST', '/api/v1/backends/x/weight', 'PUT'],
      ['POST', '/health', 'GET'],
      ['POST', '/api/v1/route?ip=1.1.1.1', 'GET'],
    ]
    for (const [method, urlPath, allow] of cases) {
      const reply = await refusedWithoutWrite(() => call(base, method, urlPath), 405, 'method_not_allowed')
      assert.equal(reply.headers.allow, allow, `${method} ${urlPath}`)
    }
    for (const urlPath of ['/', '/api', '/api/v2/register', '/api/v1/backends/a/b/c', '/api/v1/backends/a/reboot', '/healthz']) {
      await refusedWithoutWrite(() => call(base, 'GET', urlPath), 404, 'not_found')
    }
  })

  test(`the id ${JSON.stringify(HOSTILE_ID)} is refused with field id, in a body and in a path; the table is intact`, async () => {
    await call(base, 'POST', '/api/v1/register', {json: backend('inj-canary')})
    const count = db.count()
    await refusedWithoutWrite(() => call(base, 'POST', '/api/v1/register', {json: backend(HOSTILE_ID)}), 400, 'invalid_field', 'id')
    // Lookups take any id a row can hold (rows written by SQL stay addressable), always as a bound
    // parameter: the hostile id is simply not found.
    const encoded = encodeURIComponent(HOSTILE_ID)
    await refusedWithoutWrite(() => call(base, 'GET', `/api/v1/backends/${encoded}`), 404, 'not_found', 'id')
    await refusedWithoutWrite(() => call(base, 'DELETE', `/api/v1/backends/${encoded}`), 404, 'not_found', 'id')
    await refusedWithoutWrite(() => call(base, 'POST', `/api/v1/heartbeat/${encoded}`), 404, 'not_found', 'id')
    await refusedWithoutWrite(() => call(base, 'POST', `/api/v1/backends/${encoded}/drain`), 404, 'not_found', 'id')
    await refusedWithoutWrite(() => call(base, 'PUT', `/api/v1/backends/${encoded}/weight`, {json: {weight: 1}}), 404, 'not_found', 'id')
    // An encoded slash is part of the id; bad percent-encoding is a 400, not a crash.
    await refusedWithoutWrite(() => call(base, 'GET', '/api/v1/backends/a%2Fb'), 404, 'not_found', 'id')
    await refusedWithoutWrite(() => call(base, 'GET', '/api/v1/backends/%E0%A4%A'), 400, 'invalid_field', 'id')
    assert.equal(tableExists().n, 1)
    assert.equal(db.count(), count)
    assert.equal((await call(base, 'GET', '/api/v1/backends/inj-canary')).status, 200)
  })

  test('SQL-looking text is refused in every register field, and harmless in filters', async () => {
    const sqlText = "web'; DELETE FROM backends WHERE '1'='1"
    for (const field of ['app', 'region', 'ip', 'country']) {
      await refusedWithoutWrite(() => call(base, 'POST', '/api/v1/register', {json: backend('inj-field', {[field]: sqlText})}), 400, 'invalid_field', field)
    }
    // A row written by SQL with such an app is still found by the filter, as a bound parameter.
    db.insert({id: 'inj-verbatim', app: sqlText, region: 'sa', port: 9000})
    const before = rows().length
    const filtered = await call(base, 'GET', `/api/v1/backends?app=${encodeURIComponent(sqlText)}`)
    assert.deepEqual(filtered.body.backends.map((b: {id: string}) => b.id), ['inj-verbatim'])
    const none = await call(base, 'GET', `/api/v1/backends?app=${encodeURIComponent("x' OR '1'='1")}`)
    assert.deepEqual(none.body.backends, [])
    assert.equal(tableExists().n, 1)
    assert.equal(rows().length, before, 'nothing added, nothing deleted')
    assert.equal((await call(base, 'DELETE', '/api/v1/backends/inj-verbatim')).status, 200)
  })

  test('every register rule is enforced with the field named and nothing stored', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ip: 'example.com'}, 'invalid_field', 'ip'],
      [{ip: '10.0.0.1:80'}, 'invalid_field', 'ip'],
      [{port: 0}, 'invalid_field', 'port'],
      [{port: 65_536}, 'invalid_field', 'port'],
      [{port: '80'}, 'invalid_field', 'port'],
      [{country: 'XX'}, 'invalid_field', 'country'],
      [{country: 'usa'}, 'invalid_field', 'country'],
      [{soft_limit: 200, hard_limit: 100}, 'invalid_field', 'soft_limit'],
      [{weight: -1}, 'invalid_field', 'weight'],
      [{soft_limit: -5}, 'invalid_field', 'soft_limit'],
      [{hard_limit: -1}, 'invalid_field', 'hard_limit'],
      [{region: 'mars'}, 'invalid_field', 'region'],
      [{id: 'a'.repeat(65)}, 'invalid_field', 'id'],
      [{id: 'has space'}, 'invalid_field', 'id'],
      [{soft_limt: 10}, 'unknown_field', 'soft_limt'],
      [{app: undefined}, 'missing_field', 'app'],
    ]
    for (const [over, code, field] of cases) {
      await refusedWithoutWrite(() => call(base, 'POST', '/api/v1/register', {json: backend('rule-1', over)}), 400, code, field)
    }
    // An update refused by validation leaves the existing row exactly as it was.
    await call(base, 'POST', '/api/v1/register', {json: backend('rule-2', {port: 1111})})
    await refusedWithoutWrite(() => call(base, 'POST', '/api/v1/register', {json: backend('rule-2', {port: 2222, country: 'XX'})}), 400, 'invalid_field', 'country')
    assert.equal((db.db.prepare('SELECT port FROM backends WHERE id = ?').get('rule-2') as {port: number}).port, 1111)
  })

  test('malformed, empty and non-object JSON bodies are 400', async () => {
    const send = (raw: string) => () => call(base, 'POST', '/api/v1/register', {raw, contentType: 'application/json'})
    await refusedWithoutWrite(send('{"id": "m-1", "app": '), 400, 'invalid_json')
    await refusedWithoutWrite(send("{'id': 'm-1'}"), 400, 'invalid_json')
    await refusedWithoutWrite(send(''), 400, 'invalid_body')
    await refusedWithoutWrite(send('[]'), 400, 'invalid_body')
    await refusedWithoutWrite(send('null'), 400, 'invalid_body')
    await refusedWithoutWrite(send('"text"'), 400, 'invalid_body')
    await refusedWithoutWrite(
      () => call(base, 'PUT', '/api/v1/backends/rule-2/weight', {raw: '{"weight":', contentType: 'application/json'}),
      400,
      'invalid_json',
    )
    await refusedWithoutWrite(() => call(base, 'POST', '/api/v1/heartbeat/rule-2', {raw: '{oops', contentType: 'application/json'}), 400, 'invalid_json')
  })

  test('a body over 64 KiB is 413, with a Content-Length and chunked; exactly 64 KiB is accepted', async () => {
    const json = JSON.stringify(backend('big-1'))
    const padded = (total: number) => json + ' '.repeat(total - Buffer.byteLength(json))
    for (const [method, urlPath] of [
      ['POST', '/api/v1/register'],
      ['POST', '/api/v1/heartbeat/rule-2'],
      ['PUT', '/api/v1/backends/rule-2/weight'],
    ]) {
      const withLength = await refusedWithoutWrite(
        () => call(base, method, urlPath, {raw: padded(MAX_BODY + 1), contentType: 'application/json'}),
        413,
        'payload_too_large',
      )
      assert.equal(withLength.headers.connection, 'close')
      await refusedWithoutWrite(() => call(base, method, urlPath, {raw: padded(4 * MAX_BODY), contentType: 'application/json'}), 413, 'payload_too_large')
      // Chunked: no Content-Length, so the limit is enforced while reading.
      await refusedWithoutWrite(() => call(base, method, urlPath, {raw: chunks(MAX_BODY + 1), contentType: 'application/json'}), 413, 'payload_too_large')
      await refusedWithoutWrite(() => call(base, method, urlPath, {raw: chunks(4 * MAX_BODY), contentType: 'application/json'}), 413, 'payload_too_large')
    }
    assert.equal(db.db.prepare('SELECT count(*) AS n FROM backends WHERE id = ?').pluck().get('big-1'), 0)
    const exact = await call(base, 'POST', '/api/v1/register', {raw: padded(MAX_BODY), contentType: 'application/json'})
    assert.equal(exact.status, 201)
    assert.equal(exact.body.backend.id, 'big-1')
  })

  test('a body that is not application/json is 415', async () => {
    const json = JSON.stringify(backend('ct-415'))
    await refusedWithoutWrite(() => call(base, 'POST', '/api/v1/register', {raw: json, contentType: 'text/plain'}), 415, 'unsupported_media_type')
    await refusedWithoutWrite(() => call(base, 'POST', '/api/v1/register', {raw: json}), 415, 'unsupported_media_type')
    await refusedWithoutWrite(
      () => call(base, 'POST', '/api/v1/register', {raw: json, contentType: 'application/x-www-form-urlencoded'}),
      415,
      'unsupported_media_type',
    )
    await refusedWithoutWrite(() => call(base, 'PUT', '/api/v1/backends/rule-2/weight', {raw: '{"weight":3}', contentType: 'text/plain'}), 415, 'unsupported_media_type')
    // A heartbeat needs no body, but one that is sent must be JSON.
    await refusedWithoutWrite(() => call(base, 'POST', '/api/v1/heartbeat/rule-2', {raw: 'ping', contentType: 'text/plain'}), 415, 'unsupported_media_type')
    assert.equal(db.db.prepare('SELECT count(*) AS n FROM backends WHERE id = ?').pluck().get('ct-415'), 0)
  })

  test('the API keeps serving after all of the above, and /health counts exactly the successful writes', async () => {
    const h = await health()
    assert.equal(h.status, 'ok')
    assert.equal(h.store.current, true)
    assert.equal(h.backends, (db.db.prepare('SELECT count(*) FROM backends WHERE deleted = 0').pluck().get() as number))
  })
})

describe('Auto-Discovery API with a bearer token', () => {
  const tmp = tempDir()
  const dbPath = path.join(tmp.dir, 'routing.db')
  let proxy: ProxyProcess
  let base: string
  let db: RoutingDb

  const endpoints: {method: string; path: string; json?: unknown; ok: number}[] = [
    {method: 'POST', path: '/api/v1/register', json: backend('tok-1'), ok: 201},
    {method: 'POST', path: '/api/v1/heartbeat/tok-1', ok: 200},
    {method: 'GET', path: '/api/v1/backends', ok: 200},
    {method: 'GET', path: '/api/v1/backends/tok-1', ok: 200},
    {method: 'POST', path: '/api/v1/backends/tok-1/drain', ok: 200},
    {method: 'POST', path: '/api/v1/backends/tok-1/enable', ok: 200},
    {method: 'POST', path: '/api/v1/backends/tok-1/disable', ok: 200},
    {method: 'PUT', path: '/api/v1/backends/tok-1/weight', json: {weight: 4}, ok: 200},
    {method: 'GET', path: `/api/v1/route?ip=${BR_IP}`, ok: 200},
    {method: 'DELETE', path: '/api/v1/backends/tok-1', ok: 200},
  ]

  before(async () => {
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_API_TOKEN: TOKEN}})
    base = apiBase(await proxy.waitFor('started'))
    db = new RoutingDb(dbPath)
  })
  after(async () => {
    db?.close()
    await proxy?.stop()
    tmp.cleanup()
  })

  test('GET /health needs no token', async () => {
    const reply = await call(base, 'GET', '/health')
    assert.equal(reply.status, 200)
    assert.equal(reply.body.store.kind, 'sqlite')
  })

  test('every other endpoint is 401 without the token, with a wrong one, or with another scheme; nothing is written', async () => {
    const wrong: CallOptions[] = [
      {},
      {token: 'wrong-token-0123456789abcdef01234'},
      {token: TOKEN.slice(0, -1)},
      {token: `${TOKEN}x`},
      {authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`},
      {authorization: TOKEN},
      {authorization: 'Bearer'},
    ]
    for (const e of endpoints) {
      for (const auth of wrong) {
        const reply = await call(base, e.method, e.path, {...auth, ...(e.json === undefined ? {} : {json: e.json})})
        assertError(reply, 401, 'unauthorized')
        assert.match(String(reply.headers['www-authenticate']), /^Bearer/, `${e.method} ${e.path}`)
      }
    }
    assert.equal(db.count(), 0)
    assert.equal((await call(base, 'GET', '/health')).body.store.writes, 0)
  })

  test('with the token every endpoint answers as without one', async () => {
    for (const e of endpoints) {
      const reply = await call(base, e.method, e.path, {token: TOKEN, ...(e.json === undefined ? {} : {json: e.json})})
      assert.equal(reply.status, e.ok, `${e.method} ${e.path}: ${JSON.stringify(reply.body)}`)
    }
    // The scheme is case-insensitive.
    const lower = await call(base, 'GET', '/api/v1/backends', {authorization: `bearer ${TOKEN}`})
    assert.equal(lower.status, 200)
    assert.deepEqual(lower.body.backends, [], 'the last endpoint deleted tok-1')
  })

  test('the token is checked before the body, the id, or even the path is looked at', async () => {
    assertError(await call(base, 'GET', '/api/v1/nope'), 401, 'unauthorized')
    assertError(await call(base, 'PATCH', '/api/v1/backends/x'), 401, 'unauthorized')
    assertError(await call(base, 'POST', '/api/v1/register', {raw: '{broken', contentType: 'application/json'}), 401, 'unauthorized')
    assertError(await call(base, 'GET', `/api/v1/backends/${encodeURIComponent(HOSTILE_ID)}`), 401, 'unauthorized')
    assertError(await call(base, 'POST', '/api/v1/register', {raw: 'x'.repeat(MAX_BODY * 2), contentType: 'text/plain'}), 401, 'unauthorized')
    // A request target that is not a path: 401 without the token, 400 with it (never a 500).
    const port = Number(new URL(base).port)
    const target = async (auth: string) => {
      const socket = net.connect({port, host: '127.0.0.1'})
      socket.on('error', () => {})
      socket.end(`GET http://a:99999/api/v1/backends HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${auth}\r\n`)
      let text = ''
      for await (const chunk of socket) text += String(chunk)
      return text.split(' ')[1]
    }
    assert.equal(await target(''), '401')
    assert.equal(await target(`Authorization: Bearer ${TOKEN}\r\n`), '400')
  })
})

describe('where the API may listen', () => {
  test('0.0.0.0 without a token refuses to start: exit 3, naming EDGEPROXY_API_TOKEN', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const proxy = await startProxy({
      env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_API_LISTEN_ADDR: '0.0.0.0:0'},
      waitStarted: false,
    })
    t.after(() => proxy.stop('SIGKILL'))
    const exit = await proxy.exited
    assert.equal(exit.code, 3)
    assert.match(exit.stderr, /EP_CONFIG_INVALID/)
    assert.match(exit.stderr, /EDGEPROXY_API_TOKEN/)
    assert.equal(proxy.events.find((e) => e.event === 'started'), undefined)
  })

  test('0.0.0.0 with EDGEPROXY_API_INSECURE=true starts and logs an api_insecure warning', async (t) => {
    const tmp = tempDir()
    const proxy = await startProxy({
      env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_API_LISTEN_ADDR: '0.0.0.0:0', EDGEPROXY_API_INSECURE: 'true'},
    })
    t.after(async () => {
      await proxy.stop()
      tmp.cleanup()
    })
    const warning = await proxy.waitFor('api_insecure')
    assert.equal(warning.level, 'warn')
    const started = await proxy.waitFor('started')
    assert.match(String(started.api), /^0\.0\.0\.0:\d+$/)
    // No token was set, so the API answers without one.
    const reply = await call(apiBase(started), 'GET', '/api/v1/backends')
    assert.equal(reply.status, 200)
  })

  test('0.0.0.0 with a token starts without the warning', async (t) => {
    const tmp = tempDir()
    const proxy = await startProxy({
      env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_API_LISTEN_ADDR: '0.0.0.0:0', EDGEPROXY_API_TOKEN: TOKEN},
    })
    t.after(async () => {
      await proxy.stop()
      tmp.cleanup()
    })
    const started = await proxy.waitFor('started')
    assert.equal(proxy.events.find((e) => e.event === 'api_insecure'), undefined)
    assertError(await call(apiBase(started), 'GET', '/api/v1/backends'), 401, 'unauthorized')
  })

  test('a token shorter than 16 characters is refused at start-up (exit 3)', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_API_TOKEN: 'short-token'}, waitStarted: false})
    t.after(() => proxy.stop('SIGKILL'))
    const exit = await proxy.exited
    assert.equal(exit.code, 3)
    assert.match(exit.stderr, /EDGEPROXY_API_TOKEN/)
    assert.doesNotMatch(exit.stderr, /short-token/, 'the token must not be echoed')
  })

  test('EDGEPROXY_API_ENABLED=false starts without the API', async (t) => {
    const tmp = tempDir()
    const proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_API_ENABLED: 'false'}})
    t.after(async () => {
      await proxy.stop()
      tmp.cleanup()
    })
    assert.equal((await proxy.waitFor('started')).api, 'off')
  })
})
