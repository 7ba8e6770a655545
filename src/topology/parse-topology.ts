// Turns the text of a topology file (YAML, or JSON) into a validated Topology with every default
// filled in, or a TopologyInvalidError listing every problem with its key path. Nothing here writes
// files or knows what gets generated; it only decides whether the cluster described is possible.
import fs from 'node:fs'

import YAML from 'yaml'

import {isRegion, REGION_COUNTRIES, REGIONS, type Region} from '../balancer/regions.js'
import {isIsoCountryCode} from '../geo/country-codes.js'
import {checkAnycastPops, parseAnycast, parsePopBgp, type PopBgp} from './anycast.js'
import {formatProblem, TopologyInvalidError, TopologyUnreadableError, type TopologyProblem} from './errors.js'
import {
  ipv4InNetwork,
  isReservedInNetwork,
  parseIpv4HostAddress,
  parseIpv4Network,
  parsePublicAddress,
  type Ipv4Network,
} from '../net/address.js'
import {parseSixpnNetwork, type SixpnNetworkRequest} from '../sixpn/address-plan.js'
import {formatPrefix, parseIpv6, prefixContains, type IpPrefix} from '../sixpn/ipv6.js'
import {TOPOLOGY_DEFAULTS, type GossipSecurity, type Topology, type TopologyPop} from './model.js'

export interface ParsedTopology {
  topology: Topology
  /** Things that work but are probably not meant, each prefixed with the file name. */
  warnings: string[]
}

/** Cluster and POP names: a lower-case DNS label of at most 32 characters (they become folder names). */
export const TOPOLOGY_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/
const INTERFACE_PATTERN = /^[A-Za-z0-9_=+.-]{1,15}$/
export const WIREGUARD_MTU_RANGE = {min: 1280, max: 8920} as const

type Mapping = Record<string, unknown>

