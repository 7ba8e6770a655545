// The `anycast:` section of a topology and each POP's `bgp:` settings: their typed shape, defaults,
// validation (every message names the key) and their file shape for the wizard's round trip. The
// main parser calls in here, so this section stays out of its way. It decides what is announced and
// to whom; how BIRD is configured and gated is src/generators' and src/anycast's business.
import {ipv4ToInt} from '../net/address.js'
import {parseIpHost, parseIpPrefix, prefixContains, type IpFamily, type IpHost, type IpPrefix} from './ip-prefix.js'

export interface AnycastCheck {
  intervalMs: number
  timeoutMs: number
  /** Consecutive good probes before a withdrawn POP announces. */
  rise: number
  /** Consecutive failed probes before an announcing POP withdraws. */
  fall: number
}

export interface AnycastTopology {
  /** This network's ASN, the origin of every announcement. */
  asn: number
  /** Bound on the dummy interface of every announcing POP; the proxy answers on them. */
  addresses: IpHost[]
  /** What BGP exports; together they cover every address. */
  announce: IpPrefix[]
  check: AnycastCheck
  /** How long `anycast drain` keeps the graceful-shutdown community on before it withdraws. */
  drainSecs: number
  /** The dummy interface that holds the addresses. */
  interface: string
}

export interface BgpPeer {
  address: string
  family: IpFamily
  asn: number
  /** TCP port of the peer's BGP speaker. */
  port: number
  /** eBGP multihop TTL; undefined = a directly connected neighbor. */
  multihop?: number
  /** Variable in the BGP passwords env file that holds this session's TCP-MD5 password. */
  passwordEnv?: string
  /** The operator says this peer strips private ASNs before passing routes on (remove-private-AS). */
  removesPrivateAs: boolean
}

export interface PopBgp {
  /** BIRD's 32-bit router ID, written as an IPv4 address. */
  routerId: string
  peers: BgpPeer[]
}

/** Defaults as the topology file spells them (the check's durations in seconds). */
export const ANYCAST_DEFAULTS = {
  check: {interval: 2, timeout: 1, rise: 3, fall: 2},
  drain_secs: 30,
  interface: 'edge-anycast',
  peer: {port: 179},
} as const

/** The subset of the topology checker this section uses (the main parser hands its own). */
export interface TopologyChecker {
  readonly problems: readonly unknown[]
  problem(path: string, message: string): undefined
  warn(path: string, message: string): void
  mapping(value: unknown, path: string, keys: readonly string[], isRequired?: boolean): Record<string, unknown> | undefined
  integer(map: Record<string, unknown>, key: string, path: string, range: {min: number; max: number; what: string}, fallback: number): number | undefined
}

const INTERFACE_PATTERN = /^[A-Za-z0-9_=+.-]{1,15}$/
const ENV_NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/
const ASN_RANGE = {min: 1, max: 4_294_967_295, what: 'an AS number'}

export type AsnKind = 'public' | 'private' | 'documentation' | 'reserved'

/** RFC 6996 private, RFC 5398 documentation, and the numbers no session may use (RFC 7607, 6793, 7300). */
export function asnKind(asn: number): AsnKind {
  if (asn === 0 || asn === 23_456 || asn === 65_535 || asn === 4_294_967_295 || (asn >= 65_552 && asn <= 131_071)) return 'reserved'
  if ((asn >= 64_512 && asn <= 65_534) || (asn >= 4_200_000_000 && asn <= 4_294_967_294)) return 'private'
  if ((asn >= 64_496 && asn <= 64_511) || (asn >= 65_536 && asn <= 65_551)) return 'documentation'
  return 'public'
}

function show(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return JSON.stringify(value)
}

const FAMILY_LONGEST = {4: 24, 6: 48} as const

/** `2s`, `500ms`, or a number of seconds → milliseconds. */
function durationMs(c: TopologyChecker, map: Record<string, unknown>, key: string, path: string, fallbackSecs: number, range: {minMs: number; maxMs: number}): number | undefined {
  const value = map[key]
  const where = `${path}.${key}`
  if (value === undefined || value === null) return fallbackSecs * 1000
  let ms: number | undefined
  if (typeof value === 'number' && Number.isFinite(value)) ms = Math.round(value * 1000)
  else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(value)
    if (m) ms = Math.round(Number(m[1]) * (m[2] === 'ms' ? 1 : 1000))
  }
  if (ms === undefined) return c.problem(where, `${show(value)} is not a duration; write it like 2s or 500ms`)
  if (ms < range.minMs || ms > range.maxMs) return c.problem(where, `${show(value)} is out of range (${range.minMs} ms to ${range.maxMs / 1000} s)`)
  return ms
}

