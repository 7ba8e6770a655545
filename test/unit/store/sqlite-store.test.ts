import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, test} from 'node:test'

import Database from 'better-sqlite3'

import {backendsTableDdl, BACKEND_COLUMNS, rowsToBackends} from '../../../src/store/schema.js'
import {SqliteRoutingStore, StoreError} from '../../../src/store/sqlite-store.js'
import {tempDir} from '../../support/proxy-process.js'

describe('SQLite routing store', () => {
  test("creates the table in WAL mode, and the seeds' INSERT works against it", (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const file = path.join(tmp.dir, 'routing.db')
    const store = SqliteRoutingStore.open(file, {create: true})
    t.after(() => store.close())
    const other = new Database(file)
    t.after(() => other.close())
    assert.equal(other.pragma('journal_mode', {simple: true}), 'wal')
    other.exec(
      "INSERT INTO backends (id, app, region, wg_ip, port, healthy, weight, soft_limit, hard_limit) VALUES ('sa-node-1', 'myapp', 'sa', '10.50.1.1', 9000, 1, 2, 100, 150)",
    )
    const {backends, problems} = rowsToBackends(store.poll()!)
    assert.deepEqual(problems, [])
    assert.equal(backends.length, 1)
    assert.deepEqual(
      {...backends[0]},
      {
        id: 'sa-node-1',
        app: 'myapp',
        region: 'sa',
        country: '',
        host: '10.50.1.1',
        port: 9000,
        isHealthy: true,
        isDraining: false,
        isDeleted: false,
        weight: 2,
        softLimit: 100,
        hardLimit: 150,
        leaseExpiresAtMs: 0,
        heartbeatAtMs: 0,
        registeredAtMs: 0,
        updatedAtMs: 0,
        checkType: '',
        checkPort: 0,
        checkPath: '',
      },
    )
  })

  test('poll() returns null until another connection commits a change', (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const file = path.join(tmp.dir, 'routing.db')
    const store = SqliteRoutingStore.open(file, {create: true})
    t.after(() => store.close())
    assert.deepEqual(store.poll(), [])
    assert.equal(store.poll(), null)
    const other = new Database(file)
    t.after(() => other.close())
    other.prepare('INSERT INTO backends (id, wg_ip, port) VALUES (?, ?, ?)').run('x', '::1', 1)
    assert.equal(store.poll()?.length, 1)
    assert.equal(store.poll(), null)
  })

  test('a table made with the seed schema gets the new columns appended, rows kept', (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const file = path.join(tmp.dir, 'routing.db')
    const seed = new Database(file)
    seed.exec(
      'CREATE TABLE backends (id TEXT PRIMARY KEY, app TEXT, region TEXT, wg_ip TEXT, port INTEGER, healthy INTEGER, weight INTEGER, soft_limit INTEGER, hard_limit INTEGER, deleted INTEGER DEFAULT 0)',
    )
    seed.exec("INSERT INTO backends VALUES ('old', 'a', 'eu', '10.0.0.2', 80, 1, NULL, NULL, NULL, 0)")
    seed.close()
    const store = SqliteRoutingStore.open(file, {create: true})
    t.after(() => store.close())
    const names = (store.database.prepare('PRAGMA table_info(backends)').all() as {name: string}[]).map((c) => c.name)
    assert.deepEqual(names, BACKEND_COLUMNS.map((c) => c.name))
    const {backends} = rowsToBackends(store.readAll())
    assert.deepEqual([backends[0].id, backends[0].weight, backends[0].hardLimit, backends[0].country], ['old', 0, 0, ''])
  })

  test('rows that cannot be routed to are reported, not fatal', () => {
    const {backends, problems} = rowsToBackends([
      {id: 'ok', wg_ip: '10.0.0.1', port: 80},
      {id: 'noport', wg_ip: '10.0.0.1', port: null},
      {id: 'noaddr', wg_ip: '', port: 80},
      {id: '', wg_ip: '10.0.0.1', port: 80},
    ])
    assert.deepEqual(backends.map((b) => b.id), ['ok'])
    assert.equal(problems.length, 3)
    assert.match(problems[0], /noport/)
  })

  test('a corrupt file is refused with EP_STORE_CORRUPT, a missing directory with EP_STORE_MISSING', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const file = path.join(tmp.dir, 'routing.db')
    const fs = await import('node:fs')
    fs.writeFileSync(file, 'not sqlite at all '.repeat(300))
    assert.throws(() => SqliteRoutingStore.open(file, {create: true}), (e: unknown) => e instanceof StoreError && e.code === 'EP_STORE_CORRUPT')
    assert.throws(
      () => SqliteRoutingStore.open(path.join(tmp.dir, 'no/such/dir/routing.db'), {create: true}),
      (e: unknown) => e instanceof StoreError && e.code === 'EP_STORE_MISSING',
    )
  })

  test('the DDL follows Corrosion rules: NOT NULL primary key, a DEFAULT on every NOT NULL column, no UNIQUE', () => {
    const ddl = backendsTableDdl()
    assert.match(ddl, /^CREATE TABLE backends \(/)
    assert.match(ddl, /id TEXT NOT NULL PRIMARY KEY/)
    assert.doesNotMatch(ddl, /UNIQUE|REFERENCES|AUTOINCREMENT/i)
    for (const c of BACKEND_COLUMNS.slice(1)) assert.match(c.definition, /NOT NULL DEFAULT /, c.name)
  })
})
