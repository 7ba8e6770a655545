import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test, type TestContext} from 'node:test'

import Database from 'better-sqlite3'

import {backendsTableDdl, BACKEND_COLUMNS, rowsToBackends} from '../../../src/store/schema.js'
import {SqliteBackendStore} from '../../../src/store/sqlite-backend-store.js'
import {CLI_STORE_CONTEXT, PROXY_STORE_CONTEXT, SqliteRoutingStore, storeError, StoreError, type StoreProblem} from '../../../src/store/sqlite-store.js'
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

  test('poll() also reads again after a write through its own connection (the API shares it)', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const store = SqliteRoutingStore.open(path.join(tmp.dir, 'routing.db'), {create: true})
    t.after(() => store.close())
    assert.deepEqual(store.poll(), [])
    await new SqliteBackendStore(store).register({id: 'a', app: 'web', region: 'sa', country: 'BR', ip: '10.0.0.1', port: 1, weight: 2, softLimit: 100, hardLimit: 150}, 1, 1000)
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
    const names = (store.connection().prepare('PRAGMA table_info(backends)').all() as {name: string}[]).map((c) => c.name)
    assert.deepEqual(names, BACKEND_COLUMNS.map((c) => c.name))
    const {backends} = rowsToBackends(store.readAll())
    assert.deepEqual([backends[0].id, backends[0].weight, backends[0].hardLimit, backends[0].country], ['old', 0, 0, ''])
    // The nullable registered_by: NULL for the old row (no POP registered it), absent on its Backend.
    assert.equal(store.connection().prepare("SELECT registered_by FROM backends WHERE id = 'old'").pluck().get(), null)
    assert.equal('registeredBy' in backends[0], false)
  })

  test('a file of the previous release (every column but registered_by) gains it at open, rows and values kept', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const file = path.join(tmp.dir, 'routing.db')
    const previous = new Database(file)
    previous.exec(`CREATE TABLE backends (\n${BACKEND_COLUMNS.filter((c) => c.name !== 'registered_by').map((c) => `    ${c.name} ${c.definition}`).join(',\n')}\n);`)
    previous.exec("INSERT INTO backends (id, app, region, wg_ip, port, weight, registered_at_ms) VALUES ('kept', 'web', 'eu', '10.0.0.3', 81, 7, 42)")
    previous.close()
    const store = SqliteRoutingStore.open(file, {create: true})
    t.after(() => store.close())
    const columns = store.connection().prepare('SELECT name, type, "notnull", dflt_value FROM pragma_table_info(?)').all('backends') as {name: string}[]
    assert.deepEqual(columns.at(-1), {name: 'registered_by', type: 'TEXT', notnull: 0, dflt_value: null})
    const [kept] = rowsToBackends(store.readAll()).backends
    assert.deepEqual([kept.id, kept.weight, kept.registeredAtMs, kept.registeredBy], ['kept', 7, 42, undefined])
    // A register through a POP fills it in on the old row.
    await new SqliteBackendStore(store).register({id: 'kept', app: 'web', region: 'eu', country: 'DE', ip: '10.0.0.3', port: 81, weight: 7, softLimit: 100, hardLimit: 150, registeredBy: 'eu'}, 1, 1000)
    assert.equal(rowsToBackends(store.readAll()).backends[0].registeredBy, 'eu')
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
    for (const c of BACKEND_COLUMNS.slice(1)) assert.match(c.definition, /NOT NULL DEFAULT |^(TEXT|INTEGER)$/, c.name)
    assert.deepEqual(BACKEND_COLUMNS.filter((c) => !/NOT NULL/.test(c.definition)).map((c) => c.name), ['registered_by'], 'the nullable columns')
  })
})

