import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {AffinityTable} from '../../../src/balancer/affinity.js'
import type {Backend} from '../../../src/balancer/backend.js'
import {Router} from '../../../src/balancer/router.js'
import {makeBackend} from '../../support/backend-fixture.js'

const backend = makeBackend

function clock() {
  let now = 0
  return {now: () => now, advance: (ms: number) => (now += ms)}
}

describe('AffinityTable', () => {
  test('a binding lives TTL after its last use, and is swept after that', () => {
    const c = clock()
    const table = new AffinityTable({ttlMs: 1000, maxEntries: 10, now: c.now})
    table.set('1.1.1.1', 'a')
    c.advance(900)
    assert.equal(table.get('1.1.1.1'), 'a', 'use refreshes the binding')
    c.advance(900)
    assert.equal(table.get('1.1.1.1'), 'a')
    table.set('2.2.2.2', 'b')
    c.advance(1001)
    assert.equal(table.sweep(), 2)
    assert.equal(table.size, 0)
    assert.equal(table.get('1.1.1.1'), undefined)
  })

  test('the sweep stops at the first live binding and removes only expired ones', () => {
    const c = clock()
    const table = new AffinityTable({ttlMs: 100, maxEntries: 100, now: c.now})
    for (let i = 0; i < 10; i++) {
      table.set(`10.0.0.${i}`, 'a')
      c.advance(20)
    }
    // now = 200; bindings made at 0..180; those older than 100 ms (0..80) expire
    assert.equal(table.sweep(), 5)
    assert.equal(table.size, 5)
  })

  test('memory stays bounded: past maxEntries the least recently used binding goes', () => {
    const c = clock()
    const table = new AffinityTable({ttlMs: 60_000, maxEntries: 1000, now: c.now})
    for (let i = 0; i < 5000; i++) {
      table.set(`client-${i}`, 'a')
      if (i === 10) table.get('client-0') // client-0 is recently used, client-1 is not
    }
    assert.equal(table.size, 1000)
    assert.equal(table.evicted, 4000)
    assert.equal(table.get('client-1'), undefined)
    assert.equal(table.get('client-4999'), 'a')
  })
})

