// End to end: nothing acknowledged is lost while the routing store file is replaced (the README's
// procedure), deleted, garbled, made unreadable and locked, then restored. After every step every
// kind of API write (register, heartbeat, drain, enable, disable, weight, delete) is checked in the
// file itself through a fresh second connection, `GET /api/v1/backends` is checked to read that same
// file, and while the file cannot take a write every write answers 503 with a code naming the
// problem. Routing keeps its last good table throughout. The proxy runs as `nobody` when the suite
// runs as root, so a chmod means what it means for a real service user.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import Database from 'better-sqlite3'

import {backendsTableDdl} from '../../src/store/schema.js'
import {startProxy, tempDir, unprivilegedUser, type LogEvent, type ProxyProcess} from '../support/proxy-process.js'

const user = unprivilegedUser()

interface Reply {
  status: number
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any
}

describe('the routing store under file faults: no acknowledged write is lost', () => {
  const tmp = tempDir()
  const dbPath = path.join(tmp.dir, 'routing.db')
  const backup = path.join(tmp.dir, 'backup.db')
  let proxy: ProxyProcess
  let base: string

  const own = (file: string) => {
    if (user) fs.chownSync(file, user.uid, user.gid)
  }

  async function api(method: string, urlPath: string, body?: unknown): Promise<Reply> {
    const res = await fetch(base + urlPath, {
      method,
      headers: body === undefined ? {} : {'content-type': 'application/json'},
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return {status: res.status, body: await res.json()}
  }

  /** The row as the file at the path holds it now, through a connection opened for this read. */
  function inFile(id: string): Record<string, unknown> | undefined {
    const db = new Database(dbPath, {fileMustExist: true})
    try {
      return db.prepare('SELECT * FROM backends WHERE id = ?').get(id) as Record<string, unknown> | undefined
    } finally {
      db.close()
    }
  }

  function idsInFile(): string[] {
    const db = new Database(dbPath, {fileMustExist: true})
    try {
      assert.equal(db.pragma('integrity_check', {simple: true}), 'ok', 'the file is a sound database')
      return (db.prepare('SELECT id FROM backends ORDER BY id').pluck().all() as string[])
    } finally {
      db.close()
    }
  }

  const register = (id: string) => api('POST', '/api/v1/register', {id, app: 'web', region: 'sa', ip: '127.0.0.1', port: 9000})

  /** Every kind of write, each acknowledged and each found in the file at the path. */
  async function everyWriteLands(id: string): Promise<void> {
    assert.equal((await register(id)).status, 201, `register ${id}`)
    assert.equal(inFile(id)?.id, id)
    const beat = await api('POST', `/api/v1/heartbeat/${id}`)
    assert.equal(beat.status, 200)
    assert.equal(inFile(id)?.lease_expires_at_ms, Date.parse(beat.body.backend.lease_expires_at))
    assert.equal((await api('POST', `/api/v1/backends/${id}/drain`)).status, 200)
    assert.equal(inFile(id)?.draining, 1)
    assert.equal((await api('PUT', `/api/v1/backends/${id}/weight`, {weight: 7})).status, 200)
    assert.equal(inFile(id)?.weight, 7)
    assert.equal((await api('POST', `/api/v1/backends/${id}/disable`)).status, 200)
    assert.equal(inFile(id)?.healthy, 0)
    assert.equal((await api('POST', `/api/v1/backends/${id}/enable`)).status, 200)
    assert.deepEqual({healthy: inFile(id)?.healthy, draining: inFile(id)?.draining}, {healthy: 1, draining: 0})
    assert.equal((await register(`${id}-gone`)).status, 201)
    assert.equal((await api('DELETE', `/api/v1/backends/${id}-gone`)).status, 200)
    assert.equal(inFile(`${id}-gone`), undefined)
    // The API reads the very file routing follows.
    const listed = (await api('GET', '/api/v1/backends')).body.backends.map((b: {id: string}) => b.id)
    assert.deepEqual(listed, idsInFile())
  }

  /** While the file cannot take a write: 503 with the code, for writes and reads alike, nothing acknowledged. */
  async function everyWriteRefused(id: string, code: string, existing: string): Promise<void> {
    const attempts: [string, () => Promise<Reply>][] = [
      ['register', () => register(id)],
      ['drain', () => api('POST', `/api/v1/backends/${existing}/drain`)],
      ['weight', () => api('PUT', `/api/v1/backends/${existing}/weight`, {weight: 3})],
      ['delete', () => api('DELETE', `/api/v1/backends/${existing}`)],
      ['list', () => api('GET', '/api/v1/backends')],
    ]
    for (const [what, send] of attempts) {
      const reply = await send()
      assert.equal(reply.status, 503, `${what}: ${JSON.stringify(reply.body)}`)
      assert.equal(reply.body.error.code, code, what)
      assert.match(reply.body.error.message, /nothing was written/)
    }
  }

  /**
   * Routing has the table with `ids`: the route view lists them. A store_reloaded seen before may be
   * the reload of an earlier write (each API write reloads), so the view is read until it lists them
   * or 5 s have passed.
   */
  async function routesOn(ids: string[]): Promise<void> {
    const deadline = Date.now() + 5000
    for (;;) {
      const view = await api('GET', '/api/v1/route?ip=127.0.0.1')
      assert.equal(view.status, 200)
      const missing = ids.filter((id) => !view.body.candidates.some((c: {id: string}) => c.id === id))
      if (missing.length === 0) return
      assert.ok(Date.now() < deadline, `${missing.join(', ')} not routed within 5 s: ${JSON.stringify(view.body.candidates.map((c: {id: string}) => c.id))}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  const nextEvent = (event: string, predicate?: (e: LogEvent) => boolean) => proxy.next(event, predicate, 5000)

  before(async () => {
    if (user) fs.chownSync(tmp.dir, user.uid, user.gid)
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: dbPath, EDGEPROXY_DB_RELOAD_SECS: '0.1'}, user})
    const started = await proxy.waitFor('started')
    base = `http://${String(started.api)}`
  })
  after(async () => {
    await proxy?.stop()
    tmp.cleanup()
  })

  test('after start-up', async () => {
    await everyWriteLands('s0')
  })

  test("after the README's replacement: remove -wal and -shm, move a new file into place", async () => {
    const next = `${dbPath}.new`
    const fresh = new Database(next)
    fresh.exec(backendsTableDdl({ifNotExists: true}))
    fresh.prepare("INSERT INTO backends (id, app, region, wg_ip, port) VALUES ('fresh', 'web', 'sa', '127.0.0.1', 9001)").run()
    fresh.close()
    own(next)
    const reloaded = nextEvent('store_reloaded')
    for (const suffix of ['-wal', '-shm']) fs.rmSync(dbPath + suffix, {force: true})
    fs.renameSync(next, dbPath)
    await everyWriteLands('s1')
    assert.deepEqual(idsInFile(), ['fresh', 's1'], 'the old rows went with the old file')
    await reloaded
    await routesOn(['fresh', 's1'])
  })

  test('deleted, then restored from a backup', async () => {
    const source = new Database(dbPath, {fileMustExist: true})
    await source.backup(backup)
    source.close()
    own(backup)
    const failed = nextEvent('store_read_failed')
    fs.rmSync(dbPath)
    await everyWriteRefused('s2', 'store_missing', 's1')
    assert.equal((await failed).code, 'EP_STORE_MISSING')
    await routesOn(['fresh', 's1'])
    const health = await api('GET', '/health')
    assert.deepEqual([health.status, health.body.status, health.body.store.current], [200, 'degraded', false])

    const recovered = nextEvent('store_recovered')
    fs.copyFileSync(backup, dbPath)
    own(dbPath)
    await everyWriteLands('s2')
    assert.deepEqual(idsInFile(), ['fresh', 's1', 's2'])
    await recovered
  })

  test('garbled in place, then restored in place', async () => {
    const failed = nextEvent('store_read_failed')
    fs.writeFileSync(dbPath, 'this is not a database '.repeat(400))
    await everyWriteRefused('s3', 'store_corrupt', 's2')
    assert.equal((await failed).code, 'EP_STORE_CORRUPT')
    await routesOn(['fresh', 's1', 's2'])
    fs.copyFileSync(backup, dbPath)
    await everyWriteLands('s3')
    assert.deepEqual(idsInFile(), ['fresh', 's1', 's3'])
  })

  test('replaced by garbage, then by a good file', async () => {
    const garbage = `${dbPath}.garbage`
    fs.writeFileSync(garbage, 'garbage '.repeat(1000))
    own(garbage)
    fs.renameSync(garbage, dbPath)
    await everyWriteRefused('s4', 'store_corrupt', 's3')
    const good = `${dbPath}.good`
    fs.copyFileSync(backup, good)
    own(good)
    fs.renameSync(good, dbPath)
    await everyWriteLands('s4')
    assert.deepEqual(idsInFile(), ['fresh', 's1', 's4'])
  })

  test('made unreadable, then readable again', async () => {
    fs.chmodSync(dbPath, 0o000)
    try {
      await everyWriteRefused('s5', 'store_permission_denied', 's4')
      await routesOn(['fresh', 's1', 's4'])
    } finally {
      fs.chmodSync(dbPath, 0o644)
    }
    await everyWriteLands('s5')
  })

  test('locked by another writer past the retries, then released', async () => {
    const locker = new Database(dbPath, {fileMustExist: true})
    try {
      locker.exec('BEGIN IMMEDIATE')
      const refused = await register('s6')
      assert.equal(refused.status, 503)
      assert.equal(refused.body.error.code, 'store_busy')
      locker.exec('ROLLBACK')
    } finally {
      locker.close()
    }
    await everyWriteLands('s6')
    assert.deepEqual(idsInFile(), ['fresh', 's1', 's4', 's5', 's6'])
  })
})
