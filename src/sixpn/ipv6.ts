// IPv6 text ⇄ 128-bit integers, and CIDR prefixes of either family with containment and overlap:
// the arithmetic under the 6PN address plan. Pure; it knows nothing of POPs or topology files.
// The literals themselves are parsed by src/net/address.ts (one dotted-quad and one IPv6 parser).
// Functions that parse return undefined (or throw a plain Error with the reason); callers add keys.
import {ipv4ToNumber, ipv6Groups} from '../net/address.js'

export type IpFamily = 4 | 6

/** A CIDR prefix of either family; `address` has no bits set past `length`. */
export interface IpPrefix {
  family: IpFamily
  address: bigint
  length: number
}

const BITS: Record<IpFamily, number> = {4: 32, 6: 128}

/** `fd12::1` → 128-bit integer; undefined for anything that is not an IPv6 literal (zone ids too). */
export function parseIpv6(text: string): bigint | undefined {
  if (text.includes('%')) return undefined
  const groups = ipv6Groups(text)
  if (groups === null) return undefined
  let value = 0n
  for (const group of groups) value = (value << 16n) | BigInt(group)
  return value
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (≥ 2) of zero groups as `::`. */
export function formatIpv6(value: bigint): string {
  const groups = Array.from({length: 8}, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn))
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

function parseIpv4(text: string): bigint | undefined {
  const value = ipv4ToNumber(text)
  return value === undefined ? undefined : BigInt(value)
}

function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.')
}

export function formatAddress(family: IpFamily, value: bigint): string {
  return family === 4 ? formatIpv4(value) : formatIpv6(value)
}

function mask(family: IpFamily, length: number): bigint {
  const bits = BITS[family]
  return ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - length)) - 1n)
}

/** `addr/len` of either family. Throws a plain Error naming the text; host bits set is an error. */
export function parsePrefix(text: string): IpPrefix {
  const slash = text.indexOf('/')
  const addressText = slash < 0 ? text : text.slice(0, slash)
  const lengthText = slash < 0 ? '' : text.slice(slash + 1)
  const v6 = parseIpv6(addressText)
  const family: IpFamily | undefined = v6 !== undefined ? 6 : parseIpv4(addressText) !== undefined ? 4 : undefined
  if (family === undefined || !/^\d{1,3}$/.test(lengthText) || Number(lengthText) > BITS[family]) {
    throw new Error(`${JSON.stringify(text)} is not an address prefix in CIDR form (for example fd12:3456:789a::/48 or 10.50.0.0/16)`)
  }
  const address = family === 6 ? v6! : parseIpv4(addressText)!
  const length = Number(lengthText)
  const base = address & mask(family, length)
  if (base !== address) throw new Error(`${JSON.stringify(text)} has bits set past /${length}; the prefix is ${formatPrefix({family, address: base, length})}`)
  return {family, address, length}
}

export function formatPrefix(prefix: IpPrefix): string {
  return `${formatAddress(prefix.family, prefix.address)}/${prefix.length}`
}

/** Whether `address` (same family) lies inside `prefix`. */
export function prefixContains(prefix: IpPrefix, family: IpFamily, address: bigint): boolean {
  return prefix.family === family && (address & mask(family, prefix.length)) === prefix.address
}

/** Two prefixes overlap when the shorter one contains the other's network address. */
export function prefixesOverlap(a: IpPrefix, b: IpPrefix): boolean {
  if (a.family !== b.family) return false
  const [wide, narrow] = a.length <= b.length ? [a, b] : [b, a]
  return prefixContains(wide, narrow.family, narrow.address)
}

export interface PrefixOverlap<T> {
  first: T
  second: T
}

/**
 * Every pair of entries whose prefixes overlap, in input order (the second entry is the one to
 * blame). O(n²), fine for the tens of peers of a mesh.
 */
export function findPrefixOverlaps<T extends {prefix: IpPrefix}>(entries: readonly T[]): PrefixOverlap<T>[] {
  const overlaps: PrefixOverlap<T>[] = []
  for (let j = 1; j < entries.length; j++) {
    for (let i = 0; i < j; i++) if (prefixesOverlap(entries[i]!.prefix, entries[j]!.prefix)) overlaps.push({first: entries[i]!, second: entries[j]!})
  }
  return overlaps
}
