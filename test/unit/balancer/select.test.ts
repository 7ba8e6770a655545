import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import type {Backend} from '../../../src/balancer/backend.js'
import {regionForCountry} from '../../../src/balancer/regions.js'
import {makeBackend} from '../../support/backend-fixture.js'
import {geoScore, rankBackends, score, selectBackend, type SelectContext} from '../../../src/balancer/select.js'

function backend(id: string, region: string, country: string, extra: Partial<Backend> = {}): Backend {
  return makeBackend(id, {region, country, weight: 1, hardLimit: 200, ...extra})
}

function ctx(country: string | null, localRegion: string, active: Record<string, number> = {}, extra: Partial<SelectContext> = {}): SelectContext {
  return {
    client: {country, region: country === null ? null : regionForCountry(country)},
    localRegion,
    nowMs: 1_000_000,
    activeConnections: (b) => active[b.id] ?? 0,
    ...extra,
  }
}

describe('the documented France example', () => {
  const backends = [backend('fr', 'eu', 'FR'), backend('de', 'eu', 'DE'), backend('gb', 'eu', 'GB'), backend('us', 'us', 'US'), backend('jp', 'ap', 'JP')]
  const c = ctx('FR', 'sa')

  test('FR scores 0, DE and GB score 1, US and JP score 3', () => {
    const scores = Object.fromEntries(backends.map((b) => [b.id, geoScore(b, c.client, c.localRegion)]))
    assert.deepEqual(scores, {fr: 0, de: 1, gb: 1, us: 3, jp: 3})
  })

  test('the French backend is chosen, then a European one when it is gone', () => {
    assert.equal(selectBackend(backends, c)?.id, 'fr')
    assert.equal(selectBackend(backends.slice(1), c)?.id, 'de')
    assert.equal(selectBackend(backends.slice(3), c)?.id, 'jp', 'equal scores: the smaller id')
  })

  test('a fully loaded local backend still beats an empty remote one (the ×100)', () => {
    const loaded = ctx('FR', 'sa', {fr: 199})
    assert.equal(selectBackend(backends, loaded)?.id, 'fr')
    assert.ok(score(0, 199 / 100, 1) < score(1, 0, 1))
  })
})

describe('the formula', () => {
  test('geo tiers: country, client region, POP region, other', () => {
    const c = ctx('BR', 'us')
    assert.equal(geoScore(backend('x', 'sa', 'BR'), c.client, 'us'), 0)
    assert.equal(geoScore(backend('x', 'sa', 'AR'), c.client, 'us'), 1)
    assert.equal(geoScore(backend('x', 'us', 'US'), c.client, 'us'), 2)
    assert.equal(geoScore(backend('x', 'eu', 'DE'), c.client, 'us'), 3)
    const unknown = ctx(null, 'us')
    assert.equal(geoScore(backend('x', 'sa', ''), unknown.client, 'us'), 3)
    assert.equal(geoScore(backend('x', 'us', ''), unknown.client, 'us'), 2)
  })

  test('a backend without a country never matches on country', () => {
    assert.equal(geoScore(backend('x', 'eu', ''), ctx('FR', 'sa').client, 'sa'), 1)
  })

  test('lower load wins within a tier; weight divides the load', () => {
    const two = [backend('a', 'sa', 'BR'), backend('b', 'sa', 'BR')]
    assert.equal(selectBackend(two, ctx('BR', 'sa', {a: 50, b: 10}))?.id, 'b')
    const weighted = [backend('a', 'sa', 'BR', {weight: 1}), backend('b', 'sa', 'BR', {weight: 3})]
    assert.equal(selectBackend(weighted, ctx('BR', 'sa', {a: 50, b: 50}))?.id, 'b')
    assert.equal(selectBackend(weighted, ctx('BR', 'sa', {a: 20, b: 90}))?.id, 'a', '20/1 = 0.2 < 90/3/100 * 100 = 0.3')
  })

  test('soft_limit 0 counts as 1', () => {
    const rows = rankBackends([backend('a', 'sa', 'BR', {softLimit: 0})], ctx('BR', 'sa', {a: 3}))
    assert.equal(rows[0].loadFactor, 3)
    assert.equal(rows[0].score, 3)
  })

  test('weight 0 counts as 1', () => {
    const rows = rankBackends([backend('a', 'sa', 'BR', {weight: 0})], ctx('BR', 'sa', {a: 50}))
    assert.equal(rows[0].weight, 1)
    assert.equal(rows[0].score, 0.5)
  })

  test('hard_limit 0 means no limit', () => {
    const b = [backend('a', 'sa', 'BR', {hardLimit: 0})]
    assert.equal(selectBackend(b, ctx('BR', 'sa', {a: 1_000_000}))?.id, 'a')
  })

  test('a backend at its hard limit is skipped; every backend at it gives none', () => {
    const b = [backend('a', 'sa', 'BR', {hardLimit: 10}), backend('b', 'us', 'US', {hardLimit: 10})]
    assert.equal(selectBackend(b, ctx('BR', 'sa', {a: 10}))?.id, 'b')
    assert.equal(selectBackend(b, ctx('BR', 'sa', {a: 10, b: 11})), null)
    const ranked = rankBackends(b, ctx('BR', 'sa', {a: 10, b: 11}))
    assert.deepEqual(ranked.map((r) => r.skipped), ['at_hard_limit', 'at_hard_limit'])
  })

  test('unhealthy, draining and expired backends take no new connections', () => {
    const b = [
      backend('sick', 'sa', 'BR', {isHealthy: false}),
      backend('drain', 'sa', 'BR', {isDraining: true}),
      backend('late', 'sa', 'BR', {leaseExpiresAtMs: 999_999}),
      backend('ok', 'eu', 'DE', {leaseExpiresAtMs: 1_000_001}),
    ]
    const c = ctx('BR', 'sa')
    assert.equal(selectBackend(b, c)?.id, 'ok')
    const reasons = Object.fromEntries(rankBackends(b, c).map((r) => [r.backend.id, r.skipped]))
    assert.deepEqual(reasons, {ok: null, sick: 'unhealthy', drain: 'draining', late: 'expired'})
  })

  test('no backends gives none', () => {
    assert.equal(selectBackend([], ctx('BR', 'sa')), null)
  })

  test('ties go to the backend picked least recently, so equals share connections', () => {
    const b = [backend('a', 'sa', 'BR'), backend('b', 'sa', 'BR'), backend('c', 'sa', 'BR')]
    const picked: Record<string, number> = {a: 3, b: 1, c: 2}
    assert.equal(selectBackend(b, ctx('BR', 'sa', {}, {lastPicked: (b) => picked[b.id]}))?.id, 'b')
    assert.equal(selectBackend(b, ctx('BR', 'sa', {}, {lastPicked: () => 0}))?.id, 'a', 'never picked: the smaller id')
  })

  test('excluded backends (tried, cooling down) are skipped', () => {
    const b = [backend('a', 'sa', 'BR'), backend('b', 'sa', 'AR')]
    assert.equal(selectBackend(b, ctx('BR', 'sa', {}, {isExcluded: (b) => b.id === 'a'}))?.id, 'b')
  })

  test('explain lists the chosen backend first and every skipped one last', () => {
    const b = [backend('z', 'us', 'US'), backend('a', 'sa', 'BR', {isHealthy: false}), backend('m', 'sa', 'AR')]
    const rows = rankBackends(b, ctx('BR', 'sa'))
    assert.deepEqual(rows.map((r) => r.backend.id), ['m', 'z', 'a'])
  })
})
