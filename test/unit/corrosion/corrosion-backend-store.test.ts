// CorrosionBackendStore over real HTTP: the BackendStore contract on the emulator and, when
// CORROSION_TEST_URL is set, on a real agent; parity with SqliteBackendStore on the same sequence;
// one bound /v1/transactions per write, replication to a second agent, and error mapping (emulator).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import Database from 'better-sqlite3'

import type {Backend} from '../../../src/balancer/backend.js'
import {CorrosionClient} from '../../../src/corrosion/client.js'
import {CorrosionBackendStore} from '../../../src/corrosion/corrosion-backend-store.js'
import {CorrosionAuthError, CorrosionSqlError, CorrosionUnavailableError} from '../../../src/corrosion/errors.js'
import {CorrosionBackendStore as ExportedStore} from '../../../src/corrosion/index.js'
import {ExitCode} from '../../../src/errors.js'
import type {BackendStore, RegisterInput} from '../../../src/store/backend-store.js'
import {BACKEND_COLUMNS} from '../../../src/store/schema.js'
import {SqliteBackendStore} from '../../../src/store/sqlite-backend-store.js'
import {createCluster} from '../../support/corrosion-emulator/index.js'
import {backendsSchemaDir, emulatorTarget, targets, type Target} from '../../support/corrosion-emulator/targets.js'

const T0 = 1_700_000_000_000
const LEASE_MS = 30_000
/** The seeds' third way: a row inserted by SQL, with no lease and no registration time. */
const SQL_INSERT = 'INSERT INTO backends (id, app, region, wg_ip, port) VALUES (?, ?, ?, ?, ?)'
const HOSTILE_APP = "x'); DROP TABLE backends;--"
const HOSTILE_REGION = "eu' or '1'='1"

function input(id: string, over: Partial<RegisterInput> = {}): RegisterInput {
  return {id, app: 'web', region: 'eu', country: 'DE', ip: '10.0.0.1', port: 8080, weight: 2, softLimit: 100, hardLimit: 150, ...over}
}

const mine = (prefix: string, backends: Backend[]) => backends.filter((b) => b.id.startsWith(prefix))

