// End to end: a routing store that cannot be used is reported with the setting that named it
// (EDGEPROXY_DB_PATH / --db-path for start, --db for the backend commands), the path, the real cause
// (not found, permission denied, read-only directory, not a SQLite database, locked) and a
// `Try this:` line that fits the command that failed. Permission cases run the CLI as `nobody`
// when the suite runs as root (root ignores file permissions).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import Database from 'better-sqlite3'

import {backendsTableDdl} from '../../src/store/schema.js'
import {runCli, tempDir, unprivilegedUser, type Exit} from '../support/proxy-process.js'

const user = unprivilegedUser()

function storeFile(file: string, mode = 0o644): string {
  const db = new Database(file)
  db.exec(backendsTableDdl({ifNotExists: true}))
  db.close()
  fs.chmodSync(file, mode)
  return file
}

interface Expect {
  exit: number
  code: string
  /** In the first line: the setting, the path, the cause. */
  message: RegExp[]
  suggestion: RegExp
  /** What the suggestion must not say (the other command's advice). */
  notSuggestion?: RegExp
}

function assertReported(r: Exit, e: Expect, what: string): void {
  assert.equal(r.code, e.exit, `${what}: ${r.stderr}`)
  // A warning (workers_unsupported on an older Node) may come before the error.
  const lines = r.stderr.split('\n')
  const at = lines.findIndex((l) => l.startsWith('Error: '))
  assert.ok(at >= 0, `${what}: ${r.stderr}`)
  const [first = '', second = '', third = ''] = lines.slice(at)
  for (const m of e.message) assert.match(first, m, what)
  assert.equal(second, `Code: ${e.code}`, what)
  assert.match(third, /^Try this: /, what)
  assert.match(third, e.suggestion, what)
  if (e.notSuggestion) assert.doesNotMatch(third, e.notSuggestion, what)
}

describe('store errors name the setting, the path, the cause and fitting advice', () => {
  test('backend commands with --db: not found, not a database, permission denied, read-only directory, locked', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    fs.chmodSync(tmp.dir, 0o755)
    const missing = path.join(tmp.dir, 'missing.db')
    const garbage = path.join(tmp.dir, 'garbage.db')
    fs.writeFileSync(garbage, 'not a database '.repeat(100))
    const locked = storeFile(path.join(tmp.dir, 'private.db'), 0o600)
    const roDir = path.join(tmp.dir, 'ro')
    fs.mkdirSync(roDir)
    const inRoDir = storeFile(path.join(roDir, 'routing.db'), 0o666)
    fs.chmodSync(roDir, 0o555)
    const cliAdvice = /EDGEPROXY_DB_PATH|last good table/
    // Another process holds the write lock for as long as the command retries.
    const busyFile = storeFile(path.join(tmp.dir, 'busy.db'))
    const holder = new Database(busyFile)
    holder.pragma('journal_mode = WAL') // as edgeproxy start leaves it
    holder.exec('BEGIN IMMEDIATE')
    t.after(() => holder.close())
    const [a, b, c, d, e] = await Promise.all([
      runCli(['backend', 'list', '--db', missing]),
      runCli(['backend', 'list', '--db', garbage]),
      runCli(['backend', 'list', '--db', locked], {user}),
      runCli(['backend', 'drain', 'x', '--db', inRoDir], {user}),
      runCli(['backend', 'drain', 'x', '--db', busyFile]),
    ])
    holder.exec('ROLLBACK')
    assertReported(a, {exit: 3, code: 'EP_STORE_MISSING', message: [/\(--db\)/, new RegExp(missing), /not found/], suggestion: /--db/, notSuggestion: cliAdvice}, 'missing')
    assertReported(b, {exit: 3, code: 'EP_STORE_CORRUPT', message: [/\(--db\)/, new RegExp(garbage), /not a SQLite database/], suggestion: /--db names the routing store/, notSuggestion: cliAdvice}, 'garbage')
    assertReported(c, {exit: 3, code: 'EP_STORE_PERMISSION_DENIED', message: [/\(--db\)/, new RegExp(locked), /permission denied/], suggestion: /as a user who can read and write/, notSuggestion: cliAdvice}, 'permission')
    assertReported(d, {exit: 3, code: 'EP_STORE_READ_ONLY', message: [/\(--db\)/, new RegExp(inRoDir), /read-only/], suggestion: new RegExp(`make ${roDir} writable`), notSuggestion: cliAdvice}, 'read-only directory')
    assertReported(e, {exit: 4, code: 'EP_STORE_BUSY', message: [/\(--db\)/, new RegExp(busyFile), /locked/], suggestion: /roll back the transaction of the process holding .*run the command again/, notSuggestion: cliAdvice}, 'locked')
  })

  test('edgeproxy start: EDGEPROXY_DB_PATH (--db-path) named, with the proxy\'s advice, and nothing created', async (t) => {
    const tmp = tempDir()
    t.after(tmp.cleanup)
    fs.chmodSync(tmp.dir, 0o755)
    const garbage = path.join(tmp.dir, 'garbage.db')
    fs.writeFileSync(garbage, 'not a database '.repeat(100))
    const roDir = path.join(tmp.dir, 'ro')
    fs.mkdirSync(roDir, {mode: 0o555})
    fs.chmodSync(roDir, 0o555)
    const env = {EDGEPROXY_LISTEN_ADDR: '127.0.0.1:0', EDGEPROXY_API_LISTEN_ADDR: '127.0.0.1:0'}
    const [a, b, c] = await Promise.all([
      runCli(['start'], {env: {...env, EDGEPROXY_DB_PATH: garbage}}),
      runCli(['start', '--db-path', path.join(roDir, 'routing.db')], {env, user}),
      runCli(['start', '--db-path', path.join(tmp.dir, 'no/such/dir/routing.db')], {env}),
    ])
    assertReported(a, {exit: 3, code: 'EP_STORE_CORRUPT', message: [/EDGEPROXY_DB_PATH \(--db-path\)/, new RegExp(garbage), /not a SQLite database/], suggestion: /move it away so edgeproxy start creates a fresh one/}, 'garbage')
    assertReported(b, {exit: 3, code: 'EP_STORE_READ_ONLY', message: [/EDGEPROXY_DB_PATH \(--db-path\)/, /read-only/], suggestion: /EDGEPROXY_DB_PATH \(--db-path\)/}, 'read-only directory')
    assertReported(c, {exit: 3, code: 'EP_STORE_MISSING', message: [/EDGEPROXY_DB_PATH \(--db-path\)/, /no\/such\/dir does not exist/], suggestion: /create .*no\/such\/dir/}, 'no directory')
    assert.deepEqual(fs.readdirSync(roDir), [])
  })
})
