// The affinity table: least recently used first for the cap and the sweep, expiry on read, and the
// bookkeeping (size, evicted) after every kind of change. Clock injected.
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {AffinityTable} from '../../../src/balancer/affinity.js'

function table(maxEntries: number, ttlMs = 1000) {
  const clock = {t: 0}
  return {clock, a: new AffinityTable({ttlMs, maxEntries, now: () => clock.t})}
}

describe('AffinityTable', () => {
  test('the cap evicts the least recently used binding, not the first inserted', () => {
    const {clock, a} = table(3)
    a.set('1.1.1.1', 'x')
    clock.t++
    a.set('2.2.2.2', 'y')
    clock.t++
    a.set('3.3.3.3', 'z')
    clock.t++
    assert.equal(a.get('1.1.1.1'), 'x', 'a use refreshes the first binding')
    a.set('4.4.4.4', 'w')
    assert.equal(a.size, 3)
    assert.equal(a.evicted, 1)
    assert.equal(a.peek('2.2.2.2'), undefined, 'the least recently used went')
    assert.deepEqual(['1.1.1.1', '3.3.3.3', '4.4.4.4'].map((ip) => a.peek(ip)), ['x', 'z', 'w'])
  })

  test('re-binding a client moves it, keeps one entry, and evicts nothing', () => {
    const {a} = table(2)
    a.set('1.1.1.1', 'x')
    a.set('2.2.2.2', 'y')
    a.set('1.1.1.1', 'z')
    assert.equal(a.size, 2)
    assert.equal(a.evicted, 0)
    a.set('3.3.3.3', 'w')
    assert.equal(a.peek('2.2.2.2'), undefined, '2.2.2.2 was now the oldest')
    assert.equal(a.peek('1.1.1.1'), 'z')
  })

  test('an expired binding is gone on read; peek does not refresh', () => {
    const {clock, a} = table(10, 100)
    a.set('1.1.1.1', 'x')
    clock.t = 60
    assert.equal(a.peek('1.1.1.1'), 'x')
    clock.t = 101
    assert.equal(a.peek('1.1.1.1'), undefined, 'peek left lastUsed at 0')
    assert.equal(a.get('1.1.1.1'), undefined)
    assert.equal(a.size, 0, 'removed on read')
  })

  test('the sweep drops expired bindings oldest first and stops at the first live one', () => {
    const {clock, a} = table(10, 100)
    for (let i = 0; i < 5; i++) {
      a.set(`10.0.0.${i}`, 'b')
      clock.t += 10
    }
    clock.t = 50
    a.get('10.0.0.0') // refreshed: now the newest
    clock.t = 125 // 10.0.0.1 (10) and 10.0.0.2 (20) are past the 100 ms TTL
    assert.equal(a.sweep(), 2)
    assert.equal(a.size, 3)
    assert.deepEqual(['10.0.0.0', '10.0.0.3', '10.0.0.4'].map((ip) => a.peek(ip)), ['b', 'b', 'b'])
    clock.t = 1000
    assert.equal(a.sweep(), 3)
    assert.equal(a.size, 0)
    a.set('10.0.0.9', 'c')
    assert.equal(a.peek('10.0.0.9'), 'c', 'usable after being emptied')
  })

  test('delete unlinks anywhere in the order; the cap still evicts the right ones after', () => {
    const {a} = table(3)
    for (const ip of ['a', 'b', 'c']) a.set(ip, ip)
    a.delete('b')
    a.delete('nope')
    assert.equal(a.size, 2)
    a.set('d', 'd')
    a.set('e', 'e')
    assert.equal(a.evicted, 1)
    assert.deepEqual(['a', 'c', 'd', 'e'].map((ip) => a.peek(ip)), [undefined, 'c', 'd', 'e'])
    a.delete('e')
    a.delete('c')
    a.delete('d')
    assert.equal(a.size, 0)
    assert.equal(a.sweep(), 0)
  })

  test('100,000 bindings churned by new clients: size stays at the cap, every eviction counted', () => {
    const {clock, a} = table(100_000, 1e9)
    for (let i = 0; i < 150_000; i++) {
      clock.t++
      a.set(`c${i}`, 'b')
      if (i % 3 === 0) a.get(`c${i >> 1}`)
    }
    assert.equal(a.size, 100_000)
    assert.equal(a.evicted, 50_000)
  })
})
