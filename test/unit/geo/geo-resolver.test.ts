import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, test} from 'node:test'

import {ConfigError} from '../../../src/errors.js'
import {countryOfRecord, embeddedGeoDatabasePath, openGeoResolver} from '../../../src/geo/geo-resolver.js'

describe('geo', () => {
  test('the embedded database answers offline, for IPv4 and IPv6', async () => {
    const geo = await openGeoResolver()
    assert.equal(geo.country('200.160.2.3'), 'BR')
    assert.equal(geo.country('90.0.0.1'), 'FR')
    assert.equal(geo.country('2a01:e0a::1'), 'FR')
    assert.equal(geo.country('::ffff:90.0.0.1'), 'FR')
    assert.match(geo.source, /embedded dbip-country/)
  })

  test('private, loopback and reserved addresses have no country', async () => {
    const geo = await openGeoResolver()
    for (const ip of ['10.0.0.1', '127.0.0.1', '192.168.0.9', '::1', 'fd00::1', '192.0.2.55', 'garbage']) assert.equal(geo.country(ip), null, ip)
  })

  test('EDGEPROXY_GEOIP_PATH swaps the database (here an IPv4-only one: IPv6 clients get no country)', async () => {
    const ipv4Only = path.join(path.dirname(embeddedGeoDatabasePath()), 'dbip-country-ipv4.mmdb')
    const geo = await openGeoResolver(ipv4Only)
    assert.ok(geo.source.startsWith(ipv4Only))
    assert.equal(geo.country('90.0.0.1'), 'FR')
    assert.equal(geo.country('2a01:e0a::1'), null)
  })

  test('a file that is not an .mmdb stops start-up with EP_CONFIG_INVALID naming EDGEPROXY_GEOIP_PATH', async () => {
    await assert.rejects(openGeoResolver(new URL(import.meta.url).pathname), (e: unknown) => e instanceof ConfigError && e.field === 'EDGEPROXY_GEOIP_PATH')
  })

  test('both record shapes are read: MaxMind GeoLite2/GeoIP2 and ip-location-db', () => {
    assert.equal(countryOfRecord({country: {iso_code: 'DE'}, registered_country: {iso_code: 'NL'}}), 'DE')
    assert.equal(countryOfRecord({registered_country: {iso_code: 'NL'}}), 'NL', 'anonymous proxies and satellite ranges only carry the registered country')
    assert.equal(countryOfRecord({country_code: 'br'}), 'BR')
    assert.equal(countryOfRecord({country_code: 'EU1'}), null)
    assert.equal(countryOfRecord(null), null)
  })
})
