import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {BackendCounters, CONNECT_TIME_BUCKETS_MS} from '../../../src/balancer/backend-counters.js'
import {ROUTING_TIERS, Router} from '../../../src/balancer/router.js'
import {makeBackend} from '../../support/backend-fixture.js'

function router(localRegion = 'us') {
  return new Router({localRegion, bindingTtlMs: 60_000, bindingMaxEntries: 100, failureCooldownMs: 1000, now: () => 0, monotonicNow: () => 0})
}

const tiers = (r: Router) => Object.fromEntries(ROUTING_TIERS.map((t, i) => [t, r.decisions[i]]))

describe('BackendCounters', () => {
  test('a connect time lands in the first bucket whose bound it does not exceed (le semantics)', () => {
    const c = new BackendCounters()
    for (const ms of [0.2, 1, 1.01, 2.5, 4999, 5000, 5001, 60_000]) c.observeConnectMs(ms)
    const at = (boundMs: number) => c.connectTimeBuckets[CONNECT_TIME_BUCKETS_MS.indexOf(boundMs)]
    assert.equal(at(1), 2, '0.2 and exactly 1 ms are ≤ 1 ms')
    assert.equal(at(2.5), 2, '1.01 and 2.5')
    assert.equal(at(5000), 2, '4999 and 5000')
    assert.equal(c.connectTimeBuckets[CONNECT_TIME_BUCKETS_MS.length], 2, 'above 5 s: +Inf only')
    assert.equal(c.connectTimeCount, 8)
    assert.equal(c.connectTimeSumMs, 0.2 + 1 + 1.01 + 2.5 + 4999 + 5000 + 5001 + 60_000)
  })
})

describe('Router traffic counters', () => {
  test('every pick is counted once per backend and once per tier (country, region, pop, other, affinity)', () => {
    const r = router('us')
    r.setBackends([makeBackend('br', {region: 'sa', country: 'BR'}), makeBackend('de', {region: 'eu', country: 'DE'})])
    const picks = [
      r.acquire('1.1.1.1', 'BR', undefined), // country
      r.acquire('1.1.1.1', 'BR', undefined), // affinity
      r.acquire('2.2.2.2', 'AR', undefined), // region (sa)
      r.acquire('3.3.3.3', 'FR', undefined), // region (eu)
      r.acquire('4.4.4.4', 'JP', undefined), // other: no ap backend, none in the POP region us (de is least loaded)
    ]
    assert.deepEqual(
      picks.map((p) => p?.backend.id),
      ['br', 'br', 'br', 'de', 'de'],
    )
    assert.deepEqual(tiers(r), {country: 1, region: 2, pop: 0, other: 1, affinity: 1})
    r.setBackends([...r.snapshot, makeBackend('us', {region: 'us', country: 'US'})])
    r.acquire('5.5.5.5', null, undefined)
    assert.equal(tiers(r).pop, 1)
    assert.equal(picks[0]!.counters, r.counters(r.get('br')!), 'the pick carries the backend’s counters')
    assert.equal(r.counters(r.get('br')!)!.connections, 3)
    assert.equal(r.counters(r.get('de')!)!.connections, 2)
  })

  test('counters carry over a reload (new objects, same id) and go with a backend that leaves the table', () => {
    const r = router()
    r.setBackends([makeBackend('a')])
    r.acquire('1.1.1.1', null, undefined)
    r.setBackends([makeBackend('a', {weight: 5})])
    assert.equal(r.counters(r.get('a')!)!.connections, 1, 'the reloaded row keeps its counts')
    r.setBackends([makeBackend('b')])
    assert.equal(r.get('a'), undefined)
    r.setBackends([makeBackend('a'), makeBackend('b')])
    assert.equal(r.counters(r.get('a')!)!.connections, 0, 'a backend that left and came back starts from zero')
  })

  test('counters are not part of the backend as data (JSON, deep equality)', () => {
    const r = router()
    const b = makeBackend('a')
    r.setBackends([b])
    assert.deepEqual(b, makeBackend('a'))
    assert.equal(JSON.stringify(b), JSON.stringify(makeBackend('a')))
  })
})
