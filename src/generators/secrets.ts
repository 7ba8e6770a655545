// The cluster's secrets file: WireGuard private keys per POP, the Corrosion bearer token, the
// Auto-Discovery API token, the read-only metrics token for Prometheus, and the generated state that must never change (the 6PN network and
// POP ids). Existing values are always reused, so regenerated configs stay byte-identical; only
// missing ones are made. It never prints a secret; the writer sets mode 0600.
import crypto from 'node:crypto'
import fs from 'node:fs'

import {parseSixpnNetwork, resolveSixpnState, sixpnStateProblems, type SixpnNetworkRequest, type SixpnState} from '../sixpn/address-plan.js'
import {formatPrefix} from '../sixpn/ipv6.js'
import {GeneratorInputError, SecretsFileError} from './errors.js'
import {decodeWireguardKey, generateWireguardPrivateKey} from './wireguard-keys.js'

export const SECRETS_FORMAT = 'edgeproxy-secrets/v1'
export const SECRETS_FILE_NAME = 'secrets.json'

export interface ClusterSecrets {
  cluster: string
  corrosionToken: string
  apiToken: string
  /** EDGEPROXY_METRICS_TOKEN of every POP: lets Prometheus read /metrics and nothing else. Absent in files written before it existed (made then). */
  metricsToken?: string
  /** POP name → base64 private key. */
  wireguardPrivateKeys: Record<string, string>
  /** The 6PN plan (`ipv6_network`, `pop_ids`); absent in files written before 6PN existed. */
  sixpn?: SixpnState
}

/** Bearer tokens: printable, no spaces or quotes (they go into TOML, env files and headers). */
const TOKEN_PATTERN = /^[A-Za-z0-9._~+/=-]{16,512}$/

export function isValidToken(token: string): boolean {
  return TOKEN_PATTERN.test(token)
}

/** 32 random bytes, base64url: 43 characters, 256 bits. */
export function generateToken(): string {
  return crypto.randomBytes(32).toString('base64url')
}

export function parseSecretsJson(text: string, file: string): ClusterSecrets {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    throw new SecretsFileError(file, `is not valid JSON: ${(error as Error).message}`, {cause: error})
  }
  const bad = (reason: string) => new SecretsFileError(file, reason)
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw bad('must hold a JSON object')
  const d = data as Record<string, unknown>
  if (d.format !== SECRETS_FORMAT) throw bad(`has format ${JSON.stringify(d.format)}, expected ${JSON.stringify(SECRETS_FORMAT)}`)
  if (typeof d.cluster !== 'string' || d.cluster === '') throw bad('has no "cluster"')
  for (const key of ['corrosion_token', 'api_token']) {
    if (typeof d[key] !== 'string' || !isValidToken(d[key] as string)) throw bad(`"${key}" is not a token (16-512 of A-Z a-z 0-9 . _ ~ + / = -)`)
  }
  if (d.metrics_token !== undefined && (typeof d.metrics_token !== 'string' || !isValidToken(d.metrics_token))) throw bad('"metrics_token" is not a token (16-512 of A-Z a-z 0-9 . _ ~ + / = -)')
  const keys = d.wireguard_private_keys ?? {}
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) throw bad('"wireguard_private_keys" must be an object of POP name → key')
  const wireguardPrivateKeys: Record<string, string> = {}
  for (const [pop, key] of Object.entries(keys as Record<string, unknown>)) {
    try {
      if (typeof key !== 'string') throw new Error('not a string')
      decodeWireguardKey(key)
    } catch (error) {
      throw bad(`"wireguard_private_keys.${pop}" is ${(error as Error).message}`)
    }
    wireguardPrivateKeys[pop] = key as string
  }
  let sixpn: SixpnState | undefined
  if (d.ipv6_network !== undefined || d.pop_ids !== undefined) {
    const ids = d.pop_ids ?? {}
    if (typeof ids !== 'object' || ids === null || Array.isArray(ids)) throw bad('"pop_ids" must be an object of POP name → 6PN id')
    const problems = sixpnStateProblems({network: d.ipv6_network, popIds: ids as Record<string, unknown>})
    if (problems.length > 0) throw bad(problems[0]!)
    sixpn = {network: formatPrefix(parseSixpnNetwork(d.ipv6_network as string)), popIds: {...(ids as Record<string, number>)}}
  }
  return {
    cluster: d.cluster,
    corrosionToken: d.corrosion_token as string,
    apiToken: d.api_token as string,
    ...(typeof d.metrics_token === 'string' ? {metricsToken: d.metrics_token} : {}),
    wireguardPrivateKeys,
    ...(sixpn ? {sixpn} : {}),
  }
}

