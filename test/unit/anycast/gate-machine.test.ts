import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {decidePhase, initialHealth, JITTER, nextDelayMs, recordProbe, worstWithdrawMs, type HealthState} from '../../../src/anycast/gate-machine.js'

const LIMITS = {rise: 3, fall: 2}

function run(results: boolean[], start: HealthState = initialHealth(0)): HealthState[] {
  const states: HealthState[] = []
  let state = start
  results.forEach((ok, i) => {
    state = recordProbe(state, ok, LIMITS, (i + 1) * 1000)
    states.push(state)
  })
  return states
}

describe('gate state machine', () => {
  test('starts down: nothing is announced before rise good probes in a row', () => {
    const states = run([true, true, true])
    assert.deepEqual(states.map((s) => s.isUp), [false, false, true])
    assert.equal(states[2]!.sinceMs, 3000)
  })

  test('a failure during the rise starts it over', () => {
    assert.deepEqual(run([true, true, false, true, true, true]).map((s) => s.isUp), [false, false, false, false, false, true])
  })

  test('up: fall failures in a row withdraw, a single one does not', () => {
    const up = run([true, true, true]).at(-1)!
    assert.deepEqual(run([false, true, false, true], up).map((s) => s.isUp), [true, true, true, true], 'isolated failures are absorbed')
    const states = run([false, false], up)
    assert.deepEqual(states.map((s) => s.isUp), [true, false])
    assert.equal(states[1]!.sinceMs, 2000)
  })

  test('counts consecutive outcomes for status', () => {
    const states = run([true, true, false, false, false])
    assert.deepEqual(states.map((s) => [s.lastIsOk, s.consecutive]), [
      [true, 1],
      [true, 2],
      [false, 1],
      [false, 2],
      [false, 3],
    ])
  })

  test('rise 1 / fall 1 follow every probe', () => {
    let s = initialHealth(0)
    const seen: boolean[] = []
    for (const ok of [true, false, true]) {
      s = recordProbe(s, ok, {rise: 1, fall: 1}, 0)
      seen.push(s.isUp)
    }
    assert.deepEqual(seen, [true, false, true])
  })
})

describe('gate phase', () => {
  test('down withdraws whatever the maintenance file says', () => {
    assert.equal(decidePhase(false, undefined, 0), 'withdrawn')
    assert.equal(decidePhase(false, {reason: 'drain', sinceMs: 0, drainUntilMs: 10_000}, 5000), 'withdrawn')
  })

  test('up announces; a drain tags until its deadline, then withdraws and stays withdrawn', () => {
    assert.equal(decidePhase(true, undefined, 0), 'announced')
    const drain = {reason: 'drain', sinceMs: 0, drainUntilMs: 10_000}
    assert.equal(decidePhase(true, drain, 9_999), 'draining')
    assert.equal(decidePhase(true, drain, 10_000), 'withdrawn')
    assert.equal(decidePhase(true, drain, 10_000_000), 'withdrawn')
    assert.equal(decidePhase(true, {reason: 'withdraw --hold', sinceMs: 0}, 0), 'withdrawn')
  })
})

describe('jitter', () => {
  test('every wait lies in [interval × 0.9, interval], driven by the injected random source', () => {
    assert.equal(nextDelayMs(2000, () => 0), 2000)
    assert.equal(nextDelayMs(2000, () => 0.999999), Math.round(2000 * (1 - JITTER * 0.999999)))
    assert.equal(nextDelayMs(2000, () => 0.5), 1900)
    let seed = 42
    const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const waits = Array.from({length: 1000}, () => nextDelayMs(1000, lcg))
    assert.ok(waits.every((w) => w >= 900 && w <= 1000))
    assert.ok(new Set(waits).size > 50, 'waits differ, so POPs do not probe in step')
  })

  test('the worst case to withdraw is fall intervals plus one timeout', () => {
    assert.equal(worstWithdrawMs({intervalMs: 2000, timeoutMs: 1000, fall: 2}), 5000)
  })
})
