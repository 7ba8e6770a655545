// Address literals and IPv4 arithmetic, the one module for both: listen addresses (`host:port`,
// `[v6]:port`), client IP normalisation, CIDR lists, and the topology's IPv4 networks, host and
// public addresses. Pure parsing; throws a plain Error with the reason, callers wrap it with the
// setting's or the file key's name.
import net from 'node:net'

export interface HostPort {
  host: string
  port: number
}

/** Parses `0.0.0.0:8080`, `[::]:8080`, `localhost:0`. Port 0 asks the OS for a free port. */
export function parseHostPort(value: string): HostPort {
  const text = value.trim()
  let host: string
  let portText: string
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0 || text[close + 1] !== ':') throw new Error('expected [IPv6]:port, for example [::]:8080')
    host = text.slice(1, close)
    portText = text.slice(close + 2)
    if (net.isIPv6(host) === false) throw new Error(`"${host}" is not an IPv6 address`)
  } else {
    const colon = text.lastIndexOf(':')
    if (colon <= 0) throw new Error('expected host:port, for example 0.0.0.0:8080')
    host = text.slice(0, colon)
    portText = text.slice(colon + 1)
    if (host.includes(':')) throw new Error('an IPv6 address needs brackets, for example [::]:8080')
  }
  return {host, port: parsePort(portText, true)}
}

/** A TCP port 1-65535 (0 too when `allowZero`, meaning "any free port"). */
export function parsePort(text: string, allowZero = false): number {
  if (!/^\d{1,5}$/.test(text.trim())) throw new Error(`port "${text}" is not a number`)
  const port = Number(text)
  const min = allowZero ? 0 : 1
  if (port < min || port > 65_535) throw new Error(`port ${port} is out of range ${min}-65535`)
  return port
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack listener) becomes `1.2.3.4`. */
export function normalizeIp(address: string): string {
  if (address.length > 7 && address.startsWith('::ffff:') && address.includes('.')) return address.slice(7)
  return address
}

export function isLoopbackAddress(host: string): boolean {
  const ip = normalizeIp(host)
  if (host === 'localhost') return true
  if (net.isIPv4(ip)) return ip.startsWith('127.')
  return ip === '::1'
}

// Hand-written matching instead of net.BlockList: BlockList.check costs about 2 µs a call, and
// these run on every new connection.

/** IPv4 dotted quad → unsigned 32-bit integer, or -1 when it is not one. */
export function ipv4ToInt(ip: string): number {
  let value = 0
  let octet = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1
      value = value * 256 + octet
      octet = 0
      digits = 0
    } else if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + (c - 48)
      digits++
      if (octet > 255) return -1
    } else return -1
  }
  if (dots !== 3 || digits === 0) return -1
  return value * 256 + octet
}

