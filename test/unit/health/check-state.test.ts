import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {
  checkLabel,
  firstCheckDelayMs,
  initialCheckState,
  nextCheckDelayMs,
  recordResult,
  type CheckState,
  type CheckTiming,
  type Transition,
} from '../../../src/health/check-state.js'

const T = {rise: 2, fall: 3}
const TIMING: CheckTiming = {intervalMs: 200, fastIntervalMs: 50, downIntervalMs: 400, jitterPercent: 10}

function feed(state: CheckState, results: boolean[]): Transition[] {
  return results.map((r) => recordResult(state, r, T))
}

describe('check state machine (UP, UP k/fall↓, DOWN, DOWN k/rise↑)', () => {
  test('a new backend is UP and unchecked; its first failure marks it DOWN at once', () => {
    const s = initialCheckState()
    assert.deepEqual(s, {isUp: true, streak: 0, isChecked: false})
    assert.equal(checkLabel(s, T), 'UP')
    assert.equal(recordResult(s, false, T), 'down')
    assert.equal(checkLabel(s, T), 'DOWN')
  })

  test('a new backend whose first check passes is plainly UP', () => {
    const s = initialCheckState()
    assert.equal(recordResult(s, true, T), null)
    assert.deepEqual(s, {isUp: true, streak: 0, isChecked: true})
  })

  test('UP goes DOWN after `fall` failures in a row, showing the count on the way', () => {
    const s = initialCheckState()
    recordResult(s, true, T)
    assert.deepEqual(feed(s, [false]), [null])
    assert.equal(checkLabel(s, T), 'UP 1/3↓')
    assert.deepEqual(feed(s, [false]), [null])
    assert.equal(checkLabel(s, T), 'UP 2/3↓')
    assert.deepEqual(feed(s, [false]), ['down'])
    assert.equal(checkLabel(s, T), 'DOWN')
  })

  test('a pass in between starts the count again (no flapping on one lost check)', () => {
    const s = initialCheckState()
    assert.deepEqual(feed(s, [true, false, false, true, false, false, true]), [null, null, null, null, null, null, null])
    assert.equal(checkLabel(s, T), 'UP')
  })

  test('DOWN comes UP after `rise` passes in a row; a failure in between starts again', () => {
    const s = initialCheckState()
    feed(s, [false])
    assert.deepEqual(feed(s, [true]), [null])
    assert.equal(checkLabel(s, T), 'DOWN 1/2↑')
    assert.deepEqual(feed(s, [false, true]), [null, null])
    assert.equal(checkLabel(s, T), 'DOWN 1/2↑')
    assert.deepEqual(feed(s, [true]), ['up'])
    assert.equal(checkLabel(s, T), 'UP')
  })
})

describe('check timing', () => {
  test('the first check of a new backend comes within one interval, spread over it', () => {
    const delays = Array.from({length: 1000}, (_, i) => firstCheckDelayMs(TIMING, i / 1000))
    assert.ok(Math.min(...delays) >= 0)
    assert.ok(Math.max(...delays) < TIMING.intervalMs)
    // Ten slices of the interval, each holds a tenth of the first checks: no thundering herd.
    const slices = new Array<number>(10).fill(0)
    for (const d of delays) slices[Math.floor(d / (TIMING.intervalMs / 10))]++
    assert.deepEqual(slices, new Array(10).fill(100))
  })

  test('interval while stable, fast interval while changing, down interval while DOWN, each ± jitter', () => {
    const s = initialCheckState()
    recordResult(s, true, T)
    const bounds = (st: CheckState) => [nextCheckDelayMs(st, TIMING, 0), nextCheckDelayMs(st, TIMING, 0.5), nextCheckDelayMs(st, TIMING, 0.999999)]
    const close = (actual: number[], expected: number[]) => actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) < 0.01, `${actual} vs ${expected}`))
    close(bounds(s), [180, 200, 220])
    recordResult(s, false, T)
    close(bounds(s), [45, 50, 55])
    recordResult(s, false, T)
    recordResult(s, false, T)
    close(bounds(s), [360, 400, 440])
    recordResult(s, true, T)
    close(bounds(s), [45, 50, 55])
  })

  // The bound the issue sets: a backend that stops answering is out within fall × interval + timeout.
  // Simulated on an injected clock: checks start every `delay` (start to start), each failing one
  // takes the whole timeout, and the jitter is at its worst (longest waits) or its best.
  for (const [name, random] of [
    ['longest waits', 0.999999],
    ['shortest waits', 0],
  ] as const) {
    test(`fall and rise times stay within their bounds (${name})`, () => {
      const timeoutMs = 100
      const s = initialCheckState()
      recordResult(s, true, T)
      // The backend dies just after a passing check started at 0.
      let start = 0
      let downAt = -1
      while (downAt < 0) {
        start += nextCheckDelayMs(s, TIMING, random)
        if (recordResult(s, false, T) === 'down') downAt = start + timeoutMs
      }
      const j = 1 + TIMING.jitterPercent / 100
      const upper = TIMING.intervalMs * j + (T.fall - 1) * TIMING.fastIntervalMs * j + timeoutMs
      assert.ok(downAt <= upper, `DOWN at ${downAt} ms, bound ${upper} ms`)
      assert.ok(downAt <= T.fall * TIMING.intervalMs + timeoutMs, 'within fall × interval + timeout, as the issue asks')
      assert.ok(downAt >= (T.fall - 1) * TIMING.fastIntervalMs * (1 - TIMING.jitterPercent / 100), 'not before fall - 1 fast intervals')
      // It comes back: checks every down interval, then the fast interval until `rise` passes.
      const backAt = start
      let upAt = -1
      start = backAt
      while (upAt < 0) {
        start += nextCheckDelayMs(s, TIMING, random)
        if (recordResult(s, true, T) === 'up') upAt = start
      }
      const riseBound = TIMING.downIntervalMs * j + (T.rise - 1) * TIMING.fastIntervalMs * j
      assert.ok(upAt - backAt <= riseBound, `UP after ${upAt - backAt} ms, bound ${riseBound} ms`)
    })
  }
})
