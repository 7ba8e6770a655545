// BackendService over a real SqliteBackendStore (a temp file) with an injected clock: register says
// created or updated, operator state survives a re-register, renewals are coalesced (the `writes`
// counter over simulated timelines), expiry is judged from the stored lease by any reader, a late
// heartbeat revives, SQL-inserted rows never expire, and concurrent heartbeats make one write.
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, test, type TestContext} from 'node:test'

import Database from 'better-sqlite3'

import {backendState, type Backend} from '../../../src/balancer/backend.js'
import {Router} from '../../../src/balancer/router.js'
import {backendJson} from '../../../src/discovery/backend-json.js'
import {BackendService} from '../../../src/discovery/backend-service.js'
import type {RegisterInput} from '../../../src/store/backend-store.js'
import {SqliteBackendStore} from '../../../src/store/sqlite-backend-store.js'
import {tempDir} from '../../support/proxy-process.js'

const T0 = 1_700_000_000_000
const TTL_MS = 30_000
/** The seeds' third way: a row inserted by SQL, with no lease. */
const SEED_INSERT =
  'INSERT INTO backends (id, app, region, wg_ip, port, healthy, weight, soft_limit, hard_limit) VALUES (?, ?, ?, ?, ?, 1, 2, 100, 150)'

function input(id: string, over: Partial<RegisterInput> = {}): RegisterInput {
  return {id, app: 'web', region: 'sa', country: 'BR', ip: '10.0.0.1', port: 9000, weight: 2, softLimit: 100, hardLimit: 150, ...over}
}

interface Setup {
  file: string
  store: SqliteBackendStore
  service: BackendService
  clock: {now: number}
  router?: Router
  /** A second connection, as an operator or another process has. */
  sql: Database.Database
}

function setup(t: TestContext, options: {withView?: boolean; leaseMs?: number} = {}): Setup {
  const tmp = tempDir()
  const file = path.join(tmp.dir, 'routing.db')
  const store = SqliteBackendStore.open(file, {create: true})
  const sql = new Database(file)
  t.after(() => {
    sql.close()
    store.close()
    tmp.cleanup()
  })
  const clock = {now: T0}
  const router = options.withView
    ? new Router({localRegion: 'sa', bindingTtlMs: 600_000, bindingMaxEntries: 1000, failureCooldownMs: 1000, now: () => clock.now})
    : undefined
  const service = new BackendService({store, leaseMs: options.leaseMs ?? TTL_MS, now: () => clock.now, view: router})
  return {file, store, service, clock, router, sql}
}

type StoredRow = Record<string, unknown>
const rowOf = (s: Setup, id: string) => s.sql.prepare('SELECT * FROM backends WHERE id = ?').get(id) as StoredRow | undefined
const allRows = (s: Setup) => s.sql.prepare('SELECT * FROM backends ORDER BY id').all() as StoredRow[]

