// The 6PN address plan of a cluster: one ULA /48, a stored 16-bit id per POP, and every address
// derived from those two (the POP's /64, its WireGuard ::1, its DNS ::3, backend addresses). Pure:
// the state is read and written by the secrets file code, the flags by the commands.
import crypto from 'node:crypto'

import {formatIpv6, formatPrefix, parsePrefix, type IpPrefix} from './ipv6.js'
import {generateUlaPrefix} from './ula.js'

/** Ids 1-65535; 0 is kept back for cluster-wide addresses (`P::/64`), as Fly keeps `fdaa:0:…::3`. */
export const POP_ID_RANGE = {min: 1, max: 0xffff} as const
/** Largest instance number of a backend address: the low 48 bits of the interface id. */
export const MAX_INSTANCE = 2 ** 48 - 1
/** Interface ids of the POP itself inside its /64. */
export const POP_WIREGUARD_HOST = 1n
export const POP_DNS_HOST = 3n

/** What is stored (in the secrets file) so that every later run derives the same addresses. */
export interface SixpnState {
  /** Canonical `fdXX:XXXX:XXXX::/48`. */
  network: string
  /** POP name → id; ids of POPs no longer in the topology stay, so they are never handed out again. */
  popIds: Record<string, number>
}

/** What the topology asks for: a fresh ULA once, or this prefix. */
export type SixpnNetworkRequest = 'auto' | {prefix: string}

/**
 * Parses an operator's `ipv6_network`: an RFC 4193 prefix (fd00::/8, the L bit set) of exactly /48.
 * Throws a plain Error whose message quotes the value and says what to write instead.
 */
export function parseSixpnNetwork(text: string): IpPrefix {
  const prefix = parsePrefix(text.trim())
  if (prefix.family !== 6) throw new Error(`${JSON.stringify(text)} is an IPv4 prefix; 6PN needs an IPv6 unique local /48 such as fd12:3456:789a::/48, or auto`)
  if (prefix.address >> 120n !== 0xfdn) {
    const why = prefix.address >> 121n === 0x7en ? 'fc00::/8 is reserved by RFC 4193 (L bit 0)' : 'it is not a unique local address'
    throw new Error(`${JSON.stringify(text)} is outside fd00::/8 (${why}); use a /48 inside fd00::/8 such as fd12:3456:789a::/48, or auto to generate one`)
  }
  if (prefix.length !== 48) {
    throw new Error(`${JSON.stringify(text)} is a /${prefix.length}; 6PN needs exactly a /48 (16 bits of POP id, then a /64 per POP), or auto`)
  }
  return prefix
}

function popIdFree(taken: ReadonlySet<number>): number | undefined {
  for (let id = POP_ID_RANGE.min; id <= POP_ID_RANGE.max; id++) if (!taken.has(id)) return id
  return undefined
}

/**
 * Keeps every stored id and gives each POP without one the lowest free id, POPs taken in name
 * order. Stored ids are never changed, and the ids of POPs that left stay reserved.
 */
export function allocatePopIds(names: readonly string[], stored: Readonly<Record<string, number>>): {popIds: Record<string, number>; created: string[]} {
  const popIds: Record<string, number> = {...stored}
  const taken = new Set(Object.values(stored))
  const created: string[] = []
  for (const name of [...new Set(names)].sort()) {
    if (popIds[name] !== undefined) continue
    const id = popIdFree(taken)
    if (id === undefined) throw new RangeError(`no free 6PN POP id for ${name}: all ${POP_ID_RANGE.max} are taken`)
    popIds[name] = id
    taken.add(id)
    created.push(name)
  }
  return {popIds, created}
}

export interface SixpnResolution {
  state: SixpnState
  /** Names of what was made: `ipv6_network`, `pop_ids.<pop>`. */
  created: string[]
  /** `ipv6_network` when an explicit prefix replaced a stored one. */
  replaced: string[]
}

/**
 * The state for this run: the stored network (or the requested one, or a new ULA) and ids for
 * every POP in `popNames`. `generate` is called only when a new ULA is needed.
 */
