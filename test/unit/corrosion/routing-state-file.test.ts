// The saved routing table of a Corrosion-mode POP: written 0600 and atomically, at most once per
// interval and only when it changed; read back as written, and a missing or foreign file is named.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'

import {loadRoutingState, RoutingStateWriter} from '../../../src/corrosion/routing-state-file.js'

function tmpFile(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeproxy-state-test-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return path.join(dir, 'routing-state.json')
}

describe('routing state file', () => {
  it('writes the first table at once, 0600, then at most once per interval and only when the rows changed', async (t) => {
    const file = tmpFile(t)
    let nowMs = 1_000_000
    const errors: unknown[] = []
    let written: (() => void) | undefined
    const nextWrite = () => new Promise<void>((resolve) => (written = resolve))
    const writer = new RoutingStateWriter({file, source: 'corrosion:http://127.0.0.1:1', minIntervalMs: 300, now: () => nowMs, onError: (e) => errors.push(e), onWritten: () => written?.()})
    const saved = () => loadRoutingState(file).table
    let write = nextWrite()
    writer.changed(() => [{id: 'a', wg_ip: '10.0.0.1', port: 80}])
    await write
    assert.equal(fs.statSync(file).mode & 0o777, 0o600)
    assert.deepEqual(saved(), {savedAtMs: 1_000_000, source: 'corrosion:http://127.0.0.1:1', rows: [{id: 'a', wg_ip: '10.0.0.1', port: 80}]})
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['routing-state.json'], 'no temp file left behind')

    // Two changes inside the interval: one write, with the newest rows, no sooner than the interval.
    const startedAt = Date.now()
    nowMs += 10
    write = nextWrite()
    writer.changed(() => [{id: 'b'}])
    writer.changed(() => [{id: 'c'}])
    await write
    assert.equal(saved()!.rows[0]!.id, 'c')
    // The timer waits the interval on the injected clock (290 ms left); allow for timer granularity.
    assert.ok(Date.now() - startedAt >= 250, `second write after ${Date.now() - startedAt} ms, before the 300 ms interval`)

    // Unchanged rows: the file is not rewritten (savedAtMs stays).
    const before = saved()!.savedAtMs
    nowMs += 10_000
    writer.changed(() => [{id: 'c'}])
    await writer.close()
    assert.equal(saved()!.savedAtMs, before)
    assert.deepEqual(errors, [])
  })

  it('writes what is pending on close, and reports a failed write', async (t) => {
    const file = tmpFile(t)
    const writer = new RoutingStateWriter({file, source: 's', minIntervalMs: 60_000, onError: () => undefined})
    writer.changed(() => [{id: 'first'}])
    await new Promise((resolve) => setTimeout(resolve, 50)) // the first write is immediate
    writer.changed(() => [{id: 'pending'}])
    await writer.close()
    assert.equal(loadRoutingState(file).table!.rows[0]!.id, 'pending')

    const errors: unknown[] = []
    const bad = new RoutingStateWriter({file: path.join(file, 'not-a-dir', 'x.json'), source: 's', onError: (e) => errors.push(e)})
    bad.changed(() => [{id: 'x'}])
    await bad.close()
    assert.equal(errors.length, 1)
  })

  it('names a missing, unreadable or foreign file instead of a table', (t) => {
    const file = tmpFile(t)
    assert.deepEqual(loadRoutingState(file), {problem: `no saved routing table at ${file}`})
    fs.writeFileSync(file, '{"rows": []}')
    assert.match(loadRoutingState(file).problem!, /is unusable \(not a edgeproxy-routing-state\/1 file\)/)
    fs.writeFileSync(file, 'garbage')
    assert.match(loadRoutingState(file).problem!, /is unusable/)
  })
})
