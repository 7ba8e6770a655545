// The emulator itself must follow corrosion-api.md, or client tests against it prove nothing:
// status codes, text vs JSON bodies and exact texts, checked with raw HTTP requests.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import {after, before, describe, it} from 'node:test'

import {request} from 'undici'

import {readNdjson, type QueryEvent} from '../../../src/corrosion/ndjson.js'
import {createCluster, EmulatorAgent, startEmulator} from '../../support/corrosion-emulator/index.js'
import {backendsSchemaDir} from '../../support/corrosion-emulator/targets.js'

interface Reply {
  status: number
  contentType?: string
  text: string
  headers: Record<string, unknown>
}

async function call(url: string, method: string, body?: string, headers: Record<string, string> = {'content-type': 'application/json'}): Promise<Reply> {
  const r = await request(url, {method: method as 'GET', body, headers, reset: true})
  const text = await r.body.text()
  return {status: r.statusCode, contentType: r.headers['content-type'] as string | undefined, text, headers: r.headers}
}

async function firstEvents(url: string, method: string, body: string | undefined, count: number): Promise<{status: number; headers: Record<string, unknown>; events: QueryEvent[]}> {
  const controller = new AbortController()
  const r = await request(url, {method: method as 'GET', body, headers: body ? {'content-type': 'application/json'} : {}, signal: controller.signal, reset: true})
  const events: QueryEvent[] = []
  if (r.statusCode === 200 && count > 0) {
    for await (const e of readNdjson(r.body)) {
      events.push(e)
      if (events.length >= count) break
    }
  }
  controller.abort()
  await r.body.dump().catch(() => {})
  return {status: r.statusCode, headers: r.headers, events}
}