describe('SQLite routing store: the file at the path, checked before every use', () => {
  const open = (t: TestContext) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const file = path.join(tmp.dir, 'routing.db')
    const store = SqliteRoutingStore.open(file, {create: true})
    t.after(() => store.close())
    const writer = new SqliteBackendStore(store)
    return {tmp, file, store, writer}
  }
  const input = (id: string) => ({id, app: 'web', region: 'sa', country: 'BR', ip: '10.0.0.1', port: 9000, weight: 2, softLimit: 100, hardLimit: 150})
  const idsAt = (file: string) => {
    const db = new Database(file, {fileMustExist: true})
    try {
      return db.prepare('SELECT id FROM backends ORDER BY id').pluck().all()
    } finally {
      db.close()
    }
  }

  test('a -wal removed under the open connection: the next write reopens, and another process sees it', async (t) => {
    const {file, writer} = open(t)
    await writer.register(input('a'), 1, 1000)
    for (const suffix of ['-wal', '-shm']) fs.rmSync(file + suffix)
    await writer.register(input('b'), 1, 1000)
    assert.deepEqual(idsAt(file), ['a', 'b'])
    assert.ok(fs.existsSync(`${file}-wal`), 'a new WAL next to the file')
  })

  test('a file moved into place is written and read, never the old one; the old connection touches nothing', async (t) => {
    const {tmp, file, store, writer} = open(t)
    await writer.register(input('old'), 1, 1000)
    const next = path.join(tmp.dir, 'next.db')
    const db = new Database(next)
    db.exec(backendsTableDdl())
    db.close()
    for (const suffix of ['-wal', '-shm']) fs.rmSync(file + suffix)
    fs.renameSync(next, file)
    await writer.register(input('new'), 1, 1000)
    assert.deepEqual(idsAt(file), ['new'])
    assert.deepEqual(rowsToBackends(store.poll()!).backends.map((b) => b.id), ['new'])
    assert.deepEqual((await writer.list()).map((b) => b.id), ['new'])
  })

  test('missing, garbled and locked files refuse writes with the cause; nothing is written until they are back', async (t) => {
    const {file, writer, store} = open(t)
    await writer.register(input('a'), 1, 1000)
    const good = fs.readFileSync(file)
    fs.rmSync(file)
    await assert.rejects(writer.register(input('b'), 1, 1000), {code: 'EP_STORE_MISSING', problem: 'missing'})
    assert.throws(() => store.poll(), {code: 'EP_STORE_MISSING'})
    fs.writeFileSync(file, good)
    fs.writeFileSync(file, 'garbage '.repeat(100))
    await assert.rejects(writer.register(input('b'), 1, 1000), {code: 'EP_STORE_CORRUPT'})
    await assert.rejects(writer.list(), {code: 'EP_STORE_CORRUPT'})
    fs.writeFileSync(file, good)
    await writer.register(input('b'), 1, 1000)
    assert.deepEqual(idsAt(file), ['a', 'b'])
    const locker = new Database(file)
    t.after(() => locker.open && locker.close())
    locker.exec('BEGIN IMMEDIATE')
    await assert.rejects(writer.register(input('c'), 1, 1000), (e: unknown) => e instanceof StoreError && e.code === 'EP_STORE_BUSY' && e.exitCode === 4)
    locker.exec('ROLLBACK')
    await writer.register(input('c'), 1, 1000)
    assert.deepEqual(idsAt(file), ['a', 'b', 'c'])
  })

  test('a copy still being written over the path is refused, not opened (nor initialised when still empty)', async (t) => {
    const {tmp, file, writer} = open(t)
    for (let i = 0; i < 50; i++) await writer.register(input(`b${i}`), 1, 1000)
    const good = fs.readFileSync(file)
    assert.ok(good.length > 8192)
    const copy = path.join(tmp.dir, 'copy.db')
    // The moments of `cp good routing.db` over the live file: truncated, then partly written.
    fs.writeFileSync(file, '')
    await assert.rejects(writer.list(), (e: unknown) => e instanceof StoreError && e.problem === 'not_a_database' && /an empty file/.test(e.message))
    assert.equal(fs.statSync(file).size, 0, 'the empty file was not initialised as a new database')
    fs.writeFileSync(file, good.subarray(0, 4096))
    await assert.rejects(writer.register(input('x'), 1, 1000), (e: unknown) => e instanceof StoreError && e.code === 'EP_STORE_INCOMPLETE' && /4096 of \d+ bytes/.test(e.message))
    fs.writeFileSync(file, good)
    await writer.register(input('x'), 1, 1000)
    assert.equal(idsAt(file).length, 51)
    // At start-up an empty file is a new store, as SQLite has it.
    fs.writeFileSync(copy, '')
    SqliteRoutingStore.open(copy, {create: true}).close()
    assert.deepEqual(idsAt(copy), [])
  })

  test('a start-up that fails removes the file it created, and only that', (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    const file = path.join(tmp.dir, 'routing.db')
    SqliteRoutingStore.open(file, {create: true}).removeIfCreated()
    assert.deepEqual(fs.readdirSync(tmp.dir), [])
    // An existing file, or one that got rows meanwhile, stays.
    SqliteRoutingStore.open(file, {create: true}).close()
    SqliteRoutingStore.open(file, {create: true}).removeIfCreated()
    assert.deepEqual(fs.readdirSync(tmp.dir), ['routing.db'])
    fs.rmSync(file)
    const created = SqliteRoutingStore.open(file, {create: true})
    const other = new Database(file)
    other.prepare("INSERT INTO backends (id, wg_ip, port) VALUES ('x', '::1', 1)").run()
    other.close()
    created.removeIfCreated()
    assert.deepEqual(idsAt(file), ['x'])
  })
})

