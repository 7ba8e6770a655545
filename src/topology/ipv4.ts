// IPv4 and address arithmetic the topology checks need: dotted quads to 32-bit numbers, CIDR
// networks, membership, and the canonical text of public addresses (IPv4, IPv6, DNS names).
// Pure functions; each throws a plain Error with the reason, the caller adds the file and key path.
import net from 'node:net'

export interface Ipv4Network {
  /** The network address, e.g. `10.50.0.0`. */
  address: string
  prefix: number
  /** `10.50.0.0/16` */
  text: string
}

/** `10.50.1.1` → 0x0a320101; undefined when the text is not a dotted-quad IPv4 address. */
export function ipv4ToNumber(text: string): number | undefined {
  if (!net.isIPv4(text)) return undefined
  return text.split('.').reduce((n, part) => n * 256 + Number(part), 0)
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