describe('emulator: HTTP contract', () => {
  const schemaDir = backendsSchemaDir()
  let agent: EmulatorAgent
  let url: string

  before(async () => {
    agent = await startEmulator({schemaPaths: [schemaDir]})
    url = agent.url
  })
  after(async () => {
    await agent.close()
    fs.rmSync(schemaDir, {recursive: true, force: true})
  })

  it('answers body and shape errors with axum texts', async () => {
    const noType = await call(`${url}/v1/queries`, 'POST', '"SELECT 1"', {})
    assert.deepEqual([noType.status, noType.contentType, noType.text], [415, 'text/plain; charset=utf-8', 'Expected request with `Content-Type: application/json`'])
    const malformed = await call(`${url}/v1/queries`, 'POST', '{"query":')
    assert.equal(malformed.status, 400)
    assert.match(malformed.text, /^Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 9$/)
    const sqlKey = await call(`${url}/v1/queries`, 'POST', '{"sql":"SELECT 1"}')
    assert.deepEqual([sqlKey.status, sqlKey.text], [422, 'Failed to deserialize the JSON body into the target type: data did not match any variant of untagged enum Statement at line 1 column 18'])
    const notArray = await call(`${url}/v1/transactions`, 'POST', '{"query":"SELECT 1"}')
    assert.deepEqual([notArray.status, notArray.text], [422, 'Failed to deserialize the JSON body into the target type: invalid type: map, expected a sequence at line 1 column 1'])
    const objectParam = await call(`${url}/v1/transactions`, 'POST', '[["SELECT ?",[{"a":1}]]]')
    assert.equal(objectParam.status, 422)
    assert.match(objectParam.text, /\[0\]: data did not match any variant of untagged enum Statement/)
    const arrayQuery = await call(`${url}/v1/queries`, 'POST', '["SELECT 1"]')
    assert.equal(arrayQuery.status, 422)
    const empty = await call(`${url}/v1/transactions`, 'POST', '[]')
    assert.equal(empty.status, 400)
    assert.deepEqual(JSON.parse(empty.text).results, [{error: 'at least 1 statement is required'}])
  })

  it('answers 404 and 405 with empty bodies, and /v1/migrations is 404 unless switched on', async () => {
    assert.deepEqual(await call(`${url}/v1/nope`, 'GET').then((r) => [r.status, r.text]), [404, ''])
    assert.deepEqual(await call(`${url}/v1/queries`, 'GET').then((r) => [r.status, r.text]), [405, ''])
    assert.equal((await call(`${url}/v1/migrations`, 'POST', '["CREATE TABLE x (id TEXT NOT NULL PRIMARY KEY)"]')).status, 404)
  })

  it('runs transactions all-or-nothing with rusqlite texts', async () => {
    const ok = await call(`${url}/v1/transactions`, 'POST', '[["INSERT INTO backends (id) VALUES (?)",["e1"]]]')
    assert.equal(ok.status, 200)
    assert.equal(ok.contentType, 'application/json')
    const body = JSON.parse(ok.text)
    assert.equal(body.version, 1)
    assert.match(body.actor_id, /^[0-9a-f]{32}$/)
    const failures: [string, string][] = [
      ['[["INSERT INTO backends (id) VALUES (?)",["e2"]],["INSERT INTO backends (id) VALUES (?)",["e1"]]]', 'rusqlite: UNIQUE constraint failed: backends.id (actor_id: None, version: None)'],
      ['["SELECT 1"]', 'rusqlite: Execute returned results - did you mean to call query? (actor_id: None, version: None)'],
      ['["DELETE FROM backends; DELETE FROM backends"]', 'rusqlite: Multiple statements provided (actor_id: None, version: None)'],
      ['[["DELETE FROM backends WHERE id = :id",{"id":"x"}]]', 'rusqlite: Invalid parameter name: id (actor_id: None, version: None)'],
      ['[["DELETE FROM backends WHERE id = ?",[]]]', 'rusqlite: Wrong number of parameters passed to query. Got 0, needed 1 (actor_id: None, version: None)'],
      // rusqlite 0.38 bind_parameters stops counting one past the expected number
      ['[["DELETE FROM backends WHERE id = ?",["a","b","c"]]]', 'rusqlite: Wrong number of parameters passed to query. Got 2, needed 1 (actor_id: None, version: None)'],
      ['["INSERT INTO nope VALUES (1)"]', 'rusqlite: no such table: nope in INSERT INTO nope VALUES (1) at offset 12 (actor_id: None, version: None)'],
    ]
    for (const [sent, error] of failures) {
      const r = await call(`${url}/v1/transactions`, 'POST', sent)
      assert.equal(r.status, 500, sent)
      assert.deepEqual(JSON.parse(r.text), {results: [{error}], time: 0, version: null, actor_id: body.actor_id})
    }
    assert.deepEqual(agent.rows('SELECT id FROM backends ORDER BY id'), [{id: 'e1'}], 'e2 rolled back')
    const trailing = await call(`${url}/v1/transactions`, 'POST', '["DELETE FROM backends WHERE id = \'zz\'; -- nothing"]')
    assert.equal(trailing.status, 200)
    assert.equal(JSON.parse(trailing.text).version, null)
  })

  it('refuses writes and bad SQL on /v1/queries before streaming, with no content type', async () => {
    const write = await call(`${url}/v1/queries`, 'POST', '"DELETE FROM backends"')
    assert.deepEqual([write.status, write.contentType, write.text], [400, undefined, '{"error":"statement is not readonly"}'])
    const bind = await call(`${url}/v1/queries`, 'POST', '["SELECT ?",[]]')
    assert.deepEqual([bind.status, JSON.parse(bind.text).error], [500, 'Wrong number of parameters passed to query. Got 0, needed 1'])
  })

  it('runs the extractors in axum order (Path, Query, then the JSON body) with serde_urlencoded texts', async () => {
    // Query<TimeoutParams> is extracted before Json<…>: a bad query string wins over a missing content type.
    const badFirst = await call(`${url}/v1/transactions?timeout=soon`, 'POST', '"SELECT 1"', {})
    assert.deepEqual([badFirst.status, badFirst.contentType, badFirst.text], [400, 'text/plain; charset=utf-8', 'Failed to deserialize query string: timeout: invalid digit found in string'])
    const texts: [string, string][] = [
      ['/v1/queries?timeout=', 'timeout: cannot parse integer from empty string'],
      ['/v1/queries?timeout=18446744073709551616', 'timeout: number too large to fit in target type'],
      ['/v1/subscriptions?from=-1', 'from: invalid digit found in string'],
      ['/v1/subscriptions?from=1&from=2', 'duplicate field `from`'],
      ['/v1/subscriptions?skip_rows=1', 'skip_rows: provided string was not `true` or `false`'],
    ]
    for (const [path, text] of texts) {
      const r = await call(`${url}${path}`, 'POST', '"SELECT id FROM backends"')
      assert.deepEqual([r.status, r.text], [400, `Failed to deserialize query string: ${text}`], path)
    }
    for (const [query, text] of [
      ['p99_lag=fast', 'p99_lag: invalid float literal'],
      ['gaps=1&failure_status=70000', 'failure_status: number too large to fit in target type'],
      ['max_queue=-1', 'max_queue: invalid digit found in string'],
    ]) {
      const r = await call(`${url}/v1/health?${query}`, 'GET', undefined, {})
      assert.deepEqual([r.status, r.text], [400, `Failed to deserialize query string: ${text}`], query)
    }
    // Rust's FromStr takes a leading '+' (sent as %2B: a bare '+' is a space in a query string) and
    // f64 forms like "1e3"; unknown keys are ignored.
    const plus = await call(`${url}/v1/queries?timeout=%2B5&whatever=x`, 'POST', '"SELECT 1"')
    assert.equal(plus.status, 200)
    assert.notEqual((await call(`${url}/v1/health?p99_lag=1e3&gaps=-1`, 'GET', undefined, {})).status, 400)
  })

  it('parses /v1/subscriptions/{id} as a uuid::Uuid (any of its text forms) with axum\'s Path texts', async () => {
    const first = await firstEvents(`${url}/v1/subscriptions`, 'POST', '"SELECT id, app FROM backends"', 3)
    const id = String(first.headers['corro-query-id'])
    for (const form of [id.replaceAll('-', ''), id.toUpperCase(), `{${id}}`, `urn:uuid:${id}`]) {
      const r = await firstEvents(`${url}/v1/subscriptions/${encodeURIComponent(form)}`, 'GET', undefined, 1)
      assert.deepEqual([r.status, r.headers['corro-query-id']], [200, id], form)
    }
    const unknown = await call(`${url}/v1/subscriptions/00000000000040008000000000000000`, 'GET')
    assert.deepEqual([unknown.status, unknown.text], [404, '{"error":"could not find subscription with id 00000000-0000-4000-8000-000000000000"}'])
    const cases: [string, string][] = [
      // the first one is axum 0.8.4's own test (extract/path/mod.rs deserialize_error_single_value)
      ['123123-123-123123', 'invalid group count: expected 5, found 3'],
      ['not-a-uuid', 'invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `n` at 1'],
      ['abc', 'invalid length: expected length 32 for simple format, found 3'],
      ['0000000-00000-4000-8000-000000000000', 'invalid group length in group 0: expected 8, found 7'],
    ]
    for (const [value, error] of cases) {
      const r = await call(`${url}/v1/subscriptions/${value}?from=x`, 'GET', undefined, {})
      assert.deepEqual([r.status, r.contentType, r.text], [400, 'text/plain; charset=utf-8', `Invalid URL: Cannot parse \`id\` with value \`${value}\`: UUID parsing failed: ${error}`], value)
    }
  })

  it('creates the matcher before refusing `from`, and binds subscription values like raw_bind_parameter', async () => {
    const badSql = await call(`${url}/v1/subscriptions?from=3`, 'POST', '"SELECT name FROM sqlite_master"')
    assert.deepEqual([badSql.status, badSql.text], [400, '{"error":"table not found in schema: sqlite_master"}'])
    const tooMany = await call(`${url}/v1/subscriptions`, 'POST', '["SELECT id FROM backends WHERE id = ?", ["a", "b"]]')
    assert.deepEqual([tooMany.status, tooMany.text], [400, '{"error":"column index out of range"}'])
    const tooFew = await firstEvents(`${url}/v1/subscriptions`, 'POST', '["SELECT id FROM backends WHERE id = ? OR app = ?", ["nobody"]]', 2)
    assert.equal(tooFew.status, 200, 'a missing value stays NULL')
    assert.deepEqual(tooFew.events.map((e) => e.type), ['columns', 'eoq'])
  })

  it('checks the authorization header shape even with no token configured', async () => {
    const basic = await call(`${url}/v1/health`, 'GET', undefined, {authorization: 'Basic Zm9vOmJhcg=='})
    assert.deepEqual([basic.status, basic.text], [400, 'invalid HTTP header (authorization)'])
    const bare = await call(`${url}/v1/health`, 'GET', undefined, {authorization: 'Bearer'})
    assert.equal(bare.status, 400)
    const anyBearer = await call(`${url}/v1/health`, 'GET', undefined, {authorization: 'bearer anything'})
    assert.equal(anyBearer.status, 503, 'open agent: any well-formed bearer passes')
  })

  it('answers a missing or wrong token with an empty 401, and a wrong endpoint name with 421', async (t) => {
    const guarded = await startEmulator({token: 'tok', endpointName: 'pop-eu'})
    t.after(() => guarded.close())
    const missing = await call(`${guarded.url}/v1/health`, 'GET', undefined, {})
    assert.deepEqual([missing.status, missing.text], [401, ''])
    const wrong = await call(`${guarded.url}/v1/health`, 'GET', undefined, {authorization: 'Bearer tok2'})
    assert.deepEqual([wrong.status, wrong.text], [401, ''])
    const right = await call(`${guarded.url}/v1/health`, 'GET', undefined, {authorization: 'Bearer   tok'})
    assert.equal(right.status, 503, 'leading spaces of the token are trimmed')
    const misdirected = await call(`${guarded.url}/v1/health`, 'GET', undefined, {authorization: 'Bearer tok', 'x-corrosion-requested-endpoint-name': 'pop-us'})
    assert.deepEqual([misdirected.status, misdirected.text], [421, ''])
    // HeaderValue::to_str accepts spaces (visible ASCII is 0x20-0x7e and tab): a different name, so 421, not 400.
    const spaced = await call(`${guarded.url}/v1/health`, 'GET', undefined, {authorization: 'Bearer tok', 'x-corrosion-requested-endpoint-name': 'pop eu'})
    assert.equal(spaced.status, 421)
    const tab = await call(`${guarded.url}/v1/health`, 'GET', undefined, {authorization: 'Bearer \ttok'})
    assert.equal(tab.status, 503, 'Bearer::token() trims any leading whitespace')
  })

  it('serves subscriptions: new, shared, from, skip_rows, 404', async () => {
    const body = '"SELECT id FROM backends"'
    const first = await firstEvents(`${url}/v1/subscriptions`, 'POST', body, 3)
    assert.equal(first.status, 200)
    assert.match(String(first.headers['corro-query-id']), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    assert.match(String(first.headers['corro-query-hash']), /^[0-9a-f]{16}$/)
    assert.deepEqual(first.events.map((e) => e.type), ['columns', 'row', 'eoq'])
    assert.deepEqual(first.events[2], {type: 'eoq', time: (first.events[2] as {time: number}).time, changeId: 0})
    const again = await firstEvents(`${url}/v1/subscriptions`, 'POST', body, 0)
    assert.equal(again.headers['corro-query-id'], first.headers['corro-query-id'])
    const fromNew = await call(`${url}/v1/subscriptions?from=0`, 'POST', '"SELECT id FROM backends WHERE id = \'new\'"')
    assert.deepEqual([fromNew.status, fromNew.text], [400, '{"error":"a `from` query param was supplied, but no existing subscription found"}'])
    const skipOne = await call(`${url}/v1/subscriptions?skip_rows=1`, 'POST', body)
    assert.equal(skipOne.status, 400)
    const missing = await call(`${url}/v1/subscriptions/00000000-0000-4000-8000-000000000000`, 'GET')
    assert.deepEqual([missing.status, missing.contentType, missing.text], [404, 'application/json', '{"error":"could not find subscription with id 00000000-0000-4000-8000-000000000000"}'])
    assert.equal((await call(`${url}/v1/subscriptions/not-a-uuid`, 'GET')).status, 400)
    const notInSchema = await call(`${url}/v1/subscriptions`, 'POST', '"SELECT name FROM sqlite_master"')
    assert.deepEqual([notInSchema.status, notInSchema.text], [400, '{"error":"table not found in schema: sqlite_master"}'])
  })

  it('keeps subscriptions and their ids across a restart', async () => {
    const r = await firstEvents(`${url}/v1/subscriptions`, 'POST', '"SELECT id, port FROM backends"', 3)
    const id = String(r.headers['corro-query-id'])
    await agent.stop()
    await agent.start()
    const resumed = await firstEvents(`${url}/v1/subscriptions/${id}`, 'GET', undefined, 3)
    assert.equal(resumed.status, 200)
    assert.equal(resumed.headers['corro-query-id'], id)
    assert.deepEqual(resumed.events.map((e) => e.type), ['columns', 'row', 'eoq'])
  })

  it('streams /v1/updates notifications (inserts are updates)', async () => {
    const controller = new AbortController()
    const r = await request(`${url}/v1/updates/backends`, {method: 'POST', signal: controller.signal})
    assert.equal(r.statusCode, 200)
    assert.ok(r.headers['corro-query-id'])
    const events: QueryEvent[] = []
    const reading = (async () => {
      for await (const e of readNdjson(r.body)) {
        events.push(e)
        if (events.length === 2) break
      }
    })()
    agent.transact([['INSERT INTO backends (id) VALUES (?)', ['u1']], ['DELETE FROM backends WHERE id = ?', ['e1']]])
    await reading
    controller.abort()
    assert.deepEqual(
      events.map((e) => (e.type === 'notify' ? [e.changeType, e.pk] : e.type)).sort(),
      [
        ['delete', ['e1']],
        ['update', ['u1']],
      ],
    )
    const unknown = await call(`${url}/v1/updates/nope`, 'POST')
    assert.deepEqual([unknown.status, unknown.text], [400, '{"error":"table not found in schema: nope"}'])
  })
})

describe('emulator: schema files and migrations', () => {
  it('applies files with Corrosion\'s merge rule, only adds columns, and refuses with exact texts', async (t) => {
    const schemaDir = backendsSchemaDir()
    const agent = await startEmulator({schemaPaths: [schemaDir], migrations: true})
    t.after(async () => {
      await agent.close()
      fs.rmSync(schemaDir, {recursive: true, force: true})
    })
    assert.equal(agent.rows("SELECT name FROM sqlite_master WHERE name = 'backends__crsql_clock'").length, 1)
    const migrate = (sql: string) => call(`${agent.url}/v1/migrations`, 'POST', JSON.stringify([sql])).then((r) => ({status: r.status, error: JSON.parse(r.text).results[0]?.error as string | undefined}))
    assert.deepEqual(await migrate('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, n TEXT NOT NULL)'), {
      status: 500,
      error: "not nullable column 'n' on table 't' needs a default value for forward schema compatibility",
    })
    assert.deepEqual(await migrate('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, n TEXT)'), {status: 200, error: undefined})
    assert.deepEqual(await migrate('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, n INTEGER)'), {
      status: 500,
      error: "won't change column without the destructive flag set (table: 't', column: 'n')",
    })
    assert.deepEqual(await migrate('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY)'), {status: 500, error: "won't remove column without the destructive flag set (table: 't', column: 'n')"})
    assert.deepEqual(await migrate("CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, n TEXT, m TEXT NOT NULL DEFAULT 'x')"), {status: 200, error: undefined})
    assert.deepEqual(agent.rows("SELECT name FROM pragma_table_info('t')").map((r) => r.name), ['id', 'n', 'm'])
    assert.deepEqual(await migrate('CREATE TABLE u (id TEXT NOT NULL PRIMARY KEY, e TEXT UNIQUE)'), {
      status: 500,
      error: 'Table u has unique indices besidesthe primary key. This is not allowed for CRRs',
    })
    assert.deepEqual(await migrate('SELECT 1'), {status: 500, error: 'unsupported command: SELECT 1;'})
    assert.deepEqual(await migrate('CREATE TEMPORARY TABLE x(id TEXT NOT NULL PRIMARY KEY)'), {status: 500, error: 'temporary tables are not supported: CREATE TEMP TABLE x (id TEXT NOT NULL PRIMARY KEY);'})
    // schema.rs prepare_table: Column::primary_key compares the unquoted PK names with the name as written
    assert.deepEqual(await migrate('CREATE TABLE q ("id" TEXT NOT NULL PRIMARY KEY)'), {
      status: 500,
      error: "not nullable column 'id' on table 'q' needs a default value for forward schema compatibility",
    })
    assert.equal(agent.rows("SELECT name FROM sqlite_master WHERE name = 'u'").length, 0, 'a refused schema changes nothing')
  })
})

describe('emulator: a replicating cluster', () => {
  it('replicates commits after the configured delay and reports members and lag in /v1/health', async (t) => {
    const schemaDir = backendsSchemaDir()
    const cluster = await createCluster(3, {delayMs: 30, schemaPaths: [schemaDir]})
    t.after(async () => {
      await cluster.close()
      fs.rmSync(schemaDir, {recursive: true, force: true})
    })
    const [a, b, c] = cluster.agents as [EmulatorAgent, EmulatorAgent, EmulatorAgent]
    a.transact([['INSERT INTO backends (id, port) VALUES (?, ?)', ['c1', 80]]])
    assert.equal(b.rows('SELECT id FROM backends').length, 0, 'not there before the delay')
    await cluster.delivered()
    assert.deepEqual(b.rows('SELECT id, port FROM backends'), [{id: 'c1', port: 80}])
    assert.deepEqual(c.rows('SELECT id, port FROM backends'), [{id: 'c1', port: 80}])
    const health = JSON.parse((await call(`${b.url}/v1/health`, 'GET')).text)
    assert.equal(health.response.members, 2)
    assert.ok(health.response.p99_lag >= 0.03)
    const idle = await call(`${a.url}/v1/health`, 'GET')
    assert.deepEqual([idle.status, idle.text], [503, '{"error":"no p99 lag information available"}'], 'the writer applied no remote change')
    await c.stop()
    b.transact([['UPDATE backends SET port = ? WHERE id = ?', [81, 'c1']]])
    await cluster.delivered()
    assert.equal(JSON.parse((await call(`${b.url}/v1/health`, 'GET')).text).response.members, 1)
    await c.start()
    assert.deepEqual(c.rows('SELECT port FROM backends'), [{port: 81}], 'caught up at start')
  })
})

/** Opens a subscription stream and collects its events until close(). */
async function collect(url: string, method: 'GET' | 'POST', body?: string): Promise<{status: number; id: string; events: QueryEvent[]; close: () => Promise<void>}> {
  const controller = new AbortController()
  const r = await request(url, {method, body, headers: body ? {'content-type': 'application/json'} : {}, signal: controller.signal, reset: true})
  const events: QueryEvent[] = []
  const reading = (async () => {
    if (r.statusCode !== 200) return
    try {
      for await (const e of readNdjson(r.body)) events.push(e)
    } catch {
      // aborted
    }
  })()
  if (r.statusCode !== 200) await r.body.dump()
  return {
    status: r.statusCode,
    id: String(r.headers['corro-query-id'] ?? ''),
    events,
    close: async () => {
      controller.abort()
      await reading
    },
  }
}

async function until<T>(check: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = check()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe("emulator: the agent's subscription matcher", () => {
  it('releases committed changes on its tick: quick writes to one row become one change event', async (t) => {
    const schemaDir = backendsSchemaDir()
    const agent = await startEmulator({schemaPaths: [schemaDir], subscriptionTickMs: 300})
    t.after(async () => {
      await agent.close()
      fs.rmSync(schemaDir, {recursive: true, force: true})
    })
    assert.equal(new EmulatorAgent().options.subscriptionTickMs, 600, "the agent's PROCESS_BUFFER_DEADLINE is the default")
    agent.transact([['INSERT INTO backends (id, port) VALUES (?, ?)', ['t1', 80]]])
    const sub = await collect(`${agent.url}/v1/subscriptions`, 'POST', '"SELECT id, port FROM backends"')
    t.after(() => sub.close())
    await until(() => (sub.events.some((e) => e.type === 'eoq') ? true : undefined))
    const committedAt = Date.now()
    for (const port of [81, 82, 83]) agent.transact([['UPDATE backends SET port = ? WHERE id = ?', [port, 't1']]])
    const change = await until(() => sub.events.find((e) => e.type === 'change'))
    const releasedAt = agent.emitted.at(-1)!.at
    assert.ok(releasedAt - committedAt <= 300 + 50, `released ${releasedAt - committedAt} ms after the commits`)
    await new Promise((r) => setTimeout(r, 400)) // one more tick: nothing else comes
    const changes = sub.events.filter((e) => e.type === 'change')
    assert.equal(changes.length, 1, 'one event for three writes')
    assert.deepEqual(change.type === 'change' ? [change.changeType, change.cells, change.changeId] : null, ['update', ['t1', 83], 1])
  })

  it("fixes a subscription's `*` at creation: later subscribers get the same columns until a restart drops it", async (t) => {
    const schemaDir = fs.mkdtempSync(`${os.tmpdir()}/corro-star-`)
    const file = `${schemaDir}/t.sql`
    fs.writeFileSync(file, 'CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, a INTEGER NOT NULL DEFAULT 0);')
    const agent = await startEmulator({schemaPaths: [schemaDir], subscriptionTickMs: 0})
    t.after(async () => {
      await agent.close()
      fs.rmSync(schemaDir, {recursive: true, force: true})
    })
    agent.transact(["INSERT INTO t (id, a) VALUES ('r', 1)"])
    const first = await collect(`${agent.url}/v1/subscriptions`, 'POST', '"SELECT * FROM t"')
    await until(() => (first.events.some((e) => e.type === 'eoq') ? true : undefined))
    assert.deepEqual(first.events[0], {type: 'columns', columns: ['id', 'a']})

    fs.writeFileSync(file, "CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, a INTEGER NOT NULL DEFAULT 0, b TEXT NOT NULL DEFAULT 'new');")
    assert.deepEqual(agent.reload(), {ok: true})
    agent.transact(["UPDATE t SET a = 2, b = 'x' WHERE id = 'r'"])
    const change = await until(() => first.events.find((e) => e.type === 'change'))
    assert.deepEqual(change.type === 'change' ? change.cells : null, ['r', 2], 'the live stream keeps its two columns')
    const later = await collect(`${agent.url}/v1/subscriptions`, 'POST', '"SELECT * FROM t"')
    await until(() => (later.events.some((e) => e.type === 'eoq') ? true : undefined))
    assert.equal(later.id, first.id, 'the same SQL text is the same subscription')
    assert.deepEqual(later.events[0], {type: 'columns', columns: ['id', 'a']}, 'a later subscriber still gets the columns of creation')
    const named = await collect(`${agent.url}/v1/subscriptions`, 'POST', '"SELECT id, a, b FROM t"')
    await until(() => (named.events.some((e) => e.type === 'eoq') ? true : undefined))
    assert.notEqual(named.id, first.id)
    assert.deepEqual(named.events[0], {type: 'columns', columns: ['id', 'a', 'b']})
    for (const s of [first, later, named]) await s.close()

    await agent.stop()
    await agent.start()
    const resumed = await call(`${agent.url}/v1/subscriptions/${first.id}?from=1`, 'GET')
    assert.equal(resumed.status, 404, 'a `*` that now expands to other columns is not restored')
    const fresh = await collect(`${agent.url}/v1/subscriptions`, 'POST', '"SELECT * FROM t"')
    await until(() => (fresh.events.some((e) => e.type === 'eoq') ? true : undefined))
    assert.deepEqual(fresh.events[0], {type: 'columns', columns: ['id', 'a', 'b']})
    const kept = await collect(`${agent.url}/v1/subscriptions/${named.id}`, 'GET')
    assert.equal(kept.status, 200, 'named columns survive the restart')
    await kept.close()
    await fresh.close()
  })
})

describe("emulator: cr-sqlite's merge across a partition", () => {
  const schemaDir = backendsSchemaDir()
  after(() => fs.rmSync(schemaDir, {recursive: true, force: true}))
  const row = (agent: EmulatorAgent, id: string) => agent.rows('SELECT * FROM backends WHERE id = ?', id)[0]

  it('merges column by column: both sides of concurrent writes to different columns survive; one column goes by version, then value, then site, never by time', async (t) => {
    const cluster = await createCluster(2, {delayMs: 5, schemaPaths: [schemaDir]})
    t.after(() => cluster.close())
    const [a, b] = cluster.agents as [EmulatorAgent, EmulatorAgent]
    a.transact([['INSERT INTO backends (id, wg_ip, port, weight) VALUES (?, ?, ?, ?)', ['m', '10.0.0.1', 80, 2]]])
    await cluster.delivered()
    cluster.partition([a], [b])
    a.transact([['UPDATE backends SET heartbeat_at_ms = ?, lease_expires_at_ms = ? WHERE id = ?', [1000, 61_000, 'm']]])
    b.transact([['UPDATE backends SET draining = 1 WHERE id = ?', ['m']]])
    // weight: B writes twice (version 3), A once (version 2) with a larger value, later in time.
    b.transact([['UPDATE backends SET weight = ? WHERE id = ?', [3, 'm']]])
    b.transact([['UPDATE backends SET weight = ? WHERE id = ?', [4, 'm']]])
    // soft_limit: one write each (equal versions): the larger value wins although it was written first.
    b.transact([['UPDATE backends SET soft_limit = ? WHERE id = ?', [90, 'm']]])
    await new Promise((r) => setTimeout(r, 20))
    a.transact([['UPDATE backends SET weight = ?, soft_limit = ? WHERE id = ?', [9, 80, 'm']]])
    await cluster.delivered()
    assert.equal(row(a, 'm')!.draining, 0, 'nothing crosses the partition')
    cluster.heal()
    await cluster.delivered()
    for (const agent of [a, b]) {
      const r = row(agent, 'm')!
      assert.deepEqual([r.heartbeat_at_ms, r.lease_expires_at_ms, r.draining], [1000, 61_000, 1], 'a heartbeat and a drain written at once both survive')
      assert.equal(r.weight, 4, 'the column written more often wins, not the later or larger write')
      assert.equal(r.soft_limit, 90, 'equal versions: the larger value wins, not the later write')
    }
  })

  it('a delete beats concurrent updates (causal length); an insert after it resurrects the row everywhere', async (t) => {
    const cluster = await createCluster(3, {delayMs: 5, schemaPaths: [schemaDir]})
    t.after(() => cluster.close())
    const [a, b, c] = cluster.agents as [EmulatorAgent, EmulatorAgent, EmulatorAgent]
    a.transact([['INSERT INTO backends (id, wg_ip, port) VALUES (?, ?, ?)', ['d', '10.0.0.1', 80]]])
    await cluster.delivered()
    cluster.partition([a], [b, c])
    a.transact([['DELETE FROM backends WHERE id = ?', ['d']]])
    b.transact([['UPDATE backends SET weight = ?, port = ? WHERE id = ?', [7, 81, 'd']]])
    b.transact([['UPDATE backends SET draining = 1 WHERE id = ?', ['d']]])
    await cluster.delivered()
    assert.equal(row(c, 'd')!.weight, 7)
    cluster.heal()
    await cluster.delivered()
    for (const agent of [a, b, c]) assert.equal(row(agent, 'd'), undefined, 'deleted everywhere, whatever the other side wrote')
    b.transact([['INSERT INTO backends (id, wg_ip, port) VALUES (?, ?, ?)', ['d', '10.0.0.2', 82]]])
    await cluster.delivered()
    for (const agent of [a, b, c]) {
      const r = row(agent, 'd')!
      assert.deepEqual([r.wg_ip, r.port, r.weight, r.draining], ['10.0.0.2', 82, 2, 0], 'back, as inserted: nothing of the old row')
    }
  })

  it('a partition isolates agents: members go down on both sides, a heal brings them and the missed changes back; members and gaps can be pinned', async (t) => {
    const cluster = await createCluster(3, {delayMs: 5, schemaPaths: [schemaDir]})
    t.after(() => cluster.close())
    const [a, b, c] = cluster.agents as [EmulatorAgent, EmulatorAgent, EmulatorAgent]
    const view = async (agent: EmulatorAgent) => {
      agent.recordLag(0.01) // /v1/health answers members only with lag data
      const h = JSON.parse((await call(`${agent.url}/v1/health`, 'GET')).text).response as {members: number; gaps: number}
      const q = agent.rows(`SELECT COUNT(*) AS n FROM __corro_members WHERE json_extract(foca_state, '$.state') = 'Alive'`)[0]!.n
      assert.equal(q, h.members, '/v1/queries on __corro_members agrees with /v1/health')
      return h
    }
    assert.equal((await view(a)).members, 2)
    cluster.partition([c])
    assert.deepEqual([(await view(a)).members, (await view(b)).members, (await view(c)).members], [1, 1, 0])
    c.transact([['INSERT INTO backends (id, wg_ip, port) VALUES (?, ?, ?)', ['iso', '10.0.0.9', 80]]])
    await cluster.delivered()
    assert.equal(row(a, 'iso'), undefined)
    cluster.heal()
    await cluster.delivered()
    assert.equal(row(a, 'iso')!.wg_ip, '10.0.0.9', 'what the isolated side wrote arrives after the heal')
    assert.equal((await view(c)).members, 2)
    await b.stop()
    assert.equal((await view(a)).members, 1, 'a stopped agent is not alive')
    await b.start()
    assert.equal((await view(a)).members, 2)

    a.setMembers(0)
    a.gaps = 7
    const pinned = await view(a)
    assert.deepEqual([pinned.members, pinned.gaps], [0, 7])
    assert.equal((await call(`${a.url}/v1/health?gaps=5`, 'GET')).status, 503)
    a.setMembers(undefined)
    a.gaps = 0
    assert.deepEqual(Object.values(await view(a)).slice(0, 2), [0, 2])
  })
})