function asn(c: TopologyChecker, map: Record<string, unknown>, key: string, path: string): number | undefined {
  if (map[key] === undefined || map[key] === null) return c.problem(`${path}.${key}`, 'is required')
  const value = c.integer(map, key, path, ASN_RANGE, 0)
  if (value === undefined) return undefined
  const kind = asnKind(value)
  if (kind === 'reserved') return c.problem(`${path}.${key}`, `${value} is a reserved AS number (0, 23456, 65535, 65552-131071 and 4294967295 cannot be used in a session)`)
  if (kind === 'documentation') c.warn(`${path}.${key}`, `${value} is a documentation AS number (RFC 5398): fine for a lab, never accepted on the internet`)
  return value
}

function list(c: TopologyChecker, value: unknown, path: string, what: string): unknown[] | undefined {
  if (value === undefined || value === null) return c.problem(path, `is required: list at least one ${what}`)
  const items = Array.isArray(value) ? value : [value]
  if (items.length === 0) return c.problem(path, `is empty: list at least one ${what}`)
  return items
}

/** The `anycast:` section; undefined when absent or wrong (problems recorded). */
export function parseAnycast(c: TopologyChecker, value: unknown): AnycastTopology | undefined {
  if (value === undefined || value === null) return undefined
  const m = c.mapping(value, 'anycast', ['asn', 'addresses', 'announce', 'check', 'drain_secs', 'interface'])
  if (!m) return undefined
  const before = problemCount(c)
  const asnValue = asn(c, m, 'asn', 'anycast')

  const announce: IpPrefix[] = []
  const announceItems = list(c, m.announce, 'anycast.announce', 'prefix')
  announceItems?.forEach((item, i) => {
    const key = `anycast.announce[${i}]`
    if (typeof item !== 'string') return c.problem(key, `${show(item)} is not a prefix such as 198.51.100.0/24`)
    let prefix: IpPrefix
    try {
      prefix = parseIpPrefix(item.trim())
    } catch (error) {
      return c.problem(key, (error as Error).message)
    }
    if (prefix.length === 0) return c.problem(key, `"${item}" is a default route; announce your own prefix, never ${prefix.text}`)
    const first = announce.findIndex((p) => p.text === prefix.text)
    if (first >= 0) return c.problem(key, `"${item}" is already anycast.announce[${first}]`)
    if (prefix.length > FAMILY_LONGEST[prefix.family]) {
      c.warn(key, `"${item}" is longer than /${FAMILY_LONGEST[prefix.family]}: most transit providers drop IPv${prefix.family} prefixes longer than that, so it may reach only your direct peers`)
    }
    announce.push(prefix)
  })

  const addresses: IpHost[] = []
  const addressItems = list(c, m.addresses, 'anycast.addresses', 'address')
  addressItems?.forEach((item, i) => {
    const key = `anycast.addresses[${i}]`
    if (typeof item !== 'string') return c.problem(key, `${show(item)} is not an IP address`)
    let host: IpHost
    try {
      host = parseIpHost(item.trim())
    } catch (error) {
      return c.problem(key, (error as Error).message)
    }
    if (addresses.some((a) => a.address === host.address)) return c.problem(key, `"${item}" is listed twice`)
    if (announceItems && announce.length === announceItems.length && !announce.some((p) => prefixContains(p, host.address))) {
      const same = announce.filter((p) => p.family === host.family).map((p) => p.text)
      return c.problem(
        key,
        same.length === 0
          ? `"${item}" is IPv${host.family} but anycast.announce has no IPv${host.family} prefix; add the prefix that covers it`
          : `"${item}" is outside every announced IPv${host.family} prefix (${same.join(', ')}); traffic to it would not come here`,
      )
    }
    addresses.push(host)
  })

  const check = c.mapping(m.check, 'anycast.check', ['interval', 'timeout', 'rise', 'fall']) ?? {}
  const d = ANYCAST_DEFAULTS.check
  const intervalMs = durationMs(c, check, 'interval', 'anycast.check', d.interval, {minMs: 100, maxMs: 3_600_000})
  const timeoutMs = durationMs(c, check, 'timeout', 'anycast.check', d.timeout, {minMs: 50, maxMs: 3_600_000})
  if (intervalMs !== undefined && timeoutMs !== undefined && timeoutMs >= intervalMs) {
    c.problem('anycast.check.timeout', `${timeoutMs / 1000} s is not shorter than anycast.check.interval (${intervalMs / 1000} s); a probe must end before the next one starts`)
  }
  const rise = c.integer(check, 'rise', 'anycast.check', {min: 1, max: 100, what: 'a probe count'}, d.rise)
  const fall = c.integer(check, 'fall', 'anycast.check', {min: 1, max: 100, what: 'a probe count'}, d.fall)
  const drainSecs = c.integer(m, 'drain_secs', 'anycast', {min: 0, max: 3600, what: 'a drain time in seconds'}, ANYCAST_DEFAULTS.drain_secs)
  let iface: string | undefined = ANYCAST_DEFAULTS.interface
  if (m.interface !== undefined && m.interface !== null) {
    iface = typeof m.interface === 'string' && INTERFACE_PATTERN.test(m.interface) ? m.interface : c.problem('anycast.interface', `${show(m.interface)} is not an interface name (1-15 of A-Z a-z 0-9 _ = + . -)`)
  }
  if (problemCount(c) > before) return undefined
  return {asn: asnValue!, addresses, announce, check: {intervalMs: intervalMs!, timeoutMs: timeoutMs!, rise: rise!, fall: fall!}, drainSecs: drainSecs!, interface: iface!}
}

