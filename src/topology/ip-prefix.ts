// IPv4 and IPv6 prefixes as BGP announces them: parsing with host bits refused, canonical text and
// "does this prefix cover that address". Pure functions; each throws a plain Error with the reason,
// the caller adds the file and key path.
import net from 'node:net'

import {ipv4ToInt, ipv6Groups, numberToIpv4} from '../net/address.js'

export type IpFamily = 4 | 6

export interface IpPrefix {
  family: IpFamily
  /** Canonical network address: `198.51.100.0`, `2001:db8:100::`. */
  address: string
  length: number
  /** `198.51.100.0/24`, `2001:db8:100::/48` */
  text: string
}

export interface IpHost {
  family: IpFamily
  /** Canonical text, IPv6 compressed and lower case. */
  address: string
}

/** IPv4 as one 32-bit word, IPv6 as eight 16-bit groups: the bits prefixes compare. */
function words(family: IpFamily, address: string): number[] {
  return family === 4 ? [ipv4ToInt(address)] : ipv6Groups(address)!
}

function canonicalIpv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1)
}

function wordsToText(family: IpFamily, parts: readonly number[]): string {
  if (family === 4) return numberToIpv4(parts[0]!)
  return canonicalIpv6(parts.map((g) => g.toString(16)).join(':'))
}

/** Keeps the first `length` bits of `parts`. */
function mask(family: IpFamily, parts: readonly number[], length: number): number[] {
  const width = family === 4 ? 32 : 16
  let bits = length
  return parts.map((word) => {
    const take = Math.max(0, Math.min(width, bits))
    bits -= width
    if (take === width) return word
    if (take === 0) return 0
    return family === 4 ? (word - (word % 2 ** (32 - take))) >>> 0 : word & ((0xffff << (16 - take)) & 0xffff)
  })
}

/** An IPv6 text that carries an IPv4 address: dotted (`::ffff:198.51.100.10`) or IPv4-mapped hex. */
function isIpv4InIpv6(address: string, parts: readonly number[]): boolean {
  return address.includes('.') || (parts.slice(0, 5).every((g) => g === 0) && parts[5] === 0xffff)
}

/** A single address: `198.51.100.10`, `2001:db8:100::10` (a `/32` or `/128` suffix is accepted). */
export function parseIpHost(text: string): IpHost {
  const slash = text.indexOf('/')
  const address = slash < 0 ? text : text.slice(0, slash)
  const family = net.isIP(address) as 0 | IpFamily
  if (family === 0) throw new Error(`"${text}" is not an IPv4 or IPv6 address`)
  const full = family === 4 ? 32 : 128
  if (slash >= 0 && text.slice(slash + 1) !== String(full)) {
    throw new Error(`"${text}" is a network; give the single address (${address}); the prefixes BGP announces are listed apart`)
  }
  if (family === 6) {
    const parts = ipv6Groups(address)!
    if (isIpv4InIpv6(address, parts)) throw new Error(`"${text}" is an IPv4 address written as IPv6; write the IPv4 address itself`)
    return {family, address: canonicalIpv6(address)}
  }
  return {family, address}
}

/** `198.51.100.0/24`, `2001:db8:100::/48`: the length is required and host bits must be zero. */
export function parseIpPrefix(text: string): IpPrefix {
  const slash = text.indexOf('/')
  const address = slash < 0 ? text : text.slice(0, slash)
  const family = net.isIP(address) as 0 | IpFamily
  if (family === 0) throw new Error(`"${text}" is not an IPv4 or IPv6 prefix such as 198.51.100.0/24 or 2001:db8:100::/48`)
  const full = family === 4 ? 32 : 128
  if (slash < 0) throw new Error(`"${text}" has no prefix length; write it as ${address}/${full === 32 ? 24 : 48} or whatever length you announce`)
  const lengthText = text.slice(slash + 1)
  if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > full) throw new Error(`"${text}" has an invalid prefix length (0-${full} for IPv${family})`)
  const length = Number(lengthText)
  const parts = words(family, address)
  if (family === 6 && isIpv4InIpv6(address, parts)) {
    throw new Error(`"${text}" is an IPv4 prefix written as IPv6 (IPv4-mapped); write the IPv4 prefix itself`)
  }
  const network = mask(family, parts, length)
  if (network.some((w, i) => w !== parts[i])) {
    throw new Error(`"${text}" has host bits set; the prefix is ${wordsToText(family, network)}/${length}`)
  }
  const canonical = wordsToText(family, network)
  return {family, address: canonical, length, text: `${canonical}/${length}`}
}

/** Whether `prefix` covers `address` (false across families). */
export function prefixContains(prefix: IpPrefix, address: string): boolean {
  const family = net.isIP(address) as 0 | IpFamily
  if (family !== prefix.family) return false
  const parts = mask(prefix.family, words(prefix.family, address), prefix.length)
  const base = words(prefix.family, prefix.address)
  return parts.every((w, i) => w === base[i])
}

/** Whether `outer` covers all of `inner` (same family, shorter or equal length, same leading bits). */
export function prefixCovers(outer: IpPrefix, inner: IpPrefix): boolean {
  return outer.family === inner.family && outer.length <= inner.length && prefixContains(outer, inner.address)
}
