// The fixed map from client country to region that the scoring uses. Any country not listed
// belongs to `us`, as in the reference design; an address with no country has no region.

export const REGIONS = ['sa', 'us', 'eu', 'ap'] as const
export type Region = (typeof REGIONS)[number]

export const REGION_COUNTRIES: Readonly<Record<Region, readonly string[]>> = {
  sa: ['BR', 'AR', 'CL', 'PE', 'CO', 'UY', 'PY', 'BO', 'EC'],
  us: ['US', 'CA', 'MX'],
  eu: ['PT', 'ES', 'FR', 'DE', 'NL', 'IT', 'GB', 'IE', 'BE', 'CH', 'AT', 'PL', 'CZ', 'SE', 'NO', 'DK', 'FI'],
  ap: ['JP', 'KR', 'TW', 'HK', 'SG', 'MY', 'TH', 'VN', 'ID', 'PH', 'AU', 'NZ'],
}

export const FALLBACK_REGION: Region = 'us'

const COUNTRY_TO_REGION = new Map<string, Region>()
for (const region of REGIONS) for (const country of REGION_COUNTRIES[region]) COUNTRY_TO_REGION.set(country, region)

/** `FR` → `eu`; unlisted countries → `us`. Expects an upper-case ISO 3166 alpha-2 code. */
export function regionForCountry(country: string): Region {
  return COUNTRY_TO_REGION.get(country) ?? FALLBACK_REGION
}

export function isRegion(value: string): value is Region {
  return (REGIONS as readonly string[]).includes(value)
}
