// Address literals: listen addresses (`host:port`, `[v6]:port`), client IP normalisation and CIDR
// lists. Pure parsing; throws a plain Error with the reason, callers wrap it with the setting's name.
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

const PRIVATE = new net.BlockList()
for (const [prefix, bits] of [
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
] as const) PRIVATE.addSubnet(prefix, bits, 'ipv4')
for (const [prefix, bits] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
] as const) PRIVATE.addSubnet(prefix, bits, 'ipv6')

/** Private, loopback, link-local, documentation and multicast addresses: they have no country. */
export function isNonPublicAddress(ip: string): boolean {
  const family = net.isIP(ip)
  if (family === 0) return true
  return PRIVATE.check(ip, family === 4 ? 'ipv4' : 'ipv6')
}

export interface CidrList {
  readonly text: string
  contains(ip: string): boolean
}

/** A comma-separated list of CIDR blocks or single addresses: `127.0.0.1/32,::1/128,10.0.0.0/8`. */
export function parseCidrList(value: string): CidrList {
  const list = new net.BlockList()
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
    list.addSubnet(address, Number(bitsText), family === 4 ? 'ipv4' : 'ipv6')
  }
  return {
    text: entries.join(','),
    contains(ip: string): boolean {
      const normalized = normalizeIp(ip)
      const family = net.isIP(normalized)
      if (family === 0) return false
      return list.check(normalized, family === 4 ? 'ipv4' : 'ipv6')
    },
  }
}