function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function show(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return JSON.stringify(value)
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`
  return path === '' ? key : `${path}.${key}`
}

function editDistance(a: string, b: string): number {
  const row = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

class Checker {
  readonly problems: TopologyProblem[] = []
  readonly warnings: TopologyProblem[] = []

  problem(path: string, message: string): undefined {
    this.problems.push({path, message})
    return undefined
  }

  warn(path: string, message: string): void {
    this.warnings.push({path, message})
  }

  /** A mapping with only `keys` in it; absent → `{}` when optional. */
  mapping(value: unknown, path: string, keys: readonly string[], isRequired = false): Mapping | undefined {
    if (value === undefined || value === null) {
      if (isRequired) return this.problem(path, 'is required')
      return {}
    }
    if (!isMapping(value)) return this.problem(path, `must be a mapping, not ${show(value)}`)
    for (const key of Object.keys(value)) {
      if (keys.includes(key)) continue
      const near = keys.find((k) => editDistance(k, key) <= 2)
      this.problem(join(path, key), `unknown key${near ? `; did you mean "${near}"?` : `; expected one of ${keys.join(', ')}`}`)
    }
    return value
  }

  string(map: Mapping, key: string, path: string, fallback?: string): string | undefined {
    const value = map[key]
    if (value === undefined || value === null) {
      if (fallback === undefined) return this.problem(join(path, key), 'is required')
      return fallback
    }
    if (typeof value !== 'string' || value.trim() === '') return this.problem(join(path, key), `must be a non-empty string, not ${show(value)}`)
    return value.trim()
  }

  integer(map: Mapping, key: string, path: string, range: {min: number; max: number; what: string}, fallback: number): number | undefined {
    const value = map[key]
    if (value === undefined || value === null) return fallback
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      return this.problem(join(path, key), `${show(value)} is not ${range.what} (a whole number ${range.min}-${range.max})`)
    }
    if (value < range.min || value > range.max) return this.problem(join(path, key), `${value} is out of range for ${range.what} (${range.min}-${range.max})`)
    return value
  }

  port(map: Mapping, key: string, path: string, fallback: number): number | undefined {
    return this.integer(map, key, path, {min: 1, max: 65_535, what: 'a port'}, fallback)
  }

  absolutePath(map: Mapping, key: string, path: string, fallback: string): string | undefined {
    const value = this.string(map, key, path, fallback)
    if (value !== undefined && !value.startsWith('/')) return this.problem(join(path, key), `${show(value)} is not an absolute path`)
    return value
  }
}

function checkName(checker: Checker, value: string | undefined, path: string): string | undefined {
  if (value === undefined) return undefined
  if (!TOPOLOGY_NAME_PATTERN.test(value)) {
    return checker.problem(path, `${show(value)} is not a valid name: use 1-32 of a-z, 0-9 and "-", starting and ending with a letter or digit`)
  }
  return value
}

/** Ports that share a protocol on one host must differ; reports the later key of each clash. */
function checkDistinct(checker: Checker, entries: ReadonlyArray<[path: string, port: number | undefined]>, protocol: string): void {
  const seen = new Map<number, string>()
  for (const [path, port] of entries) {
    if (port === undefined) continue
    const first = seen.get(port)
    if (first) checker.problem(path, `${port} is already ${first} (both ${protocol} on the same host)`)
    else seen.set(port, path)
  }
}

/** Validates already-parsed data. `file` names the source in every message. */
export function validateTopology(data: unknown, file: string): ParsedTopology {
  const c = new Checker()
  const root = c.mapping(data, '', ['cluster', 'gossip', 'wireguard', 'ports', 'pops', 'anycast'], true)
  if (!root) throw new TopologyInvalidError(file, c.problems)

  const cluster = checkName(c, c.string(root, 'cluster', ''), 'cluster')

  const g = c.mapping(root.gossip, 'gossip', ['port', 'security', 'tls']) ?? {}
  const gossipPort = c.port(g, 'port', 'gossip', TOPOLOGY_DEFAULTS.gossip.port)
  const securityText = c.string(g, 'security', 'gossip', TOPOLOGY_DEFAULTS.gossip.security)
  let security: GossipSecurity | undefined
  if (securityText !== undefined) {
    const s = securityText.toLowerCase()
    if (s === 'plaintext' || s === 'tls') security = s
    else c.problem('gossip.security', `${show(securityText)} is not a gossip security; use plaintext (inside WireGuard) or tls`)
  }
  const t = c.mapping(g.tls, 'gossip.tls', ['cert_file', 'key_file', 'ca_file', 'client_cert_file', 'client_key_file']) ?? {}
  const tls = {
    certFile: c.absolutePath(t, 'cert_file', 'gossip.tls', TOPOLOGY_DEFAULTS.gossip.tls.cert_file),
    keyFile: c.absolutePath(t, 'key_file', 'gossip.tls', TOPOLOGY_DEFAULTS.gossip.tls.key_file),
    caFile: c.absolutePath(t, 'ca_file', 'gossip.tls', TOPOLOGY_DEFAULTS.gossip.tls.ca_file),
    clientCertFile: c.absolutePath(t, 'client_cert_file', 'gossip.tls', TOPOLOGY_DEFAULTS.gossip.tls.client_cert_file),
    clientKeyFile: c.absolutePath(t, 'client_key_file', 'gossip.tls', TOPOLOGY_DEFAULTS.gossip.tls.client_key_file),
  }
  if (security === 'plaintext' && g.tls !== undefined) c.warn('gossip.tls', 'is ignored because gossip.security is plaintext')

  const w = c.mapping(root.wireguard, 'wireguard', ['port', 'network', 'ipv6_network', 'mtu', 'persistent_keepalive', 'interface']) ?? {}
  const wireguardPort = c.port(w, 'port', 'wireguard', TOPOLOGY_DEFAULTS.wireguard.port)
  let network: Ipv4Network | undefined
  const networkText = c.string(w, 'network', 'wireguard', TOPOLOGY_DEFAULTS.wireguard.network)
  if (networkText !== undefined) {
    try {
      network = parseIpv4Network(networkText)
    } catch (error) {
      c.problem('wireguard.network', (error as Error).message)
    }
  }
  let ipv6Network: SixpnNetworkRequest | undefined
  let ipv6Prefix: IpPrefix | undefined
  const ipv6Text = c.string(w, 'ipv6_network', 'wireguard', TOPOLOGY_DEFAULTS.wireguard.ipv6_network)
  if (ipv6Text !== undefined) {
    if (ipv6Text.toLowerCase() === 'auto') ipv6Network = 'auto'
    else {
      try {
        ipv6Prefix = parseSixpnNetwork(ipv6Text)
        ipv6Network = {prefix: formatPrefix(ipv6Prefix)}
      } catch (error) {
        c.problem('wireguard.ipv6_network', (error as Error).message)
      }
    }
  }
  const mtu = c.integer(w, 'mtu', 'wireguard', {...WIREGUARD_MTU_RANGE, what: 'a WireGuard MTU'}, TOPOLOGY_DEFAULTS.wireguard.mtu)
  const keepalive = c.integer(
    w,
    'persistent_keepalive',
    'wireguard',
    {min: 0, max: 65_535, what: 'a keepalive in seconds'},
    TOPOLOGY_DEFAULTS.wireguard.persistent_keepalive,
  )
  const iface = c.string(w, 'interface', 'wireguard', TOPOLOGY_DEFAULTS.wireguard.interface)
  if (iface !== undefined && !INTERFACE_PATTERN.test(iface)) {
    c.problem('wireguard.interface', `${show(iface)} is not an interface name (1-15 of A-Z a-z 0-9 _ = + . -)`)
  }

  const p = c.mapping(root.ports, 'ports', ['proxy', 'tls', 'api', 'corrosion_api', 'metrics']) ?? {}
  const ports = {
    proxy: c.port(p, 'proxy', 'ports', TOPOLOGY_DEFAULTS.ports.proxy),
    tls: c.port(p, 'tls', 'ports', TOPOLOGY_DEFAULTS.ports.tls),
    api: c.port(p, 'api', 'ports', TOPOLOGY_DEFAULTS.ports.api),
    corrosionApi: c.port(p, 'corrosion_api', 'ports', TOPOLOGY_DEFAULTS.ports.corrosion_api),
    metrics: c.port(p, 'metrics', 'ports', TOPOLOGY_DEFAULTS.ports.metrics),
  }
  checkDistinct(
    c,
    [
      ['ports.proxy', ports.proxy],
      ['ports.tls', ports.tls],
      ['ports.api', ports.api],
      ['ports.corrosion_api', ports.corrosionApi],
      ['ports.metrics', ports.metrics],
    ],
    'TCP',
  )
  checkDistinct(
    c,
    [
      ['wireguard.port', wireguardPort],
      ['gossip.port', gossipPort],
    ],
    'UDP',
  )

  const anycast = parseAnycast(c, root.anycast)
  const bgpOfPops: Array<{path: string; bgp?: PopBgp}> = []

  const pops: TopologyPop[] = []
  const popsValue = root.pops
  if (popsValue === undefined || popsValue === null) c.problem('pops', 'is required: list at least one POP')
  else if (!Array.isArray(popsValue)) c.problem('pops', `must be a list of POPs, not ${show(popsValue)}`)
  else if (popsValue.length === 0) c.problem('pops', 'is empty: list at least one POP')
  else {
    const names = new Map<string, string>()
    const publics = new Map<string, string>()
    const tunnels = new Map<string, string>()
    popsValue.forEach((item, index) => {
      const path = join('pops', index)
      const m = c.mapping(item, path, ['name', 'region', 'country', 'public_address', 'wireguard_address', 'bgp'], true)
      if (!m) return
      const name = checkName(c, c.string(m, 'name', path), join(path, 'name'))
      if (name !== undefined) {
        const first = names.get(name)
        if (first) c.problem(join(path, 'name'), `${show(name)} is already ${first}; POP names must be unique`)
        else names.set(name, join(path, 'name'))
      }

      let region: Region | undefined
      const regionText = c.string(m, 'region', path)
      if (regionText !== undefined) {
        const r = regionText.toLowerCase()
        if (isRegion(r)) region = r
        else c.problem(join(path, 'region'), `${show(regionText)} is not a region; use one of ${REGIONS.join(', ')}`)
      }

      let country: string | undefined
      if (m.country !== undefined && m.country !== null) {
        const countryText = c.string(m, 'country', path)
        if (countryText !== undefined) {
          const upper = countryText.toUpperCase()
          if (isIsoCountryCode(upper)) country = upper
          else c.problem(join(path, 'country'), `${show(countryText)} is not an ISO 3166-1 alpha-2 country code (for example BR, US, DE)`)
        }
      }
      if (region && country) {
        const listed = REGIONS.find((r) => REGION_COUNTRIES[r].includes(country!))
        if (listed && listed !== region) c.warn(join(path, 'country'), `${show(country)} belongs to region ${listed}, but this POP's region is ${region}`)
      }

      let publicAddress: ReturnType<typeof parsePublicAddress> | undefined
      const publicText = c.string(m, 'public_address', path)
      if (publicText !== undefined) {
        try {
          publicAddress = parsePublicAddress(publicText)
        } catch (error) {
          c.problem(join(path, 'public_address'), (error as Error).message)
        }
      }
      if (publicAddress) {
        const first = publics.get(publicAddress.address)
        if (first) c.problem(join(path, 'public_address'), `${show(publicText)} is already ${first}; each POP needs its own address`)
        else publics.set(publicAddress.address, join(path, 'public_address'))
        if (network && publicAddress.kind === 'ipv4' && ipv4InNetwork(publicAddress.address, network)) {
          c.problem(join(path, 'public_address'), `${show(publicText)} lies inside wireguard.network ${network.text}; give the address the tunnel itself runs over`)
        }
        if (ipv6Prefix && publicAddress.kind === 'ipv6' && prefixContains(ipv6Prefix, 6, parseIpv6(publicAddress.address)!)) {
          c.problem(join(path, 'public_address'), `${show(publicText)} lies inside wireguard.ipv6_network ${formatPrefix(ipv6Prefix)}; give the address the tunnel itself runs over`)
        }
      }

      let wireguardAddress: string | undefined
      const tunnelText = c.string(m, 'wireguard_address', path)
      if (tunnelText !== undefined) {
        try {
          wireguardAddress = parseIpv4HostAddress(tunnelText)
        } catch (error) {
          c.problem(join(path, 'wireguard_address'), (error as Error).message)
        }
      }
      if (wireguardAddress) {
        const key = join(path, 'wireguard_address')
        const first = tunnels.get(wireguardAddress)
        if (first) c.problem(key, `${show(tunnelText)} overlaps ${first}; each POP needs its own WireGuard address`)
        else tunnels.set(wireguardAddress, key)
        if (network && !ipv4InNetwork(wireguardAddress, network)) {
          c.problem(key, `${show(tunnelText)} is outside wireguard.network ${network.text}`)
        } else if (network && isReservedInNetwork(wireguardAddress, network)) {
          c.problem(key, `${show(tunnelText)} is the network or broadcast address of ${network.text}`)
        }
      }

      const bgp = parsePopBgp(c, m.bgp, join(path, 'bgp'), {
        anycast,
        hasAnycast: root.anycast !== undefined && root.anycast !== null,
        publicIpv4: publicAddress?.kind === 'ipv4' ? publicAddress.address : undefined,
      })
      bgpOfPops.push({path, ...(bgp ? {bgp} : {})})

      if (name && region && publicAddress && wireguardAddress) {
        pops.push({
          name,
          region,
          ...(country ? {country} : {}),
          publicAddress: publicAddress.address,
          publicAddressKind: publicAddress.kind,
          wireguardAddress,
          ...(bgp ? {bgp} : {}),
        })
      }
    })
    if (popsValue.length === 1) c.warn('pops', 'lists one POP only: nothing to replicate to, and the WireGuard mesh has no peers')
  }
  if (c.problems.length === 0) checkAnycastPops(c, anycast, bgpOfPops)

  if (c.problems.length > 0) throw new TopologyInvalidError(file, c.problems)
  const topology: Topology = {
    cluster: cluster!,
    gossip: {port: gossipPort!, security: security!, tls: {certFile: tls.certFile!, keyFile: tls.keyFile!, caFile: tls.caFile!, clientCertFile: tls.clientCertFile!, clientKeyFile: tls.clientKeyFile!}},
    wireguard: {port: wireguardPort!, network: network!, ipv6Network: ipv6Network!, mtu: mtu!, persistentKeepaliveSecs: keepalive!, interface: iface!},
    ports: {proxy: ports.proxy!, tls: ports.tls!, api: ports.api!, corrosionApi: ports.corrosionApi!, metrics: ports.metrics!},
    pops,
    ...(anycast ? {anycast} : {}),
  }
  return {topology, warnings: c.warnings.map((w) => formatProblem(file, w))}
}

