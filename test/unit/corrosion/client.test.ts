// The Corrosion client against real HTTP: every pitfall of corrosion-api.md §11, on the emulator and,
// when CORROSION_TEST_URL is set, on a real agent too. Emulator-only checks (restarts, shedding,
// the request log) are in their own describe blocks.
import assert from 'node:assert/strict'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {after, before, describe, it} from 'node:test'

import {CorrosionClient} from '../../../src/corrosion/client.js'
import {
  CorrosionAuthError,
  CorrosionMigrationsUnsupportedError,
  CorrosionOverloadedError,
  CorrosionProtocolError,
  CorrosionRequestError,
  CorrosionSchemaError,
  CorrosionSqlError,
  CorrosionTimeoutError,
  CorrosionUnavailableError,
} from '../../../src/corrosion/errors.js'
import {emulatorTarget, targets, type Target} from '../../support/corrosion-emulator/targets.js'

const INSERT = 'INSERT INTO backends (id, app, region, wg_ip, port) VALUES (?, ?, ?, ?, ?)'

for (const factory of targets()) {
  describe(`CorrosionClient against the ${factory.name}`, () => {
    let target: Target
    let client: CorrosionClient

    before(async () => {
      target = await factory.open()
      client = new CorrosionClient({url: target.url, token: target.token})
    })
    after(async () => {
      await client.execute([['DELETE FROM backends WHERE id LIKE ?', [`${target.prefix}%`]]]).catch(() => {})
      await client.close()
      await target.close()
    })

    it('commits a transaction and reports rows, version and actor id', async () => {
      const r = await client.execute([[INSERT, [`${target.prefix}a`, 'web', 'eu', '10.0.0.1', 80]]])
      assert.equal(r.results.length, 1)
      assert.equal(r.results[0]!.rowsAffected, 1)
      assert.equal(typeof r.version, 'number')
      assert.match(r.actorId!, /^[0-9a-f]{32}$/)
    })

    it('treats a batch as all-or-nothing and returns the rusqlite text of the failure', async () => {
      const id = `${target.prefix}dup`
      await client.execute([[INSERT, [id, 'web', 'eu', '10.0.0.2', 80]]])
      const other = `${target.prefix}rolled-back`
      await assert.rejects(
        client.execute([
          [INSERT, [other, 'web', 'eu', '10.0.0.3', 80]],
          [INSERT, [id, 'web', 'eu', '10.0.0.2', 80]],
        ]),
        (e: unknown) =>
          e instanceof CorrosionSqlError &&
          e.status === 500 &&
          /^rusqlite: UNIQUE constraint failed: backends\.id \(actor_id: None, version: None\)$/.test(e.agentMessage) &&
          e.code === 'EP_CORROSION_SQL',
      )
      const rows = await client.query(['SELECT id FROM backends WHERE id = ?', [other]])
      assert.equal(rows.rows.length, 0, 'the first statement was rolled back')
    })

    it('reports version null when nothing replicable changed', async () => {
      const id = `${target.prefix}noop`
      await client.execute([[INSERT, [id, 'web', 'eu', '10.0.0.4', 80]]])
      const r = await client.execute([['UPDATE backends SET port = port WHERE id = ?', [id]]])
      assert.equal(r.version, null)
    })

    it('reads a query to eoq in all four statement forms with bound parameters', async () => {
      const id = `${target.prefix}forms`
      await client.execute([{query: INSERT, params: [id, 'api', 'sa', '10.0.0.5', 443]}])
      const forms = [
        ['SELECT id, port FROM backends WHERE id = ?', [id]],
        ['SELECT id, port FROM backends WHERE id = :id', {':id': id}],
        {query: 'SELECT id, port FROM backends WHERE id = @id', named_params: {'@id': id}},
        {query: 'SELECT id, port FROM backends WHERE id = $1', params: [id]},
      ] as const
      for (const form of forms) {
        const r = await client.query(form)
        assert.deepEqual(r.columns, ['id', 'port'])
        assert.deepEqual(r.rows, [{rowid: 1, cells: [id, 443]}], JSON.stringify(form))
      }
      const all = await client.query('SELECT 1 AS one')
      assert.deepEqual(all.rows[0]!.cells, [1])
    })

    it('binds booleans as integers, blobs as bytes, bigints exactly and JSON as text', async () => {
      const r = await client.query([
        'SELECT typeof(?), ?, typeof(?), typeof(?), ?, json_extract(?, \'$.a\'), typeof(?)',
        [true, true, Uint8Array.of(1, 2), 9007199254740993n, 9007199254740993n, JSON.stringify({a: 7}), 1.5],
      ])
      const [boolType, boolValue, blobType, bigType, big, json, realType] = r.rows[0]!.cells
      assert.equal(boolType, 'integer')
      assert.equal(boolValue, 1)
      assert.equal(blobType, 'blob')
      assert.equal(bigType, 'integer')
      assert.equal(typeof big, 'number', 'documented: JSON.parse reads i64 beyond 2^53 as an imprecise number')
      assert.equal(json, 7)
      assert.equal(realType, 'real')
      const blob = await client.query(['SELECT ?', [[0, 127, 255]]])
      assert.deepEqual(blob.rows[0]!.cells[0], [0, 127, 255])
    })

    it('maps a prepare error and a write sent to /v1/queries to CorrosionSqlError', async () => {
      await assert.rejects(client.query('SELECT * FROM no_such_table'), (e: unknown) => e instanceof CorrosionSqlError && e.status === 400 && /no such table: no_such_table/.test(e.message))
      await assert.rejects(client.query(['DELETE FROM backends WHERE id = ?', ['x']]), (e: unknown) => e instanceof CorrosionSqlError && e.agentMessage === 'statement is not readonly')
      await assert.rejects(client.query(['SELECT :a', {':a': 1, ':b': 2} as never]), /":b" does not appear/)
    })

    it('shows a 4xx text body in the error', async () => {
      await assert.rejects(client.execute(['SELECT 1'], {timeoutSecs: -1}), (e: unknown) => e instanceof CorrosionRequestError && e.status === 400 && /Failed to deserialize query string/.test(e.message))
    })

    it('answers health (quiet cluster = idle, not down) and table stats', async () => {
      const health = await client.health()
      assert.ok(['idle', 'healthy', 'unhealthy'].includes(health.state))
      if (health.state === 'idle') assert.equal(health.status, 503)
      const stats = await client.tableStats(['backends', 'no_such_table'])
      assert.deepEqual(stats.invalidTables, ['no_such_table'])
      assert.ok(stats.totalRowCount >= 1)
    })
  })
}