function problemCount(c: TopologyChecker): number {
  return c.problems.length
}

export interface PopBgpContext {
  /** The parsed section, when it is present and valid. */
  anycast?: AnycastTopology
  /** Whether the file has an `anycast:` key at all. */
  hasAnycast: boolean
  /** The POP's public address when it is IPv4: the default router ID. */
  publicIpv4?: string
}

/** One POP's `bgp:` mapping; undefined when absent or wrong (problems recorded). */
export function parsePopBgp(c: TopologyChecker, value: unknown, path: string, context: PopBgpContext): PopBgp | undefined {
  if (value === undefined || value === null) return undefined
  const m = c.mapping(value, path, ['router_id', 'peers'])
  if (!m) return undefined
  if (!context.hasAnycast) return c.problem(path, 'needs the top-level anycast section (asn, addresses, announce): there is nothing to announce')
  const before = problemCount(c)

  let routerId: string | undefined
  if (m.router_id === undefined || m.router_id === null) {
    routerId = context.publicIpv4 ?? c.problem(`${path}.router_id`, "is required when public_address is not IPv4: BIRD's router ID is a 32-bit number written as an IPv4 address")
  } else if (typeof m.router_id !== 'string' || ipv4ToInt(m.router_id.trim()) < 0) {
    c.problem(`${path}.router_id`, `${show(m.router_id)} is not an IPv4 address; a router ID is written as one even on IPv6-only hosts`)
  } else if (ipv4ToInt(m.router_id.trim()) === 0) {
    c.problem(`${path}.router_id`, `${show(m.router_id)} is zero; use this POP's public IPv4 address or any unique non-zero one`)
  } else routerId = m.router_id.trim()

  const peers: BgpPeer[] = []
  list(c, m.peers, `${path}.peers`, 'peer')?.forEach((item, i) => {
    const key = `${path}.peers[${i}]`
    const p = c.mapping(item, key, ['address', 'asn', 'port', 'multihop', 'password_env', 'remove_private_as'], true)
    if (!p) return
    let host: IpHost | undefined
    if (typeof p.address !== 'string') c.problem(`${key}.address`, p.address === undefined ? 'is required' : `${show(p.address)} is not an IP address`)
    else {
      try {
        host = parseIpHost(p.address.trim())
      } catch (error) {
        c.problem(`${key}.address`, (error as Error).message)
      }
    }
    if (host?.family === 6 && /^fe[89ab]/i.test(host.address)) {
      c.problem(`${key}.address`, `"${host.address}" is link-local: a session to it needs an interface name; give the peer's global address`)
      host = undefined
    }
    const first = host ? peers.findIndex((q) => q.address === host!.address) : -1
    if (host && first >= 0) c.problem(`${key}.address`, `"${host.address}" is already ${path}.peers[${first}]`)
    const peerAsn = asn(c, p, 'asn', key)
    const port = c.integer(p, 'port', key, {min: 1, max: 65_535, what: 'a port'}, ANYCAST_DEFAULTS.peer.port)
    const multihop = p.multihop === undefined || p.multihop === null ? undefined : c.integer(p, 'multihop', key, {min: 1, max: 255, what: 'a TTL'}, 0)
    let passwordEnv: string | undefined
    if (p.password_env !== undefined && p.password_env !== null) {
      if (typeof p.password_env === 'string' && ENV_NAME_PATTERN.test(p.password_env)) passwordEnv = p.password_env
      else c.problem(`${key}.password_env`, `${show(p.password_env)} is not an environment variable name (A-Z, 0-9, _; starting with a letter), e.g. EDGEPROXY_BGP_PASSWORD`)
    }
    let removesPrivateAs = false
    if (p.remove_private_as !== undefined && p.remove_private_as !== null) {
      if (typeof p.remove_private_as === 'boolean') removesPrivateAs = p.remove_private_as
      else c.problem(`${key}.remove_private_as`, `${show(p.remove_private_as)} is not true or false`)
    }
    const own = context.anycast?.asn
    if (own !== undefined && peerAsn !== undefined) {
      if (peerAsn === own) {
        c.problem(`${key}.asn`, `${peerAsn} is anycast.asn: that is iBGP, and the generated config speaks eBGP to upstream peers; give the peer's own AS number`)
      } else if (asnKind(own) === 'private' && asnKind(peerAsn) === 'public' && !removesPrivateAs) {
        c.problem(
          `${key}.asn`,
          `${peerAsn} is a public AS number but anycast.asn ${own} is private: the internet drops paths with private ASNs unless this peer strips them; set ${key}.remove_private_as: true if it does (most cloud BGP services do), or use a public anycast.asn`,
        )
      } else if (asnKind(own) !== 'private' && removesPrivateAs) {
        c.warn(`${key}.remove_private_as`, `has no effect: anycast.asn ${own} is not private`)
      }
    }
    if (host && peerAsn !== undefined && port !== undefined && (p.multihop === undefined || p.multihop === null || multihop !== undefined)) {
      peers.push({
        address: host.address,
        family: host.family,
        asn: peerAsn,
        port,
        ...(multihop !== undefined ? {multihop} : {}),
        ...(passwordEnv ? {passwordEnv} : {}),
        removesPrivateAs,
      })
    }
  })
  if (problemCount(c) > before) return undefined
  return {routerId: routerId!, peers}
}