/** Parses YAML (or JSON, when `format` says so or the file name ends in .json) and validates it. */
export function parseTopologyText(text: string, file: string, format: 'yaml' | 'json' = file.toLowerCase().endsWith('.json') ? 'json' : 'yaml'): ParsedTopology {
  if (text.trim() === '') throw new TopologyUnreadableError(file, 'is empty; see the documented example (edgeproxy pop generate-config --help)')
  let data: unknown
  if (format === 'json') {
    try {
      data = JSON.parse(text)
    } catch (error) {
      throw new TopologyUnreadableError(file, `is not valid JSON: ${(error as Error).message}`, {cause: error})
    }
  } else {
    const doc = YAML.parseDocument(text, {uniqueKeys: true, prettyErrors: true})
    const error = doc.errors[0]
    if (error) throw new TopologyUnreadableError(file, `is not valid YAML: ${error.message.split('\n')[0]}`, {cause: error})
    data = doc.toJS()
  }
  return validateTopology(data, file)
}

/** Reads and parses a topology file; `file` is shown as the operator typed it. */
export function loadTopologyFile(file: string): ParsedTopology {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'not readable by this user' : (error as Error).message
    throw new TopologyUnreadableError(file, reason, {cause: error})
  }
  return parseTopologyText(text, file)
}