for (const factory of targets()) {
  describe(`CorrosionBackendStore against the ${factory.name}`, () => {
    let target: Target
    let client: CorrosionClient
    let store: CorrosionBackendStore

    before(async () => {
      target = await factory.open()
      client = new CorrosionClient({url: target.url, token: target.token})
      store = new CorrosionBackendStore(client)
    })
    after(async () => {
      await client.execute([['DELETE FROM backends WHERE id LIKE ?', [`${target.prefix}%`]]]).catch(() => {})
      await store.close()
      await client.close()
      await target.close()
    })

    it('is the corrosion kind, described by the agent URL', () => {
      assert.equal(store.kind, 'corrosion')
      assert.equal(store.describe(), `corrosion:${target.url}`)
      assert.equal(ExportedStore, CorrosionBackendStore)
    })

    it('register creates, then updates keeping disable and drain; after deregister it comes back healthy and new', async () => {
      const id = `${target.prefix}reg`
      const first = await store.register(input(id), T0, LEASE_MS)
      assert.equal(first.created, true)
      assert.deepEqual(first.backend, {
        id,
        app: 'web',
        region: 'eu',
        country: 'DE',
        host: '10.0.0.1',
        port: 8080,
        isHealthy: true,
        isDraining: false,
        weight: 2,
        softLimit: 100,
        hardLimit: 150,
        leaseExpiresAtMs: T0 + LEASE_MS,
        heartbeatAtMs: T0,
        registeredAtMs: T0,
        updatedAtMs: T0,
        checkType: '',
        checkPort: 0,
        checkPath: '',
      })

      assert.equal((await store.change(id, {kind: 'disable'}, T0 + 1))?.isHealthy, false)
      const second = await store.register(input(id, {port: 9090, weight: 5, app: 'api'}), T0 + 2, LEASE_MS)
      assert.equal(second.created, false)
      assert.equal(second.backend.isHealthy, false, 'a disabled backend stays disabled when it re-registers')
      assert.equal(second.backend.port, 9090)
      assert.equal(second.backend.weight, 5)
      assert.equal(second.backend.app, 'api')
      assert.equal(second.backend.registeredAtMs, T0, 'an update keeps the first registration time')
      assert.equal(second.backend.leaseExpiresAtMs, T0 + 2 + LEASE_MS)
      assert.equal(second.backend.updatedAtMs, T0 + 2)

      await store.change(id, {kind: 'enable'}, T0 + 3)
      assert.equal((await store.change(id, {kind: 'drain'}, T0 + 4))?.isDraining, true)
      const third = await store.register(input(id), T0 + 5, LEASE_MS)
      assert.equal(third.created, false)
      assert.equal(third.backend.isDraining, true, 'drain survives a re-register')
      assert.equal(third.backend.isHealthy, true)

      await store.change(id, {kind: 'disable'}, T0 + 6)
      const gone = await store.deregister(id)
      assert.equal(gone?.isHealthy, false, 'deregister returns the backend as it was')
      assert.equal(await store.get(id), undefined)
      const back = await store.register(input(id), T0 + 8, LEASE_MS)
      assert.equal(back.created, true, 'a deregistered id registers as new')
      assert.equal(back.backend.isHealthy, true)
      assert.equal(back.backend.isDraining, false)
      assert.equal(back.backend.registeredAtMs, T0 + 8)
      assert.deepEqual(await store.get(id), back.backend)
    })

    it('renewLease extends a lease, refuses unknown and deleted ids, and leaves a lease of 0 at 0', async () => {
      const p = target.prefix
      assert.equal(await store.renewLease(`${p}nobody`, T0, LEASE_MS), undefined)

      await store.register(input(`${p}renew`), T0, LEASE_MS)
      const renewed = await store.renewLease(`${p}renew`, T0 + 10_000, LEASE_MS)
      assert.equal(renewed?.leaseExpiresAtMs, T0 + 10_000 + LEASE_MS)
      assert.equal(renewed?.heartbeatAtMs, T0 + 10_000)
      assert.equal(renewed?.updatedAtMs, T0 + 10_000)
      assert.equal(renewed?.registeredAtMs, T0)

      await store.deregister(`${p}renew`)
      assert.equal(await store.renewLease(`${p}renew`, T0 + 12_000, LEASE_MS), undefined)
      assert.deepEqual(await client.queryObjects(['SELECT id FROM backends WHERE id = ?', [`${p}renew`]]), [], 'a deleted row is not brought back')

      await client.execute([[SQL_INSERT, [`${p}bysql`, 'web', 'us', '10.0.0.9', 7000]]])
      const bySql = await store.renewLease(`${p}bysql`, T0, LEASE_MS)
      assert.ok(bySql, 'a row without a lease still exists')
      assert.equal(bySql.leaseExpiresAtMs, 0)
      assert.equal(bySql.heartbeatAtMs, 0)
      assert.equal((await store.get(`${p}bysql`))?.leaseExpiresAtMs, 0)
    })

    it('change drains, enables, disables and reweights; unknown and deleted ids give undefined', async () => {
      const id = `${target.prefix}chg`
      await store.register(input(id), T0, LEASE_MS)

      const drained = await store.change(id, {kind: 'drain'}, T0 + 1)
      assert.equal(drained?.isDraining, true)
      assert.equal(drained?.isHealthy, true)
      assert.equal(drained?.updatedAtMs, T0 + 1)

      const disabled = await store.change(id, {kind: 'disable'}, T0 + 2)
      assert.equal(disabled?.isHealthy, false)
      assert.equal(disabled?.isDraining, true)

      const enabled = await store.change(id, {kind: 'enable'}, T0 + 3)
      assert.equal(enabled?.isHealthy, true)
      assert.equal(enabled?.isDraining, false, 'enable also ends a drain')

      const weighted = await store.change(id, {kind: 'weight', weight: 7}, T0 + 4)
      assert.equal(weighted?.weight, 7)
      assert.equal(weighted?.updatedAtMs, T0 + 4)
      assert.equal(weighted?.leaseExpiresAtMs, T0 + LEASE_MS, 'a state change does not touch the lease')

      assert.equal(await store.change(`${target.prefix}nobody`, {kind: 'drain'}, T0 + 5), undefined)
      await store.deregister(id)
      assert.equal(await store.change(id, {kind: 'enable'}, T0 + 7), undefined)
      assert.deepEqual(await client.queryObjects(['SELECT id FROM backends WHERE id = ?', [id]]), [], 'a deleted row is not brought back')
    })

    it('deregister deletes the row once; the second call and unknown ids give undefined', async () => {
      const id = `${target.prefix}dereg`
      await store.register(input(id), T0, LEASE_MS)
      const first = await store.deregister(id)
      assert.equal(first?.id, id, 'the backend as it was')
      assert.equal(first?.updatedAtMs, T0)
      assert.equal(await store.deregister(id), undefined)
      assert.equal(await store.deregister(`${target.prefix}nobody`), undefined)
      assert.equal((await store.list()).find((b) => b.id === id), undefined)
      assert.deepEqual(await client.queryObjects(['SELECT id FROM backends WHERE id = ?', [id]]), [], 'no tombstone: the row is gone')
    })

    it('a row marked deleted = 1 (older versions) is absent to every operation; register revives it', async () => {
      const id = `${target.prefix}oldtomb`
      await client.execute([[SQL_INSERT, [id, 'web', 'us', '10.0.0.9', 7000]]])
      await client.execute([['UPDATE backends SET deleted = 1, healthy = 0 WHERE id = ?', [id]]])
      assert.equal(await store.get(id), undefined)
      assert.equal((await store.list()).find((b) => b.id === id), undefined)
      assert.equal(await store.renewLease(id, T0, LEASE_MS), undefined)
      assert.equal(await store.change(id, {kind: 'drain'}, T0), undefined)
      assert.equal(await store.deregister(id), undefined)
      const back = await store.register(input(id), T0 + 1, LEASE_MS)
      assert.equal(back.created, true)
      assert.equal(back.backend.isHealthy, true)
      assert.deepEqual(await client.queryObjects(['SELECT deleted FROM backends WHERE id = ?', [id]]), [{deleted: 0}])
    })

    it('stores SQL-looking text verbatim and the table survives it', async () => {
      const id = `${target.prefix}hostile`
      const r = await store.register(input(id, {app: HOSTILE_APP, region: HOSTILE_REGION}), T0, LEASE_MS)
      assert.equal(r.backend.app, HOSTILE_APP)
      assert.equal(r.backend.region, HOSTILE_REGION)
      const raw = await client.queryObjects(['SELECT app, region FROM backends WHERE id = ?', [id]])
      assert.deepEqual(raw, [{app: HOSTILE_APP, region: HOSTILE_REGION}])
      const tables = await client.queryObjects(["SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", ['backends']])
      assert.equal(tables.length, 1, 'the backends table is still there')
      assert.ok((await store.list()).some((b) => b.id === id && b.app === HOSTILE_APP))
    })

    it('lists every backend sorted by id, as SqliteBackendStore does', async () => {
      const p = `${target.prefix}ls-`
      for (const s of ['c', 'a', 'b']) await store.register(input(`${p}${s}`, {region: s === 'b' ? 'us' : 'eu'}), T0, LEASE_MS)
      const listed = (await store.list()).filter((b) => b.id.startsWith(p))
      assert.deepEqual(
        listed.map((b) => [b.id, b.region]),
        [
          [`${p}a`, 'eu'],
          [`${p}b`, 'us'],
          [`${p}c`, 'eu'],
        ],
      )
    })

    it('gives the same results and the same table as SqliteBackendStore for the same operations', async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ep-parity-'))
      const file = path.join(dir, 'routing.db')
      const sqlite = SqliteBackendStore.open(file, {create: true})
      t.after(() => {
        sqlite.close()
        fs.rmSync(dir, {recursive: true, force: true})
      })
      const p = `${target.prefix}par-`
      const insertBySql = {
        sqlite: () => {
          const db = new Database(file)
          try {
            db.prepare(SQL_INSERT).run(`${p}sql`, 'legacy', 'sa', '10.9.9.9', 5000)
          } finally {
            db.close()
          }
        },
        corrosion: async () => {
          await client.execute([[SQL_INSERT, [`${p}sql`, 'legacy', 'sa', '10.9.9.9', 5000]]])
        },
      }
      const sequence = async (s: BackendStore, kind: 'sqlite' | 'corrosion'): Promise<unknown[]> => {
        const out: unknown[] = []
        out.push(await s.register(input(`${p}a`), T0, LEASE_MS))
        out.push(await s.register(input(`${p}b`, {region: 'us', country: 'US', ip: '2001:db8::1', port: 443}), T0 + 1, LEASE_MS))
        out.push(await s.register(input(`${p}c`, {app: HOSTILE_APP, weight: 0, softLimit: 0, hardLimit: 0}), T0 + 2, LEASE_MS))
        out.push(await s.change(`${p}a`, {kind: 'disable'}, T0 + 3))
        out.push(await s.register(input(`${p}a`, {port: 8081}), T0 + 4, LEASE_MS))
        out.push(await s.change(`${p}b`, {kind: 'drain'}, T0 + 5))
        out.push(await s.change(`${p}b`, {kind: 'weight', weight: 9}, T0 + 6))
        out.push(await s.renewLease(`${p}b`, T0 + 7, LEASE_MS))
        out.push(await s.deregister(`${p}c`))
        out.push(await s.deregister(`${p}c`))
        out.push(await s.renewLease(`${p}c`, T0 + 10, LEASE_MS))
        out.push(await s.change(`${p}c`, {kind: 'enable'}, T0 + 11))
        out.push(await s.renewLease(`${p}none`, T0 + 12, LEASE_MS))
        out.push(await s.change(`${p}none`, {kind: 'drain'}, T0 + 13))
        out.push(await s.deregister(`${p}none`))
        if (kind === 'sqlite') insertBySql.sqlite()
        else await insertBySql.corrosion()
        out.push(await s.renewLease(`${p}sql`, T0 + 15, LEASE_MS))
        out.push(await s.register(input(`${p}sql`, {app: 'legacy'}), T0 + 16, LEASE_MS))
        out.push(await s.register(input(`${p}d`), T0 + 17, LEASE_MS))
        out.push(await s.deregister(`${p}d`))
        out.push(await s.register(input(`${p}d`, {weight: 4}), T0 + 19, LEASE_MS))
        out.push(await s.get(`${p}d`))
        out.push(await s.get(`${p}none`))
        return out
      }
      const fromSqlite = await sequence(sqlite, 'sqlite')
      const fromCorrosion = await sequence(store, 'corrosion')
      assert.deepEqual(fromCorrosion, fromSqlite)
      const listSqlite = mine(p, await sqlite.list())
      const listCorrosion = mine(p, await store.list())
      assert.equal(listSqlite.length, 4)
      assert.deepEqual(listCorrosion, listSqlite)
      // The comparison must be able to fail: the sequence left distinct, non-default state behind.
      assert.equal(listSqlite.find((b) => b.id === `${p}sql`)?.registeredAtMs, T0 + 16)
      assert.equal(listSqlite.find((b) => b.id === `${p}a`)?.isHealthy, false)
    })
  })
}