function sortedRecord<T>(record: Readonly<Record<string, T>>): Record<string, T> {
  const out: Record<string, T> = {}
  for (const key of Object.keys(record).sort()) out[key] = record[key]!
  return out
}

/** The file's content: keys sorted, so the same secrets always give the same bytes. */
export function renderSecretsJson(secrets: ClusterSecrets): string {
  const keys = sortedRecord(secrets.wireguardPrivateKeys)
  return (
    JSON.stringify(
      {
        format: SECRETS_FORMAT,
        cluster: secrets.cluster,
        corrosion_token: secrets.corrosionToken,
        api_token: secrets.apiToken,
        ...(secrets.metricsToken ? {metrics_token: secrets.metricsToken} : {}),
        wireguard_private_keys: keys,
        ...(secrets.sixpn ? {ipv6_network: secrets.sixpn.network, pop_ids: sortedRecord(secrets.sixpn.popIds)} : {}),
      },
      null,
      2,
    ) + '\n'
  )
}

/** Reads the secrets file; undefined when it does not exist yet. */
export function readSecretsFile(file: string): ClusterSecrets | undefined {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new SecretsFileError(file, `cannot be read: ${(error as Error).message}`, {cause: error})
  }
  return parseSecretsJson(text, file)
}

export interface SecretsRequest {
  cluster: string
  /** POPs that need a WireGuard key; keys of other POPs are kept untouched. */
  popNames?: readonly string[]
  /** Given by flag: replaces the stored value. */
  corrosionToken?: {value: string; flag: string}
  apiToken?: {value: string; flag: string}
  /** The 6PN network the topology asks for; ids are made for `popNames`. Absent: the stored plan is kept as is. */
  sixpn?: SixpnNetworkRequest
  /** Makes a new ULA /48 (default: RFC 4193 from the clock and random bits). */
  generateUla?: () => string
}

export interface SecretsResolution {
  secrets: ClusterSecrets
  /** What had to be made, e.g. `corrosion_token`, `wireguard_private_keys.sa`. Never the values. */
  created: string[]
  /** What a flag replaced. */
  replaced: string[]
  isChanged: boolean
  /** E.g. a secrets file other users can read. */
  warnings: string[]
}

/** Reuses what `existing` holds, takes flag overrides, and makes whatever is still missing. */
export function resolveClusterSecrets(existing: ClusterSecrets | undefined, request: SecretsRequest, file: string): SecretsResolution {
  if (existing && existing.cluster !== request.cluster) {
    throw new SecretsFileError(file, `belongs to cluster ${JSON.stringify(existing.cluster)}, not ${JSON.stringify(request.cluster)}`, {
      suggestion: 'point --secrets at the file of this cluster (or a new path to start a new one)',
    })
  }
  const created: string[] = []
  const replaced: string[] = []
  const token = (stored: string | undefined, override: SecretsRequest['corrosionToken'], name: string): string => {
    if (override) {
      if (!isValidToken(override.value)) {
        throw new GeneratorInputError(override.flag, `${override.flag} is not a usable token (16-512 of A-Z a-z 0-9 . _ ~ + / = -)`, `pass ${override.flag} a longer token without spaces or quotes, or leave it out to generate one`)
      }
      if (stored !== undefined && stored !== override.value) replaced.push(name)
      if (stored === undefined) created.push(name)
      return override.value
    }
    if (stored !== undefined) return stored
    created.push(name)
    return generateToken()
  }
  const secrets: ClusterSecrets = {
    cluster: request.cluster,
    corrosionToken: token(existing?.corrosionToken, request.corrosionToken, 'corrosion_token'),
    apiToken: token(existing?.apiToken, request.apiToken, 'api_token'),
    metricsToken: token(existing?.metricsToken, undefined, 'metrics_token'),
    wireguardPrivateKeys: {...(existing?.wireguardPrivateKeys ?? {})},
  }
  for (const pop of [...(request.popNames ?? [])].sort()) {
    if (secrets.wireguardPrivateKeys[pop] !== undefined) continue
    secrets.wireguardPrivateKeys[pop] = generateWireguardPrivateKey()
    created.push(`wireguard_private_keys.${pop}`)
  }
  if (request.sixpn !== undefined) {
    const sixpn = resolveSixpnState(existing?.sixpn, {network: request.sixpn, popNames: request.popNames ?? []}, request.generateUla)
    secrets.sixpn = sixpn.state
    created.push(...sixpn.created)
    replaced.push(...sixpn.replaced)
  } else if (existing?.sixpn) {
    secrets.sixpn = existing.sixpn
  }
  return {secrets, created, replaced, isChanged: existing === undefined || created.length > 0 || replaced.length > 0, warnings: []}
}
