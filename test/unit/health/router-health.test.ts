// The router stays the one answer to "may this backend take a connection": check states, circuits
// and cooldowns reach it through its HealthTable and show in explain() and isRoutable().
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {Router} from '../../../src/balancer/router.js'
import type {CheckTarget} from '../../../src/health/health-table.js'
import {makeBackend} from '../../support/backend-fixture.js'

const TARGET: CheckTarget = {type: 'tcp', host: '10.0.0.1', port: 9000, path: '/health', sni: 'a'}
const pass = {isPass: true, latencyMs: 1, error: null, atMs: 0}
const fail = {isPass: false, latencyMs: 1, error: 'connect ECONNREFUSED', atMs: 0}

function router(extra: Partial<ConstructorParameters<typeof Router>[0]> = {}) {
  let now = 0
  const r = new Router({
    localRegion: 'sa',
    bindingTtlMs: 60_000,
    bindingMaxEntries: 100,
    failureCooldownMs: 10_000,
    now: () => 1_000_000,
    monotonicNow: () => now,
    random: () => 0.5,
    ...extra,
  })
  r.setBackends([makeBackend('a'), makeBackend('b'), makeBackend('c')])
  return {r, advance: (ms: number) => (now += ms)}
}

const skipOf = (r: Router, id: string) => r.explain('BR').find((e) => e.backend.id === id)!.skipped

describe('router with health signals', () => {
  test('DOWN by active check leaves selection, explain and isRoutable; only DOWN does (UP 2/3↓ still routes)', () => {
    const {r} = router({checks: {rise: 2, fall: 3}})
    r.health.track('a', TARGET)
    r.health.recordCheck('a', pass)
    r.health.recordCheck('a', fail)
    r.health.recordCheck('a', fail)
    assert.equal(r.health.label('a'), 'UP 2/3↓')
    assert.equal(skipOf(r, 'a'), null)
    assert.equal(r.isRoutable(r.get('a')!), true)
    r.health.recordCheck('a', fail)
    assert.equal(skipOf(r, 'a'), 'down')
    assert.equal(r.isRoutable(r.get('a')!), false)
    assert.match(r.health.describeSkip('a', 'down'), /^DOWN by active check \(connect ECONNREFUSED, 3\/3\)$/)
    for (let i = 0; i < 20; i++) {
      const pick = r.acquire(`1.1.1.${i}`, 'BR')!
      assert.notEqual(pick.backend.id, 'a')
      r.release(pick.backend.id)
    }
    r.health.recordCheck('a', pass)
    assert.equal(r.health.label('a'), 'DOWN 1/2↑')
    assert.equal(skipOf(r, 'a'), 'down', 'DOWN going up still takes no traffic')
    r.health.recordCheck('a', pass)
    assert.equal(skipOf(r, 'a'), null)
  })

  test('a bound client leaves a backend that goes DOWN', () => {
    const {r} = router({checks: {rise: 2, fall: 1}})
    const first = r.acquire('9.9.9.9', 'BR')!
    r.release(first.backend.id)
    r.health.track(first.backend.id, TARGET)
    r.health.recordCheck(first.backend.id, fail)
    const second = r.acquire('9.9.9.9', 'BR')!
    assert.notEqual(second.backend.id, first.backend.id)
  })

  test('data-path connect failures count as failed samples (passive + active)', () => {
    const {r} = router({checks: {rise: 2, fall: 3}})
    r.health.track('a', TARGET)
    r.health.recordCheck('a', pass)
    r.markFailed('a', 'ECONNREFUSED')
    r.markFailed('a', 'ECONNREFUSED')
    assert.equal(r.health.label('a'), 'UP 2/3↓')
    r.markFailed('a', 'timeout')
    assert.equal(r.health.label('a'), 'DOWN')
    assert.match(r.health.describeSkip('a', 'down'), /connect timeout \(client traffic\)/)
  })

  test('with the circuit breaker off, a failed connect cools the backend down; a passing check ends it early', () => {
    const {r, advance} = router({checks: {rise: 2, fall: 3}})
    r.health.track('a', TARGET)
    r.health.recordCheck('a', pass)
    r.markFailed('a', 'ECONNREFUSED')
    assert.equal(skipOf(r, 'a'), 'cooling_down')
    assert.equal(r.health.label('a'), 'UP 1/3↓')
    assert.equal(r.isRoutable(r.get('a')!), false)
    advance(3000)
    assert.equal(r.health.describeSkip('a', 'cooling_down'), 'cooling down 7 s after a failed connect')
    r.health.recordCheck('a', pass)
    assert.equal(skipOf(r, 'a'), null)
    assert.equal(r.health.label('a'), 'UP')
    // Without checks the cooldown simply runs out.
    r.markFailed('b', 'ECONNREFUSED')
    advance(9999)
    assert.equal(skipOf(r, 'b'), 'cooling_down')
    advance(1)
    assert.equal(skipOf(r, 'b'), null)
  })

  test('with the circuit breaker on, failures open the circuit instead of a cooldown; half-open takes one trial, 3 successes close it', () => {
    const circuit = {
      failureThreshold: 5,
      failureWindowMs: 60_000,
      baseOpenMs: 30_000,
      maxOpenMs: 300_000,
      jitterPercent: 10,
      successThreshold: 3,
      maxEjectionPercent: 50,
    }
    const {r, advance} = router({circuit})
    r.markFailed('a', 'ECONNREFUSED')
    assert.equal(skipOf(r, 'a'), null, 'one failure no longer takes it out')
    for (let i = 0; i < 4; i++) r.markFailed('a', 'ECONNREFUSED')
    assert.equal(skipOf(r, 'a'), 'circuit_open')
    assert.equal(r.isRoutable(r.get('a')!), false)
    advance(30_000)
    assert.equal(r.isRoutable(r.get('a')!), true, 'half-open is routable (trial connections)')
    // Make a the best pick: b and c loaded.
    r.setBackends([makeBackend('a'), makeBackend('b', {country: 'AR'}), makeBackend('c', {country: 'AR'})])
    for (let i = 0; i < 3; i++) {
      const trial = r.acquire(`2.2.2.${i}`, 'BR')!
      assert.equal(trial.backend.id, 'a', `trial ${i}`)
      assert.equal(skipOf(r, 'a'), 'circuit_half_open')
      const other = r.acquire(`3.3.3.${i}`, 'BR')!
      assert.notEqual(other.backend.id, 'a', 'one trial at a time')
      r.markConnected('a')
      r.release('a')
      r.release(other.backend.id)
    }
    assert.equal(skipOf(r, 'a'), null)
    assert.equal(r.health.circuits!.closed, 1)
  })
})