describe('Router', () => {
  function router(extra: Partial<ConstructorParameters<typeof Router>[0]> = {}) {
    const c = clock()
    const r = new Router({
      localRegion: 'sa',
      bindingTtlMs: 10_000,
      bindingMaxEntries: 100,
      failureCooldownMs: 5000,
      now: () => 1_000_000,
      monotonicNow: c.now,
      ...extra,
    })
    return {r, c}
  }

  test('counts every acquire at once, so a burst never passes the hard limit', () => {
    const {r} = router()
    r.setBackends([backend('a', {hardLimit: 3}), backend('b', {hardLimit: 2, country: 'AR'})])
    const picks = Array.from({length: 10}, (_, i) => r.acquire(`10.0.0.${i}`, 'BR'))
    const ids = picks.map((p) => p?.backend.id ?? null)
    assert.deepEqual(ids.filter((id) => id === 'a').length, 3)
    assert.deepEqual(ids.filter((id) => id === 'b').length, 2)
    assert.deepEqual(ids.filter((id) => id === null).length, 5)
    r.release('a')
    assert.equal(r.activeConnections('a'), 2)
    assert.equal(r.acquire('10.0.0.99', 'BR')?.backend.id, 'a')
  })

  test('affinity holds while the backend can take connections', () => {
    const {r} = router()
    r.setBackends([backend('a'), backend('b')])
    const first = r.acquire('1.2.3.4', 'BR')!
    assert.equal(first.isAffinity, false)
    r.release(first.backend.id)
    for (let i = 0; i < 3; i++) {
      const again = r.acquire('1.2.3.4', 'BR')!
      assert.deepEqual([again.backend.id, again.isAffinity], [first.backend.id, true])
      r.release(again.backend.id)
    }
  })

  const breaking: [string, Partial<Backend>][] = [
    ['unhealthy', {isHealthy: false}],
    ['draining', {isDraining: true}],
    ['expired', {leaseExpiresAtMs: 1}],
  ]
  for (const [name, change] of breaking) {
    test(`a binding is dropped when its backend is ${name}`, () => {
      const {r} = router()
      r.setBackends([backend('a'), backend('b')])
      r.affinity.set('1.2.3.4', 'a')
      r.setBackends([backend('a', change), backend('b')])
      const pick = r.acquire('1.2.3.4', 'BR')!
      assert.deepEqual([pick.backend.id, pick.isAffinity], ['b', false])
      assert.equal(r.affinity.get('1.2.3.4'), 'b')
    })
  }

  test('a binding is dropped when its backend is at its hard limit', () => {
    const {r} = router()
    r.setBackends([backend('a', {hardLimit: 1}), backend('b')])
    r.affinity.set('1.2.3.4', 'a')
    r.affinity.set('4.3.2.1', 'a')
    assert.equal(r.acquire('4.3.2.1', 'BR')?.backend.id, 'a')
    const pick = r.acquire('1.2.3.4', 'BR')!
    assert.deepEqual([pick.backend.id, pick.isAffinity], ['b', false])
  })

  test('a binding to a backend that left the table is dropped', () => {
    const {r} = router()
    r.setBackends([backend('a'), backend('b')])
    r.affinity.set('1.2.3.4', 'a')
    r.setBackends([backend('b')])
    const pick = r.acquire('1.2.3.4', 'BR')!
    assert.equal(pick.backend.id, 'b')
    assert.equal(r.affinity.get('1.2.3.4'), 'b')
  })

  test('a failed backend cools down, then takes picks again', () => {
    const {r, c} = router()
    r.setBackends([backend('a'), backend('b', {country: 'AR'})])
    r.markFailed('a')
    assert.equal(r.acquire('5.5.5.5', 'BR')?.backend.id, 'b')
    c.advance(5001)
    assert.equal(r.acquire('6.6.6.6', 'BR')?.backend.id, 'a')
  })

  test('tried backends are excluded for the retry', () => {
    const {r} = router()
    r.setBackends([backend('a'), backend('b', {country: 'AR'})])
    assert.equal(r.acquire('5.5.5.5', 'BR', new Set(['a']))?.backend.id, 'b')
  })

  test('--app routes only that app', () => {
    const {r} = router({app: 'api'})
    r.setBackends([backend('a'), backend('b', {app: 'api', country: 'US', region: 'us'})])
    assert.equal(r.acquire('5.5.5.5', 'BR')?.backend.id, 'b')
    assert.equal(r.snapshot.length, 1)
  })

  test('a local write stays in force over older tables from the store until one shows the row as new', () => {
    const {r} = router()
    const stale = backend('a', {updatedAtMs: 100, leaseExpiresAtMs: 2_000_000})
    const other = backend('b', {updatedAtMs: 50})
    r.setBackends([stale, other])
    r.upsertBackend(backend('a', {updatedAtMs: 200, isDraining: true, leaseExpiresAtMs: 2_000_100}))
    assert.equal(r.get('a')!.isDraining, true, 'routable at once')
    // Another row changed: the store hands over a whole table that still holds the old row.
    r.setBackends([stale, backend('b', {updatedAtMs: 150, weight: 9})])
    assert.equal(r.get('a')!.isDraining, true, 'not undone by a table that predates the write')
    assert.equal(r.get('a')!.leaseExpiresAtMs, 2_000_100, 'a renewal reads the lease it wrote, so it does not write again')
    assert.equal(r.get('b')!.weight, 9, 'the rest of the table is the store\'s')
    assert.equal(r.acquire('5.5.5.5', 'BR')?.backend.id, 'b')
    // The store catches up, then moves on (a later write elsewhere): the store's row wins from now on.
    r.setBackends([backend('a', {updatedAtMs: 200, isDraining: true}), other])
    r.setBackends([backend('a', {updatedAtMs: 300, isDraining: false}), other])
    assert.equal(r.get('a')!.isDraining, false)
  })

  test('a local register not yet in the store is added; a local delete hides the row until the store agrees', () => {
    const {r} = router()
    r.setBackends([backend('a', {updatedAtMs: 100})])
    r.upsertBackend(backend('n', {updatedAtMs: 200}))
    r.setBackends([backend('a', {updatedAtMs: 100})])
    assert.deepEqual(r.snapshot.map((b) => b.id).sort(), ['a', 'n'])
    r.removeBackend('a', 300)
    assert.equal(r.get('a'), undefined, 'gone at once')
    r.setBackends([backend('a', {updatedAtMs: 100}), backend('n', {updatedAtMs: 200})])
    assert.equal(r.get('a'), undefined, 'an older table does not bring it back')
    r.setBackends([backend('n', {updatedAtMs: 200})])
    r.setBackends([backend('a', {updatedAtMs: 400}), backend('n', {updatedAtMs: 200})])
    assert.equal(r.get('a')?.updatedAtMs, 400, 'registered again later (elsewhere): the store\'s row is shown')
  })

  test('local writes accumulate while no table comes from the store (a SQLite store read every minute)', () => {
    const {r, c} = router()
    r.setBackends([backend('a', {updatedAtMs: 100})])
    r.upsertBackend(backend('n1', {updatedAtMs: 200}))
    c.advance(30_000)
    r.upsertBackend(backend('n2', {updatedAtMs: 300}))
    assert.deepEqual(r.snapshot.map((b) => b.id).sort(), ['a', 'n1', 'n2'], 'an older write is not dropped by a later one')
    r.setBackends([backend('a', {updatedAtMs: 100}), backend('n1', {updatedAtMs: 200}), backend('n2', {updatedAtMs: 300})])
    assert.equal(r.snapshot.length, 3)
  })

  test('a local write the store never shows as new stops overriding after a few seconds', () => {
    const {r, c} = router()
    r.setBackends([backend('a', {updatedAtMs: 100})])
    r.upsertBackend(backend('a', {updatedAtMs: 200, weight: 7}))
    c.advance(4000)
    r.setBackends([backend('a', {updatedAtMs: 150})])
    assert.equal(r.get('a')!.weight, 7)
    c.advance(1001)
    r.setBackends([backend('a', {updatedAtMs: 150})])
    assert.equal(r.get('a')!.weight, 2, 'a POP clock ahead of the others cannot pin a row forever')
  })
})