describe('store errors name the setting, the path, the cause and advice for whoever met them', () => {
  test('each cause, for the proxy at start-up, the proxy at run time and a --db command', () => {
    const file = '/srv/edge/routing.db'
    const cases: [StoreProblem, RegExp][] = [
      ['missing', /: not found$/],
      ['directory_missing', /its directory \/srv\/edge does not exist/],
      ['permission_denied', /: permission denied$/],
      ['read_only', /: read-only \(SQLite must write routing\.db, routing\.db-wal and routing\.db-shm in \/srv\/edge\)/],
      ['not_a_database', /: not a SQLite database$/],
      ['locked', /: locked by another process$/],
      ['busy', /stayed locked by another writer/],
    ]
    for (const [problem, cause] of cases) {
      const proxyStart = storeError(problem, file, PROXY_STORE_CONTEXT, {isStartup: true})
      const proxyRun = storeError(problem, file, PROXY_STORE_CONTEXT)
      const cli = storeError(problem, file, CLI_STORE_CONTEXT)
      for (const e of [proxyStart, proxyRun, cli]) {
        assert.match(e.message, cause, problem)
        assert.ok(e.message.startsWith(`routing store ${file} (`), e.message)
        assert.ok(e.suggestion && e.suggestion.length > 20, `${problem}: a Try this line`)
        assert.match(e.code, /^EP_STORE_/)
      }
      assert.ok(proxyStart.message.includes('EDGEPROXY_DB_PATH (--db-path)') && proxyRun.message.includes('EDGEPROXY_DB_PATH (--db-path)'))
      assert.ok(cli.message.includes('(--db)'), cli.message)
      assert.doesNotMatch(cli.suggestion!, /EDGEPROXY_DB_PATH|routing continues/, `${problem}: the CLI is not told the proxy's advice`)
      assert.match(proxyRun.suggestion!, /last good table|retries on the next reload/, `${problem}: the proxy says it keeps routing`)
      assert.notEqual(cli.suggestion, proxyRun.suggestion)
    }
    assert.match(storeError('not_a_database', file, PROXY_STORE_CONTEXT, {isStartup: true}).suggestion!, /move it away so edgeproxy start creates a fresh one/)
    assert.match(storeError('missing', file, CLI_STORE_CONTEXT).suggestion!, /--db/)
  })

  test('opening names the real cause: a directory, a garbled file, a locked file', (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    assert.throws(() => SqliteRoutingStore.open(tmp.dir, {create: false, context: CLI_STORE_CONTEXT}), (e: unknown) => e instanceof StoreError && /--db/.test(e.message) && /a directory/.test(e.message))
    const file = path.join(tmp.dir, 'routing.db')
    assert.throws(() => SqliteRoutingStore.open(file, {create: false, context: CLI_STORE_CONTEXT}), (e: unknown) => e instanceof StoreError && e.problem === 'missing' && e.message.includes(file))
    fs.writeFileSync(file, 'SQLite format 2\0 not quite')
    assert.throws(() => SqliteRoutingStore.open(file, {create: true}), {code: 'EP_STORE_CORRUPT'})
    fs.rmSync(file)
    const holder = new Database(file)
    holder.exec(backendsTableDdl())
    holder.exec('BEGIN EXCLUSIVE')
    t.after(() => holder.close())
    assert.throws(() => SqliteRoutingStore.open(file, {create: false, context: CLI_STORE_CONTEXT}), (e: unknown) => e instanceof StoreError && e.code === 'EP_STORE_BUSY' && e.exitCode === 4 && /locked by another process/.test(e.message))
  })
})
