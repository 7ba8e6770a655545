import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {bootstrapFanout, bootstrapPeers, isBootstrapGraphConnected} from '../../../src/topology/index.js'
import {isConnected} from '../generators/config-checks.js'

const names = (n: number) => Array.from({length: n}, (_, i) => `pop-${String(i).padStart(2, '0')}`)

describe('bootstrapPeers', () => {
  for (let n = 1; n <= 12; n++) {
    test(`${n} POP(s): never itself, partial, connected`, () => {
      const peers = bootstrapPeers(names(n))
      assert.equal(peers.size, n)
      for (const [pop, listed] of peers) {
        assert.ok(!listed.includes(pop), `${pop} lists itself`)
        assert.equal(new Set(listed).size, listed.length, 'no duplicates')
        assert.equal(listed.length, bootstrapFanout(n))
        if (n >= 3) assert.ok(listed.length < n - 1, `${pop} lists ${listed.length} of ${n - 1} others: partial`)
        assert.deepEqual(listed, [...listed].sort())
      }
      assert.ok(isConnected(peers), 'independent BFS: connected')
      assert.ok(isBootstrapGraphConnected(peers))
      if (n >= 4) {
        const lists = [...peers.values()]
        const isOverlapping = lists.some((a, i) => lists.slice(i + 1).some((b) => a.some((x) => b.includes(x))))
        assert.ok(isOverlapping, 'some lists share a seed')
      }
    })
  }

  test('the three-POP shape: a ring in name order', () => {
    assert.deepEqual(Object.fromEntries(bootstrapPeers(['sa', 'us', 'eu'])), {eu: ['sa'], sa: ['us'], us: ['eu']})
  })

  test('does not depend on the order POPs are listed in', () => {
    const a = bootstrapPeers(['d', 'a', 'c', 'b', 'e'])
    const b = bootstrapPeers(['e', 'b', 'a', 'd', 'c'])
    assert.deepEqual(Object.fromEntries(a), Object.fromEntries(b))
  })

  test('the connectivity check sees two islands', () => {
    const islands = new Map([
      ['a', ['b']],
      ['b', ['a']],
      ['c', ['d']],
      ['d', ['c']],
    ])
    assert.equal(isBootstrapGraphConnected(islands), false)
    assert.equal(isConnected(islands), false)
  })
})