describe('CorrosionClient: emulator-only pitfalls', () => {
  let target: Target & {emulator: NonNullable<Target['emulator']>}
  let client: CorrosionClient

  before(async () => {
    target = await emulatorTarget({token: 's3cret-token'})
    client = new CorrosionClient({url: target.url, token: 's3cret-token', overloadBaseDelayMs: 1, overloadMaxDelayMs: 5})
  })
  after(async () => {
    await client.close()
    await target.close()
  })

  it('sends content-type application/json and `authorization: Bearer <token>` exactly, on every route', async () => {
    const before = target.emulator.requests.length
    await client.execute([['DELETE FROM backends WHERE id = ?', ['none']]])
    await client.query('SELECT 1')
    await client.tableStats(['backends'])
    await client.health()
    const seen = target.emulator.requests.slice(before)
    assert.equal(seen.length, 4)
    for (const r of seen) {
      assert.equal(r.authorization, 'Bearer s3cret-token', r.url)
      if (r.method === 'POST') assert.equal(r.contentType, 'application/json', r.url)
    }
  })

  it('turns 401 into an auth error that never shows the token', async () => {
    const wrong = new CorrosionClient({url: target.url, token: 'wrong-token'})
    const none = new CorrosionClient({url: target.url})
    try {
      await assert.rejects(wrong.query('SELECT 1'), (e: unknown) => {
        assert.ok(e instanceof CorrosionAuthError)
        assert.equal(e.code, 'EP_CORROSION_AUTH')
        assert.equal(e.exitCode, 3)
        assert.doesNotMatch(`${e.message} ${e.suggestion}`, /wrong-token/)
        assert.match(e.message, /refused the bearer token/)
        return true
      })
      await assert.rejects(none.health(), (e: unknown) => e instanceof CorrosionAuthError && /requires a bearer token/.test(e.message))
    } finally {
      await wrong.close()
      await none.close()
    }
  })

  it('refuses a token that cannot travel in a header without echoing it', () => {
    assert.throws(
      () => new CorrosionClient({url: target.url, token: 'has space'}),
      (e: unknown) => e instanceof Error && !/has space/.test(e.message) && (e as unknown as {code: string}).code === 'EP_CORROSION_CONFIG_INVALID',
    )
  })

  it('retries 503 load shedding with backoff, then succeeds', async () => {
    const before = target.emulator.requests.length
    target.emulator.shed(3, ['/v1/queries'])
    const r = await client.query('SELECT 42')
    assert.deepEqual(r.rows[0]!.cells, [42])
    const attempts = target.emulator.requests.slice(before).filter((q) => q.url.startsWith('/v1/queries'))
    assert.deepEqual(attempts.map((a) => a.status), [503, 503, 503, 200])
  })

  it('gives up on endless shedding after a bounded number of attempts', async () => {
    target.emulator.shed('always', ['/v1/transactions'])
    try {
      await assert.rejects(client.execute(['DELETE FROM backends WHERE 0']), (e: unknown) => e instanceof CorrosionOverloadedError && e.exitCode === 4 && /7 times/.test(e.message))
    } finally {
      target.emulator.shed('off')
    }
  })

  it('reads /v1/health: idle without lag data, healthy with it, unhealthy over a threshold', async () => {
    assert.deepEqual(await client.health(), {state: 'idle', status: 503, error: 'no p99 lag information available'})
    target.emulator.recordLag(0.02)
    const healthy = await client.health()
    assert.equal(healthy.state, 'healthy')
    assert.equal(healthy.members, 0)
    assert.equal(healthy.gaps, 0)
    target.emulator.gaps = 5
    const unhealthy = await client.health({gaps: 1})
    assert.equal(unhealthy.state, 'unhealthy')
    assert.equal(unhealthy.status, 503)
    assert.equal(unhealthy.gaps, 5)
    target.emulator.gaps = 0
  })

  it('uses POST /v1/migrations where the agent has it, and says so when it does not', async () => {
    target.emulator.setMigrations(false)
    await assert.rejects(client.migrations(['CREATE TABLE m (id TEXT NOT NULL PRIMARY KEY)']), CorrosionMigrationsUnsupportedError)
    target.emulator.setMigrations(true)
    const ok = await client.migrations(['CREATE TABLE m (id TEXT NOT NULL PRIMARY KEY)'])
    assert.equal(ok.version, null)
    await assert.rejects(
      client.migrations(['CREATE TABLE m2 (id TEXT PRIMARY KEY)']),
      (e: unknown) => e instanceof CorrosionSchemaError && (e as CorrosionSchemaError).rules[0] === 'Table m2 has no primary key or primary key is nullable. CRRs must have a non nullable primary key',
    )
    target.emulator.setMigrations(false)
  })

  it('maps connection refused to EP_CORROSION_UNAVAILABLE naming the URL and the flag', async () => {
    const server = http.createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.address() as AddressInfo).port
    await new Promise<void>((r) => server.close(() => r()))
    const dead = new CorrosionClient({url: `http://127.0.0.1:${port}`, token: 'x'})
    try {
      await assert.rejects(dead.query('SELECT 1'), (e: unknown) => {
        assert.ok(e instanceof CorrosionUnavailableError)
        assert.equal(e.code, 'EP_CORROSION_UNAVAILABLE')
        assert.equal(e.exitCode, 4)
        assert.equal(e.message, `cannot reach Corrosion at http://127.0.0.1:${port}`)
        assert.equal(e.suggestion, 'start the agent (systemctl start corrosion) or pass --corrosion-url')
        return true
      })
    } finally {
      await dead.close()
    }
  })
})