describe('CorrosionBackendStore: wire shape, replication and errors (emulator)', () => {
  it('sends every write as one /v1/transactions request of one [sql, params] statement, values never in the SQL', async (t) => {
    const target = await emulatorTarget()
    const store = CorrosionBackendStore.open({url: target.url})
    t.after(async () => {
      await store.close()
      await target.close()
    })
    const log = target.emulator.requests
    const since = (from: number) => log.slice(from).map((r) => r.url.replace(/\?.*$/, ''))
    const transactions = (from: number) => log.slice(from).filter((r) => r.url.startsWith('/v1/transactions'))

    let mark = log.length
    await store.register(input('w1', {app: HOSTILE_APP}), T0, LEASE_MS)
    assert.deepEqual(since(mark), ['/v1/queries', '/v1/transactions', '/v1/queries'])
    // A write is a transaction and the read-back of its row; deregister reads the row first (after
    // the DELETE there is nothing to read).
    const ops: [() => Promise<unknown>, string[]][] = [
      [() => store.renewLease('w1', T0 + 1, LEASE_MS), ['/v1/transactions', '/v1/queries']],
      [() => store.change('w1', {kind: 'weight', weight: 3}, T0 + 2), ['/v1/transactions', '/v1/queries']],
      [() => store.deregister('w1'), ['/v1/queries', '/v1/transactions']],
    ]
    const bodies = [...transactions(mark).map((r) => r.body)]
    for (const [op, requests] of ops) {
      mark = log.length
      await op()
      assert.deepEqual(since(mark), requests)
      bodies.push(...transactions(mark).map((r) => r.body))
    }
    assert.equal(bodies.length, 4)
    for (const body of bodies) {
      const parsed = JSON.parse(body) as unknown[]
      assert.equal(parsed.length, 1, 'one statement per write')
      const [sql, params] = parsed[0] as [unknown, unknown]
      assert.equal(typeof sql, 'string')
      assert.ok(Array.isArray(params) && params.length > 0, 'the WithParams form')
      assert.ok(!(sql as string).includes('w1') && !(sql as string).includes('DROP TABLE'), `no value in the SQL: ${sql as string}`)
    }
    assert.ok((JSON.parse(bodies[0]!) as [[string, unknown[]]])[0][1].includes(HOSTILE_APP))

    // A change that matches no row is known from rows_affected alone: no read follows.
    mark = log.length
    assert.equal(await store.change('nobody', {kind: 'drain'}, T0), undefined)
    assert.deepEqual(since(mark), ['/v1/transactions'])
  })

  it('a write on one agent is readable through another agent\'s own store after replication', async (t) => {
    const schemaDir = backendsSchemaDir()
    const cluster = await createCluster(2, {delayMs: 20, schemaPaths: [schemaDir]})
    const [a, b] = cluster.agents.map((agent) => CorrosionBackendStore.open({url: agent.url}))
    t.after(async () => {
      await a!.close()
      await b!.close()
      await cluster.close()
      fs.rmSync(schemaDir, {recursive: true, force: true})
    })

    cluster.partition([cluster.agents[0]!])
    const registered = await a!.register(input('rep', {app: HOSTILE_APP, region: 'sa', country: 'BR'}), T0, LEASE_MS)
    assert.equal(await b!.get('rep'), undefined, 'not there before it replicated')
    cluster.heal()
    await cluster.delivered()
    assert.deepEqual(await b!.get('rep'), registered.backend)

    const drained = await b!.change('rep', {kind: 'drain'}, T0 + 1)
    await cluster.delivered()
    assert.deepEqual(await a!.get('rep'), drained)

    const again = await b!.register(input('rep', {app: HOSTILE_APP, region: 'sa', country: 'BR'}), T0 + 2, LEASE_MS)
    assert.equal(again.created, false, 'the replicated row counts as existing on the other agent')
    assert.equal(again.backend.isDraining, true)
    await cluster.delivered()

    await a!.deregister('rep')
    await cluster.delivered()
    assert.equal(await b!.get('rep'), undefined, 'the delete replicated')
    assert.equal(await b!.renewLease('rep', T0 + 4, LEASE_MS), undefined)
    assert.deepEqual(await b!.list(), await a!.list())
  })

  it('a write of a column the agent lacks (init-schema not run there) names init-schema, EP_CORROSION_SCHEMA_MISMATCH', async (t) => {
    const schemaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corro-older-'))
    const older = BACKEND_COLUMNS.filter((c) => c.name !== 'drained_at_ms' && c.name !== 'disabled_at_ms' && c.name !== 'enabled_at_ms')
    fs.writeFileSync(path.join(schemaDir, 'backends.sql'), `CREATE TABLE backends (${older.map((c) => `${c.name} ${c.definition}`).join(', ')});`)
    const target = await emulatorTarget({schemaPaths: [schemaDir]})
    const store = CorrosionBackendStore.open({url: target.url})
    t.after(async () => {
      await store.close()
      await target.close()
      fs.rmSync(schemaDir, {recursive: true, force: true})
    })
    target.emulator.transact([[SQL_INSERT, ['old', 'web', 'eu', '10.0.0.1', 80]]])
    await assert.rejects(store.change('old', {kind: 'drain'}, T0), (e: unknown) => {
      const err = e as {code?: string; message: string; exitCode?: number}
      return err.code === 'EP_CORROSION_SCHEMA_MISMATCH' && /no column drained_at_ms/.test(err.message) && /init-schema/.test(err.message) && err.exitCode === ExitCode.invalid
    })
    assert.equal((await store.get('old'))!.isDraining, false, 'nothing was written')
  })

  it('maps an unreachable agent to EP_CORROSION_UNAVAILABLE (exit 4)', async (t) => {
    const server = http.createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    const port = (server.address() as AddressInfo).port
    await new Promise<void>((r) => server.close(() => r()))
    const store = CorrosionBackendStore.open({url: `http://127.0.0.1:${port}`})
    t.after(() => store.close())
    const unavailable = (e: unknown) => {
      assert.ok(e instanceof CorrosionUnavailableError)
      assert.equal(e.code, 'EP_CORROSION_UNAVAILABLE')
      assert.equal(e.exitCode, ExitCode.unavailable)
      assert.ok(e.message.includes(`127.0.0.1:${port}`))
      return true
    }
    await assert.rejects(store.register(input('x'), T0, LEASE_MS), unavailable)
    await assert.rejects(store.deregister('x'), unavailable)
    await assert.rejects(store.list(), unavailable)
  })

  it('passes refused SQL on as the client\'s EP_CORROSION_SQL, and nothing is written', async (t) => {
    const target = await emulatorTarget({schemaPaths: []})
    const store = CorrosionBackendStore.open({url: target.url})
    t.after(async () => {
      await store.close()
      await target.close()
    })
    const refused = (e: unknown) => {
      assert.ok(e instanceof CorrosionSqlError)
      assert.equal(e.code, 'EP_CORROSION_SQL')
      assert.equal(e.exitCode, ExitCode.invalid)
      assert.match(e.agentMessage, /no such table: backends/)
      return true
    }
    await assert.rejects(store.register(input('x'), T0, LEASE_MS), refused)
    await assert.rejects(store.change('x', {kind: 'drain'}, T0), refused)
    await assert.rejects(store.list(), refused)
    assert.equal(target.emulator.requests.filter((r) => r.url.startsWith('/v1/transactions') && r.status === 200).length, 0)
  })

  it('sends the token, never shows it, and maps a wrong one to EP_CORROSION_AUTH', async (t) => {
    const token = 'sekret-token-1234'
    const target = await emulatorTarget({token})
    const good = CorrosionBackendStore.open({url: target.url, token})
    const bad = CorrosionBackendStore.open({url: target.url, token: 'wrong'})
    t.after(async () => {
      await good.close()
      await bad.close()
      await target.close()
    })
    assert.equal(good.describe(), `corrosion:${target.url}`)
    assert.ok(!good.describe().includes(token))
    assert.equal((await good.register(input('tok'), T0, LEASE_MS)).created, true)
    await assert.rejects(bad.list(), (e: unknown) => e instanceof CorrosionAuthError && e.code === 'EP_CORROSION_AUTH')
  })

  it('close() leaves a shared client open and closes an owned one', async (t) => {
    const target = await emulatorTarget()
    const client = new CorrosionClient({url: target.url})
    t.after(async () => {
      await client.close()
      await target.close()
    })
    const shared = new CorrosionBackendStore(client)
    await shared.close()
    assert.deepEqual(await new CorrosionBackendStore(client).list(), [], 'the shared client still works')
    const owned = CorrosionBackendStore.open({url: target.url})
    await owned.list()
    await owned.close()
    await assert.rejects(owned.list(), (e: unknown) => e instanceof CorrosionUnavailableError)
  })
})