/** IPv6 text → eight 16-bit groups, or null when it is not an IPv6 literal (embedded IPv4 allowed). */
export function ipv6Groups(ip: string): number[] | null {
  if (!net.isIPv6(ip)) return null
  let text = ip
  const zone = text.indexOf('%')
  if (zone >= 0) text = text.slice(0, zone)
  const lastColon = text.lastIndexOf(':')
  const last = text.slice(lastColon + 1)
  if (last.includes('.')) {
    const v4 = ipv4ToInt(last)
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`
  }
  const double = text.indexOf('::')
  const split = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)))
  const head = split(double < 0 ? text : text.slice(0, double))
  const back = double < 0 ? [] : split(text.slice(double + 2))
  const fill = 8 - head.length - back.length
  if (double < 0 ? fill !== 0 : fill < 0) return null
  return [...head, ...new Array<number>(double < 0 ? 0 : fill).fill(0), ...back]
}

interface Range {
  family: 4 | 6
  /** IPv4: [value]; IPv6: eight groups. */
  words: number[]
  bits: number
}

function inRange(range: Range, words: number[]): boolean {
  let bits = range.bits
  if (range.family === 4) {
    if (bits === 0) return true
    const mask = bits === 32 ? 0xffffffff : (~0 << (32 - bits)) >>> 0
    return ((words[0] & mask) >>> 0) === ((range.words[0] & mask) >>> 0)
  }
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const take = Math.min(16, bits)
    const mask = (0xffff << (16 - take)) & 0xffff
    if ((words[i] & mask) !== (range.words[i] & mask)) return false
  }
  return true
}

function parseRange(address: string, bits: number): Range {
  const v4 = ipv4ToInt(address)
  if (v4 >= 0) return {family: 4, words: [v4], bits}
  return {family: 6, words: ipv6Groups(address)!, bits}
}

function matches(ranges: readonly Range[], ip: string): boolean {
  const v4 = ipv4ToInt(ip)
  if (v4 >= 0) {
    const words = [v4]
    for (const r of ranges) if (r.family === 4 && inRange(r, words)) return true
    return false
  }
  const groups = ipv6Groups(ip)
  if (groups === null) return false
  for (const r of ranges) if (r.family === 6 && inRange(r, groups)) return true
  return false
}

const PRIVATE: readonly Range[] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 3],
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
].map(([a, b]) => parseRange(a as string, b as number))

/** Private, loopback, link-local, documentation and multicast addresses: they have no country. */
export function isNonPublicAddress(ip: string): boolean {
  if (ipv4ToInt(ip) < 0 && !net.isIPv6(ip)) return true
  return matches(PRIVATE, ip)
}

export interface CidrList {
  readonly text: string
  contains(ip: string): boolean
}

/** A comma-separated list of CIDR blocks or single addresses: `127.0.0.1/32,::1/128,10.0.0.0/8`. */
export function parseCidrList(value: string): CidrList {
  const ranges: Range[] = []
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  for (const entry of entries) {
    const slash = entry.indexOf('/')
    const address = slash < 0 ? entry : entry.slice(0, slash)
    const family = net.isIP(address)
    if (family === 0) throw new Error(`"${entry}" is not an IP address or CIDR block`)
    const max = family === 4 ? 32 : 128
    const bitsText = slash < 0 ? String(max) : entry.slice(slash + 1)
    if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) {
      throw new Error(`"${entry}" has an invalid prefix length (0-${max})`)
    }
    ranges.push(parseRange(address, Number(bitsText)))
  }
  return {
    text: entries.join(','),
    contains: (ip: string) => matches(ranges, normalizeIp(ip)),
  }
}

// ---- IPv4 networks and POP addresses (topology files, the wizard) ------------------------------

export interface Ipv4Network {
  /** The network address, e.g. `10.50.0.0`. */
  address: string
  prefix: number
  /** `10.50.0.0/16` */
  text: string
}

/** `10.50.1.1` → 0x0a320101; undefined when the text is not a dotted-quad IPv4 address (strict: no leading zeros). */
export function ipv4ToNumber(text: string): number | undefined {
  return net.isIPv4(text) ? ipv4ToInt(text) : undefined
}

export function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.')
}

function networkMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff - (2 ** (32 - prefix) - 1)) >>> 0
}

/** `10.50.0.0/16`; host bits must be zero and the prefix 8-30, so there is room for hosts. */
export function parseIpv4Network(text: string): Ipv4Network {
  const slash = text.indexOf('/')
  if (slash < 0) throw new Error(`"${text}" is not an IPv4 network in CIDR form, for example 10.50.0.0/16`)
  const address = text.slice(0, slash)
  const prefixText = text.slice(slash + 1)
  const value = ipv4ToNumber(address)
  if (value === undefined || !/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) {
    throw new Error(`"${text}" is not an IPv4 network in CIDR form, for example 10.50.0.0/16`)
  }
  const prefix = Number(prefixText)
  if (prefix < 8 || prefix > 30) throw new Error(`"${text}" has prefix /${prefix}; use /8 to /30 so the POPs fit and have host addresses`)
  const base = (value & networkMask(prefix)) >>> 0
  if (base !== value) throw new Error(`"${text}" has host bits set; the network is ${numberToIpv4(base)}/${prefix}`)
  return {address, prefix, text: `${address}/${prefix}`}
}

/** Network and broadcast addresses of `network` (they cannot be given to an interface). */
export function isReservedInNetwork(ip: string, network: Ipv4Network): boolean {
  const value = ipv4ToNumber(ip)
  const base = ipv4ToNumber(network.address)
  if (value === undefined || base === undefined) return false
  const broadcast = base + 2 ** (32 - network.prefix) - 1
  return value === base || value === broadcast
}

export function ipv4InNetwork(ip: string, network: Ipv4Network): boolean {
  const value = ipv4ToNumber(ip)
  const base = ipv4ToNumber(network.address)
  if (value === undefined || base === undefined) return false
  return ((value & networkMask(network.prefix)) >>> 0) === base
}

/**
 * A host address for a WireGuard interface: `10.50.1.1` or `10.50.1.1/32`. Anything else, including
 * `10.50.1.1/33` or `10.50.1.1/24`, is refused with the reason.
 */
export function parseIpv4HostAddress(text: string): string {
  const slash = text.indexOf('/')
  const address = slash < 0 ? text : text.slice(0, slash)
  const prefix = slash < 0 ? '32' : text.slice(slash + 1)
  if (!net.isIPv4(address) || !/^\d{1,2}$/.test(prefix) || Number(prefix) > 32) {
    throw new Error(`"${text}" is not an IPv4 address`)
  }
  if (prefix !== '32') {
    throw new Error(`"${text}" is a network; give this POP's single address (for example ${address}), the network comes from wireguard.network`)
  }
  return address
}

export type PublicAddressKind = 'ipv4' | 'ipv6' | 'hostname'

const HOSTNAME_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

/** IPv4, IPv6 (brackets allowed) or a DNS name, without a port; returns the canonical text. */
export function parsePublicAddress(text: string): {address: string; kind: PublicAddressKind} {
  const trimmed = text.trim()
  const unbracketed = trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed
  if (net.isIPv4(unbracketed)) {
    if (unbracketed === '0.0.0.0') throw new Error(`"${text}" is the unspecified address; give the address other POPs reach this one on`)
    return {address: unbracketed, kind: 'ipv4'}
  }
  if (net.isIPv6(unbracketed)) {
    const canonical = new URL(`http://[${unbracketed}]/`).hostname.slice(1, -1)
    if (canonical === '::') throw new Error(`"${text}" is the unspecified address; give the address other POPs reach this one on`)
    return {address: canonical, kind: 'ipv6'}
  }
  if (/:\d+$/.test(trimmed) || /^\[.*\]:\d+$/.test(trimmed)) {
    throw new Error(`"${text}" has a port; give the address alone, the port is wireguard.port`)
  }
  const name = trimmed.toLowerCase().replace(/\.$/, '')
  const labels = name.split('.')
  const isHostname =
    name.length > 0 &&
    name.length <= 253 &&
    labels.every((label) => HOSTNAME_LABEL.test(label)) &&
    !/^\d+$/.test(labels[labels.length - 1]!)
  if (!isHostname) throw new Error(`"${text}" is not an IPv4 address, an IPv6 address or a DNS name`)
  return {address: name, kind: 'hostname'}
}
