import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {CircuitTable, groupKey, maxEjected, openDurationMs, type CircuitEvent, type CircuitOptions} from '../../../src/health/circuit.js'

const OPTIONS: CircuitOptions = {
  failureThreshold: 5,
  failureWindowMs: 60_000,
  baseOpenMs: 30_000,
  maxOpenMs: 300_000,
  jitterPercent: 10,
  successThreshold: 3,
  maxEjectionPercent: 50,
}
const G = groupKey('web', 'sa')

function table(options: Partial<CircuitOptions> = {}, random = () => 0.5, members = ['a', 'b', 'c', 'd']) {
  let now = 1000
  const events: CircuitEvent[] = []
  const t = new CircuitTable({...OPTIONS, ...options}, () => now, random)
  t.onEvent = (e) => events.push(e)
  t.setGroups(members.map((id) => ({id, group: G})))
  return {
    t,
    events,
    advance: (ms: number) => (now += ms),
    now: () => now,
    fail: (id: string, n = 1) => {
      for (let i = 0; i < n; i++) t.failed(id, G)
    },
  }
}

describe('circuit breaker', () => {
  test('opens after 5 consecutive connect failures; a success in between resets the count', () => {
    const c = table()
    c.fail('a', 4)
    c.t.succeeded('a')
    c.fail('a', 4)
    assert.equal(c.t.phase('a'), 'closed')
    assert.equal(c.t.skipReason('a', c.now()), null)
    c.fail('a')
    assert.equal(c.t.phase('a'), 'open')
    assert.equal(c.t.skipReason('a', c.now()), 'circuit_open')
    assert.equal(c.t.opened, 1)
    assert.equal(c.events[0].kind, 'opened')
  })

  test('failures spread wider than the window do not add up', () => {
    const c = table()
    c.fail('a', 4)
    c.advance(60_001)
    c.fail('a', 4)
    assert.equal(c.t.phase('a'), 'closed')
    c.fail('a')
    assert.equal(c.t.phase('a'), 'open')
  })

  test('the open time doubles per consecutive opening up to the cap, with ±10% jitter', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((k) => openDurationMs(k, OPTIONS)), [30_000, 60_000, 120_000, 240_000, 300_000, 300_000])
    for (const [random, factor] of [
      [0, 0.9],
      [0.5, 1],
      [0.999999, 1.1],
    ] as const) {
      const c = table({}, () => random)
      c.fail('a', 5)
      const opened = c.events.find((e) => e.kind === 'opened')!
      assert.ok(Math.abs((opened as {openMs: number}).openMs - 30_000 * factor) < 1, `random ${random}`)
    }
  })

  test('backoff: open, half-open after the time, a failed trial reopens for twice as long', () => {
    const c = table()
    c.fail('a', 5)
    c.advance(29_999)
    assert.equal(c.t.skipReason('a', c.now()), 'circuit_open')
    c.advance(1)
    assert.equal(c.t.skipReason('a', c.now()), null, 'half-open admits a trial')
    assert.equal(c.t.phase('a'), 'half_open')
    c.t.picked('a')
    assert.equal(c.t.skipReason('a', c.now()), 'circuit_half_open', 'one trial at a time')
    c.fail('a')
    assert.equal(c.t.phase('a'), 'open')
    assert.equal(c.t.get('a')!.openings, 2)
    c.advance(59_999)
    assert.equal(c.t.phase('a'), 'open')
    c.advance(1)
    assert.equal(c.t.phase('a'), 'half_open')
    c.t.picked('a')
    c.fail('a')
    c.advance(119_999)
    assert.equal(c.t.phase('a'), 'open', 'third opening: 120 s')
    c.advance(1)
    assert.equal(c.t.phase('a'), 'half_open')
  })

  test('half-open: 3 successful trials, one at a time, close it; the next opening starts at the base time again', () => {
    const c = table()
    c.fail('a', 5)
    c.advance(30_000)
    for (let i = 0; i < 3; i++) {
      assert.equal(c.t.skipReason('a', c.now()), null)
      c.t.picked('a')
      assert.equal(c.t.skipReason('a', c.now()), 'circuit_half_open')
      c.t.succeeded('a')
    }
    assert.equal(c.t.phase('a'), 'closed')
    assert.equal(c.t.notClosed, 0)
    assert.equal(c.t.size, 0, 'a closed circuit leaves nothing behind')
    assert.equal(c.t.closed, 1)
    c.fail('a', 5)
    assert.equal(c.t.get('a')!.openings, 1)
    assert.ok(Math.abs(c.t.get('a')!.openUntilMs - c.now() - 30_000) < 1)
  })

  test('a trial whose client left before the connect ended frees the slot', () => {
    const c = table()
    c.fail('a', 5)
    c.advance(30_000)
    c.t.skipReason('a', c.now())
    c.t.picked('a')
    c.t.abandoned('a')
    assert.equal(c.t.skipReason('a', c.now()), null)
  })

  test('a passing active check turns an open circuit half-open at once', () => {
    const c = table()
    c.fail('a', 5)
    c.t.checkPassed('a')
    assert.equal(c.t.phase('a'), 'half_open')
    assert.deepEqual(
      c.events.map((e) => e.kind),
      ['opened', 'half_open'],
    )
  })

  test('max ejection share: 50% of 3 backends is 1; the second failing one stays in, counted', () => {
    const c = table({}, () => 0.5, ['a', 'b', 'c'])
    c.fail('a', 5)
    c.fail('b', 5)
    assert.equal(c.t.phase('a'), 'open')
    assert.equal(c.t.phase('b'), 'closed')
    assert.equal(c.t.ejectionsRefused, 1)
    assert.equal(c.events.at(-1)!.kind, 'ejection_refused')
    // Once a closes, b can open on its next failure.
    c.advance(30_000)
    for (let i = 0; i < 3; i++) {
      c.t.skipReason('a', c.now())
      c.t.picked('a')
      c.t.succeeded('a')
    }
    c.fail('b')
    assert.equal(c.t.phase('b'), 'open')
  })

  test('at least one may always be ejected, never all; other apps and regions count apart', () => {
    assert.equal(maxEjected(1, 50), 0, 'a lone backend is never ejected by its circuit')
    assert.equal(maxEjected(2, 10), 1, "at least one (Envoy's 10% kept broken hosts in rotation)")
    assert.equal(maxEjected(2, 100), 1, 'never all')
    assert.equal(maxEjected(10, 50), 5)
    const c = table({}, () => 0.5, ['a'])
    c.fail('a', 10)
    assert.equal(c.t.phase('a'), 'closed')
    const t = new CircuitTable(OPTIONS, () => 0)
    t.setGroups([
      {id: 'x', group: groupKey('web', 'sa')},
      {id: 'y', group: groupKey('web', 'sa')},
      {id: 'z', group: groupKey('web', 'eu')},
      {id: 'w', group: groupKey('web', 'eu')},
    ])
    for (let i = 0; i < 5; i++) {
      t.failed('x', groupKey('web', 'sa'))
      t.failed('z', groupKey('web', 'eu'))
    }
    assert.equal(t.phase('x'), 'open')
    assert.equal(t.phase('z'), 'open')
  })

  test('circuits of backends that left the table are forgotten', () => {
    const c = table()
    c.fail('a', 5)
    c.t.setGroups([{id: 'b', group: G}])
    assert.equal(c.t.notClosed, 0)
    assert.equal(c.t.phase('a'), 'closed')
  })
})