describe('register', () => {
  test('registered_by: the POP that took the last register; heartbeats, actions and a store-direct register keep it; SQL rows have none', async (t) => {
    const s = setup(t, {leaseMs: 3000})
    const registeredBy = async (id: string) => [rowOf(s, id)?.registered_by, (await s.service.get(id))?.registeredBy]
    await s.service.register(input('a', {registeredBy: 'sa'}))
    assert.deepEqual(await registeredBy('a'), ['sa', 'sa'])
    // Heartbeats (this one writes: less than 2/3 of the lease is left), drain, weight: kept.
    s.clock.now = T0 + 2500
    assert.equal((await s.service.heartbeat('a'))?.stored, true)
    await s.service.change('a', {kind: 'drain'})
    await s.service.change('a', {kind: 'weight', weight: 9})
    assert.deepEqual(await registeredBy('a'), ['sa', 'sa'])
    // A register straight into the store (backend register --db / --corrosion-url: no POP) keeps it.
    await s.service.register(input('a'))
    assert.deepEqual(await registeredBy('a'), ['sa', 'sa'])
    // The same backend registering at another POP's API: that POP now.
    await s.service.register(input('a', {registeredBy: 'eu'}))
    assert.deepEqual(await registeredBy('a'), ['eu', 'eu'])
    assert.equal(backendJson((await s.service.get('a'))!, s.clock.now, null).registered_by, 'eu')
    // A row of the seeds' INSERT: NULL in the table, null in JSON, absent on the Backend.
    s.sql.prepare(SEED_INSERT).run('seed', 'web', 'sa', '10.0.0.9', 9000)
    const seed = (await s.service.get('seed'))!
    assert.deepEqual([rowOf(s, 'seed')?.registered_by, seed.registeredBy, backendJson(seed, s.clock.now, null).registered_by], [null, undefined, null])
    // A store-direct register of a new backend has none either.
    await s.service.register(input('b'))
    assert.deepEqual(await registeredBy('b'), [null, undefined])
  })

  test('creates, then updates in place and says so; registered_at is kept, the lease restarts', async (t) => {
    const s = setup(t)
    const first = await s.service.register(input('a'))
    assert.equal(first.created, true)
    assert.equal(first.backend.leaseExpiresAtMs, T0 + TTL_MS)
    assert.equal(first.backend.registeredAtMs, T0)
    s.clock.now = T0 + 5000
    const second = await s.service.register(input('a', {port: 9001, weight: 7, country: 'AR'}))
    assert.equal(second.created, false)
    assert.deepEqual(
      {port: second.backend.port, weight: second.backend.weight, country: second.backend.country},
      {port: 9001, weight: 7, country: 'AR'},
    )
    assert.equal(second.backend.registeredAtMs, T0)
    assert.equal(second.backend.updatedAtMs, T0 + 5000)
    assert.equal(second.backend.leaseExpiresAtMs, T0 + 5000 + TTL_MS)
    assert.equal(allRows(s).length, 1)
    assert.equal(s.service.writes, 2)
  })

  test('operator state (disabled, draining) survives a re-register; a deregistered id comes back new', async (t) => {
    const s = setup(t)
    await s.service.register(input('a'))
    assert.equal((await s.service.change('a', {kind: 'disable'}))!.isHealthy, false)
    const again = await s.service.register(input('a'))
    assert.equal(again.created, false)
    assert.equal(backendState(again.backend, s.clock.now), 'unhealthy')

    await s.service.change('a', {kind: 'enable'})
    await s.service.change('a', {kind: 'drain'})
    const drained = await s.service.register(input('a'))
    assert.equal(backendState(drained.backend, s.clock.now), 'draining')

    await s.service.change('a', {kind: 'disable'})
    const gone = await s.service.deregister('a')
    assert.equal(backendState(gone!, s.clock.now), 'unhealthy', 'the backend as it was')
    assert.equal(rowOf(s, 'a'), undefined)
    s.clock.now = T0 + 1000
    const back = await s.service.register(input('a'))
    assert.equal(back.created, true)
    assert.equal(backendState(back.backend, s.clock.now), 'healthy')
    assert.equal(back.backend.isDraining, false)
    assert.equal(back.backend.registeredAtMs, T0 + 1000)
  })

  test('SQL-looking text is stored verbatim through bound parameters (the store layer; the API refuses it earlier)', async (t) => {
    const s = setup(t)
    const hostile = {app: "x'); DROP TABLE backends;--", region: "eu' OR '1'='1"}
    await s.service.register(input('a', hostile))
    await s.service.register(input('b'))
    const row = rowOf(s, 'a')!
    assert.deepEqual({app: row.app, region: row.region}, hostile)
    assert.equal(allRows(s).length, 2)
  })

  test('a write refused by a locked store stores nothing and counts no write; the next one succeeds', async (t) => {
    const s = setup(t)
    await s.service.register(input('a'))
    s.clock.now = T0 + 15_000 // a renewal is due
    s.sql.exec('BEGIN IMMEDIATE')
    await assert.rejects(s.service.register(input('b')), {code: 'EP_STORE_BUSY'})
    await assert.rejects(s.service.heartbeat('a'), {code: 'EP_STORE_BUSY'})
    s.sql.exec('ROLLBACK')
    assert.equal(s.service.writes, 1)
    assert.equal(rowOf(s, 'b'), undefined)
    assert.equal(rowOf(s, 'a')!.lease_expires_at_ms, T0 + TTL_MS)
    // The failed renewal left no phantom pending lease behind: the next heartbeat writes.
    const renewed = await s.service.heartbeat('a')
    assert.equal(renewed!.stored, true)
    assert.equal(rowOf(s, 'a')!.lease_expires_at_ms, T0 + 15_000 + TTL_MS)
    assert.equal(s.service.writes, 2)
  })
})