export function resolveSixpnState(
  stored: SixpnState | undefined,
  request: {network: SixpnNetworkRequest; popNames: readonly string[]},
  generate: () => string = generateUlaPrefix,
): SixpnResolution {
  const created: string[] = []
  const replaced: string[] = []
  let network: string
  if (request.network === 'auto') {
    if (stored) network = stored.network
    else {
      network = formatPrefix(parseSixpnNetwork(generate()))
      created.push('ipv6_network')
    }
  } else {
    network = formatPrefix(parseSixpnNetwork(request.network.prefix))
    if (!stored) created.push('ipv6_network')
    else if (stored.network !== network) replaced.push('ipv6_network')
  }
  const ids = allocatePopIds(request.popNames, stored?.popIds ?? {})
  created.push(...ids.created.map((name) => `pop_ids.${name}`))
  return {state: {network, popIds: ids.popIds}, created, replaced}
}

/** Problems of a stored state (duplicate or out-of-range ids, a bad network), each naming its key. */
export function sixpnStateProblems(state: {network: unknown; popIds: Record<string, unknown>}): string[] {
  const problems: string[] = []
  if (typeof state.network !== 'string') problems.push('"ipv6_network" must be a string such as "fd12:3456:789a::/48"')
  else {
    try {
      parseSixpnNetwork(state.network)
    } catch (error) {
      problems.push(`"ipv6_network" ${(error as Error).message}`)
    }
  }
  const owner = new Map<number, string>()
  for (const [pop, id] of Object.entries(state.popIds)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < POP_ID_RANGE.min || id > POP_ID_RANGE.max) {
      problems.push(`"pop_ids.${pop}" is ${JSON.stringify(id)}, not a POP id (a whole number ${POP_ID_RANGE.min}-${POP_ID_RANGE.max})`)
      continue
    }
    const first = owner.get(id)
    if (first !== undefined) problems.push(`"pop_ids.${pop}" is ${id}, already the id of POP ${JSON.stringify(first)}; ids must be unique`)
    else owner.set(id, pop)
  }
  return problems
}

/** Every address 6PN gives one POP. */
export interface PopAddresses {
  pop: string
  popId: number
  /** The cluster's /48. */
  network: string
  /** `P:<id>::/64`, routed to this POP by every other one. */
  subnet: string
  /** `P:<id>::1`, on the WireGuard interface as a /128. */
  wireguardAddress: string
  /** `P:<id>::3`, where the POP's internal DNS listens (Fly's `::3` convention). */
  dnsAddress: string
}

function subnetBase(state: SixpnState, pop: string): {network: IpPrefix; popId: number; base: bigint} {
  const network = parseSixpnNetwork(state.network)
  const popId = state.popIds[pop]
  if (popId === undefined) throw new RangeError(`POP ${JSON.stringify(pop)} has no 6PN id`)
  return {network, popId, base: network.address | (BigInt(popId) << 64n)}
}

export function popAddresses(state: SixpnState, pop: string): PopAddresses {
  const {popId, base} = subnetBase(state, pop)
  return {
    pop,
    popId,
    network: state.network,
    subnet: formatPrefix({family: 6, address: base, length: 64}),
    wireguardAddress: formatIpv6(base | POP_WIREGUARD_HOST),
    dnsAddress: formatIpv6(base | POP_DNS_HOST),
  }
}

/**
 * 16 bits naming an app inside a POP's /64: 1 + (the first 32 bits of SHA-256(app) mod 65535),
 * so never 0, which keeps `P:<id>:0:…` (the POP's own ::1, ::3) apart from every backend.
 */
export function appHash16(app: string): number {
  const digest = crypto.createHash('sha256').update(app, 'utf8').digest()
  return 1 + (digest.readUInt32BE(0) % 0xffff)
}

/** `P:<pop_id>:<app_hash16>:<instance48>`: a backend address derived from the stored plan. */
export function backendAddress(state: SixpnState, pop: string, app: string, instance: number): string {
  if (!Number.isSafeInteger(instance) || instance < 0 || instance > MAX_INSTANCE) throw new RangeError(`instance ${instance} is not 0-${MAX_INSTANCE}`)
  const {base} = subnetBase(state, pop)
  return formatIpv6(base | (BigInt(appHash16(app)) << 48n) | BigInt(instance))
}