describe('CorrosionClient: streams that break the contract', () => {
  let server: http.Server
  let url: string
  let reply: (res: http.ServerResponse) => void = () => {}

  before(async () => {
    server = http.createServer((req, res) => {
      req.resume()
      req.on('end', () => reply(res))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise<void>((r) => server.close(() => r()))
  })

  it('treats EOF before eoq as a failure', async () => {
    reply = (res) => {
      res.writeHead(200)
      res.end('{"columns":["a"]}\n{"row":[1,[1]]}\n')
    }
    const client = new CorrosionClient({url})
    await assert.rejects(client.query('SELECT a FROM t'), (e: unknown) => e instanceof CorrosionProtocolError && /before eoq/.test(e.message))
    await client.close()
  })

  it('treats an error event midway as a failure, and `interrupted` as a timeout', async () => {
    reply = (res) => {
      res.writeHead(200)
      res.end('{"columns":["a"]}\n{"error":"database disk image is malformed"}\n')
    }
    const client = new CorrosionClient({url})
    await assert.rejects(client.query('SELECT a FROM t'), (e: unknown) => e instanceof CorrosionSqlError && e.agentMessage === 'database disk image is malformed')
    reply = (res) => {
      res.writeHead(200)
      res.end('{"columns":["a"]}\n{"error":"interrupted"}\n')
    }
    await assert.rejects(client.query('SELECT a FROM t'), CorrosionTimeoutError)
    await client.close()
  })

  it('reads a 500 on /v1/queries (bind error) and a 200 transaction result', async () => {
    reply = (res) => {
      res.writeHead(500)
      res.end('{"error":"Wrong number of parameters passed to query. Got 1, needed 2"}')
    }
    const client = new CorrosionClient({url})
    await assert.rejects(client.query(['SELECT ?', [1]]), (e: unknown) => e instanceof CorrosionSqlError && e.status === 500 && /Wrong number/.test(e.message))
    reply = (res) => {
      res.writeHead(200, {'content-type': 'application/json'})
      res.end('{"results":[{"rows_affected":2,"time":0.1}],"time":0.2,"version":null,"actor_id":"00112233445566778899aabbccddeeff"}')
    }
    assert.deepEqual(await client.execute(['DELETE FROM t']), {
      results: [{rowsAffected: 2, timeSecs: 0.1}],
      timeSecs: 0.2,
      version: null,
      actorId: '00112233445566778899aabbccddeeff',
    })
    await client.close()
  })

  it('tells a transaction 500 of the agent itself (ChangeError::Pool) and a timeout from a SQL refusal', async () => {
    const fail = (error: string) => (res: http.ServerResponse) => {
      res.writeHead(500, {'content-type': 'application/json'})
      res.end(JSON.stringify({results: [{error}], time: 0.0, version: null, actor_id: '00112233445566778899aabbccddeeff'}))
    }
    const client = new CorrosionClient({url})
    reply = fail('could not acquire pooled write connection: timed out waiting for connection')
    await assert.rejects(client.execute(['DELETE FROM t']), (e: unknown) => e instanceof CorrosionRequestError && e.status === 500 && e.exitCode === 4)
    reply = fail('rusqlite: interrupted (actor_id: None, version: None)')
    await assert.rejects(client.execute(['DELETE FROM t'], {timeoutSecs: 2}), CorrosionTimeoutError)
    await assert.rejects(client.execute(['DELETE FROM t']), (e: unknown) => e instanceof CorrosionSqlError && e.status === 500)
    await client.close()
  })
})
