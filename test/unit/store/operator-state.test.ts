// Drain, enable and disable as the row records them: each action stamps its own column, the latest
// stamp decides, and a stamp always follows the row's earlier ones (a logical clock), so merges that
// go column by column (Corrosion) still give the outcome of the last action.
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import Database from 'better-sqlite3'

import {changeStatement} from '../../../src/store/backend-sql.js'
import {backendsTableDdl, rowToBackend, type BackendRow} from '../../../src/store/schema.js'

const BASE = {id: 'a', wg_ip: '10.0.0.1', port: 80}
const state = (row: BackendRow) => {
  const b = rowToBackend({...BASE, ...row}).backend!
  return b.isHealthy ? (b.isDraining ? 'draining' : 'healthy') : b.isDraining ? 'unhealthy+draining' : 'unhealthy'
}

describe('operator state', () => {
  test('rows no edgeproxy action touched keep healthy and draining as written (SQL)', () => {
    assert.equal(state({healthy: 1, draining: 0}), 'healthy')
    assert.equal(state({healthy: 0, draining: 0}), 'unhealthy')
    assert.equal(state({healthy: 1, draining: 1}), 'draining')
  })

  test('the latest stamp decides, whatever the flag columns were merged to; a tie goes to enable', () => {
    // A drain at one POP (draining 1) and a later enable at another that had not seen it: the
    // enable changed no flag (draining was already 0 there), so the merge keeps draining = 1.
    assert.equal(state({healthy: 1, draining: 1, drained_at_ms: 100, enabled_at_ms: 200}), 'healthy')
    // The side that drained and enabled wrote `draining` twice and wins that column with 0; the
    // other side's drain came last.
    assert.equal(state({healthy: 1, draining: 0, drained_at_ms: 300, enabled_at_ms: 200}), 'draining')
    assert.equal(state({healthy: 1, draining: 0, disabled_at_ms: 300, enabled_at_ms: 200}), 'unhealthy')
    assert.equal(state({healthy: 0, draining: 1, disabled_at_ms: 100, drained_at_ms: 150, enabled_at_ms: 200}), 'healthy')
    assert.equal(state({healthy: 0, draining: 0, disabled_at_ms: 250, drained_at_ms: 300, enabled_at_ms: 200}), 'unhealthy+draining')
    assert.equal(state({drained_at_ms: 200, enabled_at_ms: 200}), 'healthy')
  })

  test('a stamp follows every stamp the row has: the later action wins within one millisecond or on a clock that is behind', () => {
    const db = new Database(':memory:')
    db.exec(backendsTableDdl())
    db.prepare("INSERT INTO backends (id, wg_ip, port) VALUES ('a', '10.0.0.1', 80)").run()
    const run = (kind: 'drain' | 'enable' | 'disable', nowMs: number) => {
      const s = changeStatement('a', {kind}, nowMs)
      db.prepare(s.sql).run(...s.params)
      return state(db.prepare('SELECT * FROM backends WHERE id = ?').get('a') as BackendRow)
    }
    assert.equal(run('drain', 1000), 'draining')
    assert.equal(run('enable', 1000), 'healthy', 'same millisecond')
    assert.equal(run('disable', 1000), 'unhealthy')
    assert.equal(run('enable', 500), 'healthy', 'a clock 0.5 s behind')
    assert.equal(run('drain', 400), 'draining')
    const row = db.prepare('SELECT drained_at_ms, disabled_at_ms, enabled_at_ms FROM backends').get() as Record<string, number>
    assert.deepEqual(row, {drained_at_ms: 1004, disabled_at_ms: 1002, enabled_at_ms: 1003})
    db.close()
  })
})
