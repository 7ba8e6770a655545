import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {TrafficHistory} from '../../../src/ui/traffic-history.js'

const T0 = Date.parse('2026-07-01T12:00:00Z')

describe('traffic history (the status page charts)', () => {
  test('rates per second between samples, the open count as read, oldest first', () => {
    const h = new TrafficHistory(5000, 60_000)
    h.record(T0, {connections: 100, errors: 3, active: 7})
    assert.equal(h.size, 0, 'the first reading is only the baseline')
    assert.equal(h.toJSON().last_sample_at, null)
    h.record(T0 + 5000, {connections: 110, errors: 3, active: 9})
    h.record(T0 + 10_000, {connections: 135, errors: 8, active: 4})
    assert.deepEqual(h.toJSON(), {
      sample_secs: 5,
      window_secs: 60,
      last_sample_at: '2026-07-01T12:00:10.000Z',
      connections_per_sec: [2, 5],
      errors_per_sec: [0, 1],
      active: [9, 4],
    })
  })

  test('a late timer divides by the real interval; rates keep two decimals', () => {
    const h = new TrafficHistory(1000, 10_000)
    h.record(T0, {connections: 0, errors: 0, active: 0})
    h.record(T0 + 3000, {connections: 1, errors: 0, active: 1})
    assert.deepEqual(h.toJSON().connections_per_sec, [0.33])
  })

  test('the ring keeps the last window only, in order, and a counter that went down counts as zero', () => {
    const h = new TrafficHistory(1000, 3000)
    assert.equal(h.capacity, 3)
    h.record(T0, {connections: 0, errors: 0, active: 0})
    for (let i = 1; i <= 5; i++) h.record(T0 + i * 1000, {connections: i * i, errors: 0, active: i})
    assert.deepEqual(h.toJSON().connections_per_sec, [5, 7, 9])
    assert.deepEqual(h.toJSON().active, [3, 4, 5])
    h.record(T0 + 6000, {connections: 2, errors: 0, active: 0})
    assert.deepEqual(h.toJSON().connections_per_sec, [7, 9, 0])
  })

  test('a reading at the same instant (or earlier) moves the baseline without a sample', () => {
    const h = new TrafficHistory(1000, 10_000)
    h.record(T0, {connections: 0, errors: 0, active: 0})
    h.record(T0, {connections: 5, errors: 0, active: 0})
    assert.equal(h.size, 0)
    h.record(T0 + 1000, {connections: 6, errors: 0, active: 0})
    assert.deepEqual(h.toJSON().connections_per_sec, [1])
  })
})
