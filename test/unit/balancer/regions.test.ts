import assert from 'node:assert/strict'
import {test} from 'node:test'

import {REGION_COUNTRIES, regionForCountry} from '../../../src/balancer/regions.js'

test('every documented country maps to its region', () => {
  const expected = {
    sa: 'BR AR CL PE CO UY PY BO EC',
    us: 'US CA MX',
    eu: 'PT ES FR DE NL IT GB IE BE CH AT PL CZ SE NO DK FI',
    ap: 'JP KR TW HK SG MY TH VN ID PH AU NZ',
  }
  for (const [region, countries] of Object.entries(expected)) {
    for (const country of countries.split(' ')) assert.equal(regionForCountry(country), region, country)
    assert.deepEqual([...REGION_COUNTRIES[region as keyof typeof REGION_COUNTRIES]].sort(), countries.split(' ').sort())
  }
})

test('any other country belongs to us', () => {
  for (const country of ['ZA', 'IN', 'RU', 'EG', 'AE', 'XX']) assert.equal(regionForCountry(country), 'us')
})