/** Checks across POPs, once every POP is parsed: who announces what, over which family. */
export function checkAnycastPops(c: TopologyChecker, anycast: AnycastTopology | undefined, pops: ReadonlyArray<{path: string; bgp?: PopBgp}>): void {
  if (!anycast) return
  const announcing = pops.filter((p) => p.bgp)
  if (announcing.length === 0) {
    c.problem('anycast', 'no POP has a bgp section, so nothing would announce the anycast prefixes; add pops[].bgp (router_id, peers)')
    return
  }
  anycast.announce.forEach((prefix, i) => {
    if (!announcing.some((p) => p.bgp!.peers.some((q) => q.family === prefix.family))) {
      c.problem(`anycast.announce[${i}]`, `"${prefix.text}" is IPv${prefix.family} but no POP has an IPv${prefix.family} BGP peer to announce it to; add one or drop the prefix`)
    }
  })
  const routerIds = new Map<string, string>()
  for (const pop of pops) {
    if (!pop.bgp) {
      c.warn(pop.path, 'has no bgp section: it never announces the anycast addresses, clients reach it only at its own address')
      continue
    }
    for (const family of [4, 6] as const) {
      const prefixes = anycast.announce.filter((p) => p.family === family)
      if (prefixes.length > 0 && !pop.bgp.peers.some((q) => q.family === family)) {
        c.warn(`${pop.path}.bgp.peers`, `has no IPv${family} peer, so ${prefixes.map((p) => p.text).join(', ')} ${prefixes.length === 1 ? 'is' : 'are'} not announced from this POP`)
      }
    }
    const first = routerIds.get(pop.bgp.routerId)
    if (first) c.warn(`${pop.path}.bgp.router_id`, `${pop.bgp.routerId} is also ${first}; give each POP its own router ID`)
    else routerIds.set(pop.bgp.routerId, `${pop.path}.bgp.router_id`)
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}

/** The section back in its file shape (every default spelled out). */
export function anycastToDocument(anycast: AnycastTopology): Record<string, unknown> {
  return {
    asn: anycast.asn,
    addresses: anycast.addresses.map((a) => a.address),
    announce: anycast.announce.map((p) => p.text),
    check: {interval: seconds(anycast.check.intervalMs), timeout: seconds(anycast.check.timeoutMs), rise: anycast.check.rise, fall: anycast.check.fall},
    drain_secs: anycast.drainSecs,
    interface: anycast.interface,
  }
}

export function popBgpToDocument(bgp: PopBgp): Record<string, unknown> {
  return {
    router_id: bgp.routerId,
    peers: bgp.peers.map((p) => ({
      address: p.address,
      asn: p.asn,
      ...(p.port !== ANYCAST_DEFAULTS.peer.port ? {port: p.port} : {}),
      ...(p.multihop !== undefined ? {multihop: p.multihop} : {}),
      ...(p.passwordEnv ? {password_env: p.passwordEnv} : {}),
      ...(p.removesPrivateAs ? {remove_private_as: true} : {}),
    })),
  }
}