describe('coalesced heartbeats', () => {
  test('a heartbeat writes only when less than two thirds of the TTL is left (boundary exact)', async (t) => {
    const s = setup(t)
    await s.service.register(input('a'))
    s.clock.now = T0 + TTL_MS / 3 // exactly 2/3 left: not yet
    assert.equal((await s.service.heartbeat('a'))!.stored, false)
    assert.equal(s.service.writes, 1)
    s.clock.now = T0 + TTL_MS / 3 + 1
    const renewed = await s.service.heartbeat('a')
    assert.equal(renewed!.stored, true)
    assert.equal(renewed!.backend.leaseExpiresAtMs, s.clock.now + TTL_MS)
    assert.equal(renewed!.backend.heartbeatAtMs, s.clock.now)
    assert.equal(rowOf(s, 'a')!.lease_expires_at_ms, s.clock.now + TTL_MS)
    assert.equal(s.service.writes, 2)
  })

  // Over 3 TTLs (90 s): a renewal happens at the first heartbeat after a third of the TTL has passed
  // since the last write, so the count is fixed by the rule and never above 3 per TTL.
  const timelines: {everyMs: number; renewalsAtSecs: number[]}[] = [
    {everyMs: 1000, renewalsAtSecs: [11, 22, 33, 44, 55, 66, 77, 88]},
    {everyMs: 100, renewalsAtSecs: [10.1, 20.2, 30.3, 40.4, 50.5, 60.6, 70.7, 80.8]},
    {everyMs: 5000, renewalsAtSecs: [15, 30, 45, 60, 75, 90]},
    {everyMs: 25_000, renewalsAtSecs: [25, 50, 75]},
  ]
  for (const {everyMs, renewalsAtSecs} of timelines) {
    test(`a heartbeat every ${everyMs} ms for 3 TTLs: ${renewalsAtSecs.length} renewals + the register, never expired`, async (t) => {
      const s = setup(t)
      await s.service.register(input('a'))
      const storedAt: number[] = []
      for (let elapsed = everyMs; elapsed <= 3 * TTL_MS; elapsed += everyMs) {
        s.clock.now = T0 + elapsed
        const result = await s.service.heartbeat('a')
        assert.notEqual(result, undefined)
        assert.equal(backendState(result!.backend, s.clock.now), 'healthy', `expired at +${elapsed} ms`)
        if (result!.stored) storedAt.push(elapsed / 1000)
      }
      assert.deepEqual(storedAt, renewalsAtSecs)
      assert.equal(s.service.writes, 1 + renewalsAtSecs.length)
      assert.ok(s.service.writes - 1 <= 3 * 3)
    })
  }

  for (const withView of [false, true]) {
    test(`500 concurrent heartbeats when a renewal is due make exactly one write (${withView ? 'with' : 'without'} a routing view)`, async (t) => {
      const s = setup(t, {withView})
      await s.service.register(input('a'))
      await s.service.register(input('b'))
      s.clock.now = T0 + 20_000
      const results = await Promise.all(Array.from({length: 500}, () => s.service.heartbeat('a')))
      assert.equal(results.filter((r) => r!.stored).length, 1)
      assert.equal(results.filter((r) => r === undefined).length, 0)
      assert.equal(s.service.writes, 3)
      assert.equal(rowOf(s, 'a')!.lease_expires_at_ms, T0 + 20_000 + TTL_MS)
      // Once renewed, a further burst is coalesced entirely.
      const again = await Promise.all(Array.from({length: 500}, () => s.service.heartbeat('a')))
      assert.equal(again.filter((r) => r!.stored).length, 0)
      assert.equal(s.service.writes, 3)
      // The other backend's lease was untouched.
      assert.equal(rowOf(s, 'b')!.lease_expires_at_ms, T0 + TTL_MS)
    })
  }

  test('concurrent heartbeats for many backends make one write each', async (t) => {
    const s = setup(t, {withView: true})
    const ids = Array.from({length: 50}, (_, i) => `n${i}`)
    await Promise.all(ids.map((id) => s.service.register(input(id))))
    assert.equal(s.service.writes, 50)
    s.clock.now = T0 + 25_000
    const results = await Promise.all(ids.flatMap((id) => Array.from({length: 10}, () => s.service.heartbeat(id))))
    assert.equal(results.filter((r) => r!.stored).length, 50)
    assert.equal(s.service.writes, 100)
  })
})

describe('expiry and revival', () => {
  test('every reader judges expiry from the stored lease; a late heartbeat revives', async (t) => {
    const s = setup(t)
    await s.service.register(input('a'))
    // Another POP: its own connection and clock, no writes of its own.
    const otherStore = SqliteBackendStore.open(s.file)
    t.after(() => otherStore.close())
    const otherClock = {now: T0}
    const other = new BackendService({store: otherStore, leaseMs: TTL_MS, now: () => otherClock.now})

    const stateOn = async (service: BackendService, now: number) => backendState((await service.get('a'))!, now)
    otherClock.now = T0 + TTL_MS - 1
    assert.equal(await stateOn(other, otherClock.now), 'healthy')
    assert.deepEqual((await other.list({state: 'expired'})).map((b) => b.id), [])
    otherClock.now = T0 + TTL_MS + 1
    s.clock.now = T0 + TTL_MS + 1
    assert.equal(await stateOn(other, otherClock.now), 'expired')
    assert.deepEqual((await other.list({state: 'expired'})).map((b) => b.id), ['a'])
    assert.deepEqual((await s.service.list({state: 'expired'})).map((b) => b.id), ['a'])
    assert.deepEqual((await s.service.list({state: 'healthy'})).map((b) => b.id), [])
    assert.equal(backendJson((await s.service.get('a'))!, s.clock.now, null).state, 'expired')
    assert.equal(s.service.writes + other.writes, 1, 'judging expiry writes nothing')

    s.clock.now = T0 + 45_000
    const revived = await s.service.heartbeat('a')
    assert.equal(revived!.stored, true)
    assert.equal(revived!.backend.leaseExpiresAtMs, T0 + 45_000 + TTL_MS)
    otherClock.now = T0 + 45_001
    assert.equal(await stateOn(other, otherClock.now), 'healthy')
    assert.equal(s.service.writes, 2)
  })

  test('with a routing view, an expired backend is not picked and a late heartbeat makes it routable at once', async (t) => {
    const s = setup(t, {withView: true})
    await s.service.register(input('a'))
    const pick = (client: string) => {
      const p = s.router!.acquire(client, null)
      if (p) s.router!.release(p.backend.id)
      return p?.backend.id ?? null
    }
    assert.equal(pick('192.0.2.1'), 'a') // routable straight after register, without a reload
    s.clock.now = T0 + TTL_MS + 1
    assert.equal(pick('192.0.2.2'), null)
    assert.equal((await s.service.heartbeat('a'))!.stored, true)
    assert.equal(pick('192.0.2.3'), 'a')
  })

  test('rows inserted by SQL without a lease never expire, and heartbeats on them write nothing', async (t) => {
    const s = setup(t)
    s.sql.prepare(SEED_INSERT).run('seed-1', 'web', 'sa', '10.50.1.1', 9000)
    s.clock.now = T0 + 10 * 365 * 24 * 3600 * 1000
    const [seed] = await s.service.list()
    assert.equal(seed.leaseExpiresAtMs, 0)
    assert.equal(backendState(seed, s.clock.now), 'healthy')
    assert.deepEqual((await s.service.list({state: 'expired'})).map((b) => b.id), [])
    const beats = await Promise.all(Array.from({length: 20}, () => s.service.heartbeat('seed-1')))
    assert.ok(beats.every((r) => r !== undefined && r.stored === false))
    assert.equal(s.service.writes, 0)
    const row = rowOf(s, 'seed-1')!
    assert.deepEqual({lease: row.lease_expires_at_ms, heartbeat: row.heartbeat_at_ms, updated: row.updated_at_ms}, {lease: 0, heartbeat: 0, updated: 0})
  })
})

describe('changes, deregistration and reads', () => {
  test('drain, enable, disable and weight change the row; unknown or deleted ids change nothing', async (t) => {
    const s = setup(t)
    await s.service.register(input('a'))
    const state = (b: Backend | undefined) => backendState(b!, s.clock.now)
    assert.equal(state(await s.service.change('a', {kind: 'drain'})), 'draining')
    assert.equal(state(await s.service.change('a', {kind: 'enable'})), 'healthy')
    assert.equal(state(await s.service.change('a', {kind: 'disable'})), 'unhealthy')
    assert.equal((await s.service.change('a', {kind: 'weight', weight: 9}))!.weight, 9)
    assert.equal(s.service.writes, 5)
    assert.equal(await s.service.change('nope', {kind: 'drain'}), undefined)
    assert.equal(await s.service.heartbeat('nope'), undefined)
    assert.equal(await s.service.deregister('nope'), undefined)
    assert.equal(s.service.writes, 5)

    assert.equal((await s.service.deregister('a'))!.weight, 9, 'deregister returns the backend as it was')
    assert.equal(await s.service.deregister('a'), undefined)
    assert.equal(await s.service.heartbeat('a'), undefined)
    assert.equal(await s.service.change('a', {kind: 'enable'}), undefined)
    assert.equal(await s.service.get('a'), undefined)
    assert.equal(s.service.writes, 6)
    // No tombstone: the row is gone (Corrosion replicates deletes).
    assert.equal(rowOf(s, 'a'), undefined)
  })

  test('a row marked deleted = 1 (an older version, or SQL) is absent to every operation; register revives it', async (t) => {
    const s = setup(t, {withView: true})
    s.sql.prepare(SEED_INSERT).run('old', 'web', 'sa', '10.50.1.1', 9000)
    s.sql.prepare('UPDATE backends SET deleted = 1, healthy = 0, draining = 1 WHERE id = ?').run('old')
    assert.equal(await s.service.get('old'), undefined)
    assert.deepEqual(await s.service.list(), [])
    assert.equal(await s.service.heartbeat('old'), undefined)
    for (const kind of ['drain', 'enable', 'disable'] as const) assert.equal(await s.service.change('old', {kind}), undefined)
    assert.equal(await s.service.change('old', {kind: 'weight', weight: 3}), undefined)
    assert.equal(await s.service.deregister('old'), undefined)
    assert.equal(s.service.writes, 0)
    assert.equal(rowOf(s, 'old')!.deleted, 1, 'left as it was')
    const back = await s.service.register(input('old'))
    assert.equal(back.created, true)
    assert.equal(backendState(back.backend, s.clock.now), 'healthy')
    assert.deepEqual({deleted: rowOf(s, 'old')!.deleted, healthy: rowOf(s, 'old')!.healthy, draining: rowOf(s, 'old')!.draining}, {deleted: 0, healthy: 1, draining: 0})
    assert.equal(s.router!.get('old')?.id, 'old')
    await s.service.deregister('old')
    assert.equal(s.router!.get('old'), undefined, 'a deregister leaves routing at once')
  })

  test('list filters by app, region and state together', async (t) => {
    const s = setup(t)
    await s.service.register(input('sa-web', {region: 'sa'}))
    await s.service.register(input('eu-web', {region: 'eu', country: 'DE'}))
    await s.service.register(input('eu-api', {region: 'eu', app: 'api', country: 'DE'}))
    await s.service.change('eu-web', {kind: 'drain'})
    const ids = async (filter: Parameters<BackendService['list']>[0]) => (await s.service.list(filter)).map((b) => b.id)
    assert.deepEqual(await ids({}), ['eu-api', 'eu-web', 'sa-web'])
    assert.deepEqual(await ids({app: 'web'}), ['eu-web', 'sa-web'])
    assert.deepEqual(await ids({region: 'eu'}), ['eu-api', 'eu-web'])
    assert.deepEqual(await ids({region: 'eu', state: 'healthy'}), ['eu-api'])
    assert.deepEqual(await ids({app: 'web', state: 'draining'}), ['eu-web'])
    assert.deepEqual(await ids({app: 'nope'}), [])
  })

  test('connections() is null without a routing view and the live count with one', async (t) => {
    const plain = setup(t)
    await plain.service.register(input('a'))
    assert.equal(plain.service.connections('a'), null)
    const viewed = setup(t, {withView: true})
    await viewed.service.register(input('a'))
    viewed.router!.acquire('192.0.2.1', null)
    assert.equal(viewed.service.connections('a'), 1)
  })
})
