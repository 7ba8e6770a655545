// `corrosion bootstrap` without the CLI: the values of its flags (as text) are validated into
// BootstrapSettings, which with the secrets become this host's HostModel and folder. Same renderers
// as `pop generate-config`; what differs is only where the values come from (flags, not a topology).
import net from 'node:net'

import {isRegion, REGIONS} from '../balancer/regions.js'
import {isLoopbackAddress, parseHostPort} from '../net/address.js'
import {isIsoCountryCode} from '../geo/country-codes.js'
import {TOPOLOGY_DEFAULTS} from '../topology/model.js'
import {TOPOLOGY_NAME_PATTERN} from '../topology/parse-topology.js'
import {GeneratorInputsError, type InputProblem} from './errors.js'
import {QUIC_MIN_UDP_PAYLOAD} from './gossip-mtu.js'
import {renderHostFiles} from './host-files.js'
import {formatSocketAddress, hostSecrets, TLS_OFF_UNTIL, type HostModel, type HostPaths, type SocketAddress} from './host-model.js'
import {DEFAULT_SHUTDOWN_TIMEOUT_SECS} from './pop-plan.js'
import type {ClusterSecrets} from './secrets.js'
import type {PlannedFile} from './write-output.js'

export const BOOTSTRAP_GENERATOR = 'corrosion bootstrap'

/** Flag name of each input, for error messages. */
export const BOOTSTRAP_FLAGS = {
  cluster: '--cluster',
  name: '--name',
  region: '--region',
  country: '--country',
  gossipAddr: '--gossip-addr',
  bootstrap: '--bootstrap',
  tlsCert: '--tls-cert',
  tlsKey: '--tls-key',
  tlsCa: '--tls-ca',
  tlsClientCert: '--tls-client-cert',
  tlsClientKey: '--tls-client-key',
  apiAddr: '--api-addr',
  dbPath: '--db-path',
  schemaDir: '--schema-dir',
  adminPath: '--admin-path',
  configPath: '--config-path',
  maxMtu: '--max-mtu',
  listen: '--listen',
  tlsListen: '--tls-listen',
  apiListen: '--api-listen',
  privateInterface: '--private-interface',
  corrosionBin: '--corrosion-bin',
  edgeproxyBin: '--edgeproxy-bin',
  envPath: '--env-path',
} as const

/** Flag values as text; optional ones may be absent. */
export interface BootstrapInput {
  cluster: string
  name: string
  region: string
  country?: string
  gossipAddr: string
  bootstrap?: string
  isPlaintext: boolean
  tlsCert: string
  tlsKey: string
  tlsCa: string
  tlsClientCert: string
  tlsClientKey: string
  apiAddr: string
  dbPath: string
  schemaDir: string
  adminPath: string
  configPath: string
  maxMtu?: string
  listen: string
  tlsListen: string
  apiListen: string
  privateInterface: string
  /** The UDP port of the WireGuard tunnel firewall.sh opens when the interface is wg* (default 51820). */
  wireguardPort?: number
  corrosionBin: string
  edgeproxyBin: string
  envPath: string
}

export interface BootstrapSettings {
  cluster: string
  name: string
  region: string
  country?: string
  gossipAddr: SocketAddress
  bootstrap: string[]
  tls?: {certFile: string; keyFile: string; caFile: string; clientCertFile: string; clientKeyFile: string}
  apiAddr: SocketAddress
  dbPath: string
  schemaDir: string
  adminPath: string
  maxMtu?: number
  listen: SocketAddress
  tlsListen: SocketAddress
  apiListen: SocketAddress
  privateInterface: string
  wireguardPort: number
  paths: HostPaths
  warnings: string[]
}

/** One flag's problem, thrown by the checks below and collected by resolveBootstrapSettings. */
class FlagProblem extends Error {
  constructor(readonly problem: InputProblem) {
    super(problem.message)
  }
}

function fail(key: keyof typeof BOOTSTRAP_FLAGS, message: string, hint: string): never {
  const flag = BOOTSTRAP_FLAGS[key]
  throw new FlagProblem({flag, message: `${flag} ${message}`, hint})
}

function name(key: 'cluster' | 'name', value: string): string {
  const v = value.trim().toLowerCase()
  if (!TOPOLOGY_NAME_PATTERN.test(v)) fail(key, `${JSON.stringify(value)} is not a valid name`, 'as 1-32 of a-z, 0-9 and "-", for example edge or sa-1')
  return v
}

function absolute(key: keyof typeof BOOTSTRAP_FLAGS, value: string): string {
  const v = value.trim()
  if (!v.startsWith('/') || /[\s"'$\\]/.test(v)) fail(key, `${JSON.stringify(value)} is not an absolute path without spaces or quotes`, 'an absolute path, for example /etc/corrosion/config.toml')
  return v
}

/** A Rust SocketAddr literal: `10.50.1.1:4001`, `[fd00::1]:4001`. */
function socketAddress(key: keyof typeof BOOTSTRAP_FLAGS, value: string, options: {isUnspecifiedOk: boolean}): SocketAddress {
  let parsed: {host: string; port: number}
  try {
    parsed = parseHostPort(value)
  } catch (error) {
    return fail(key, `${JSON.stringify(value)}: ${(error as Error).message}`, 'IP:port, for example 10.50.1.1:4001 or [fd00::1]:4001')
  }
  if (net.isIP(parsed.host) === 0) fail(key, `${JSON.stringify(value)} has a hostname; Corrosion only accepts IP literals here`, 'IP:port, for example 10.50.1.1:4001')
  if (parsed.port === 0) fail(key, `${JSON.stringify(value)} has port 0`, 'a port 1-65535')
  if (!options.isUnspecifiedOk && (parsed.host === '0.0.0.0' || parsed.host === '::')) {
    fail(key, `${JSON.stringify(value)} is the unspecified address; other agents gossip back to this address`, "this host's WireGuard (or private) IP, for example 10.50.1.1:4001")
  }
  return {host: parsed.host, port: parsed.port}
}

/** `host:port` or `host:port@dns-server:port`, hostnames allowed (the only place Corrosion resolves names). */
function bootstrapEntry(entry: string): string {
  const [target, resolver, ...rest] = entry.split('@')
  if (rest.length > 0) throw new Error('has more than one "@"')
  const check = (text: string, what: string, isNameOk: boolean) => {
    const parsed = parseHostPort(text)
    if (parsed.port === 0) throw new Error(`${what} has port 0`)
    const host = parsed.host
    const isName = net.isIP(host) === 0
    if (isName && (!isNameOk || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host))) throw new Error(`${what} host ${JSON.stringify(host)} is not an IP literal${isNameOk ? ' or DNS name' : ''}`)
    return formatSocketAddress(parsed)
  }
  const normalized = check(target!, 'the address', true)
  return resolver === undefined ? normalized : `${normalized}@${check(resolver, 'the DNS server', false)}`
}

function listenAddress(key: 'listen' | 'tlsListen' | 'apiListen', value: string): SocketAddress {
  try {
    const parsed = parseHostPort(value)
    if (parsed.port === 0) throw new Error('port 0 is not a fixed port')
    return parsed
  } catch (error) {
    return fail(key, `${JSON.stringify(value)}: ${(error as Error).message}`, 'host:port, for example 0.0.0.0:8080 or [::]:8080')
  }
}

/** Validates every flag value; every bad one is listed (one per line) in a single error. */
export function resolveBootstrapSettings(input: BootstrapInput): BootstrapSettings {
  const problems: InputProblem[] = []
  /** The value, or undefined with its problem noted (the error is thrown once every flag is checked). */
  const check = <T>(compute: () => T): T | undefined => {
    try {
      return compute()
    } catch (error) {
      if (!(error instanceof FlagProblem)) throw error
      problems.push(error.problem)
      return undefined
    }
  }
  const warnings: string[] = []
  const cluster = check(() => name('cluster', input.cluster))
  const hostName = check(() => name('name', input.name))
  const region = check(() => {
    const r = input.region.trim().toLowerCase()
    if (!isRegion(r)) fail('region', `${JSON.stringify(input.region)} is not a region`, `one of ${REGIONS.join(', ')}`)
    return r
  })
  let country: string | undefined
  if (input.country !== undefined && input.country.trim() !== '') {
    country = check(() => {
      const c = input.country!.trim().toUpperCase()
      if (!isIsoCountryCode(c)) fail('country', `${JSON.stringify(input.country)} is not an ISO 3166-1 alpha-2 country code`, 'a country code such as BR, US or DE')
      return c
    })
  }
  const gossipAddr = check(() => socketAddress('gossipAddr', input.gossipAddr, {isUnspecifiedOk: false}))
  const self = gossipAddr === undefined ? undefined : formatSocketAddress(gossipAddr)
  const bootstrap = new Set<string>()
  for (const raw of (input.bootstrap ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const entry = check(() => {
      let e: string
      try {
        e = bootstrapEntry(raw)
      } catch (error) {
        return fail('bootstrap', `entry ${JSON.stringify(raw)} ${(error as Error).message}`, 'a comma-separated list of host:port, for example 10.50.2.1:4001,10.50.3.1:4001')
      }
      if (self !== undefined && (e === self || e.startsWith(`${self}@`))) fail('bootstrap', `lists this agent's own gossip address ${self}`, 'the gossip addresses of other agents only')
      return e
    })
    if (entry !== undefined) bootstrap.add(entry)
  }
  if (bootstrap.size === 0 && !problems.some((p) => p.flag === '--bootstrap')) warnings.push('no --bootstrap given: this agent starts a cluster of its own and waits for others to list it')

  const apiAddr = check(() => socketAddress('apiAddr', input.apiAddr, {isUnspecifiedOk: true}))
  if (apiAddr !== undefined && !isLoopbackAddress(apiAddr.host)) warnings.push(`--api-addr ${formatSocketAddress(apiAddr)} is not loopback: Corrosion's API has no TLS, keep it behind the firewall`)

  let maxMtu: number | undefined
  if (input.maxMtu !== undefined && input.maxMtu.trim() !== '') {
    maxMtu = check(() => {
      const text = input.maxMtu!.trim()
      if (!/^\d{1,5}$/.test(text) || Number(text) < QUIC_MIN_UDP_PAYLOAD || Number(text) > 65_527) {
        fail('maxMtu', `${JSON.stringify(input.maxMtu)} is not a UDP payload size ${QUIC_MIN_UDP_PAYLOAD}-65527`, `a size >= ${QUIC_MIN_UDP_PAYLOAD}: the tunnel MTU - 28 for IPv4 (1392 under WireGuard's 1420), or leave it out to autodetect`)
      }
      return Number(text)
    })
  }

  const listen = check(() => listenAddress('listen', input.listen))
  const tlsListen = check(() => listenAddress('tlsListen', input.tlsListen))
  const apiListen = check(() => listenAddress('apiListen', input.apiListen))
  const tcp: Array<[keyof typeof BOOTSTRAP_FLAGS, number | undefined]> = [
    ['listen', listen?.port],
    ['tlsListen', tlsListen?.port],
    ['apiListen', apiListen?.port],
    ['apiAddr', apiAddr?.port],
  ]
  tcp.forEach(([key, port], i) => {
    const clash = tcp.slice(0, i).find(([, p]) => p !== undefined && p === port)
    if (clash) check(() => fail(key, `uses port ${port}, already taken by ${BOOTSTRAP_FLAGS[clash[0]]}`, 'a port of its own'))
  })

  const privateInterface = input.privateInterface.trim()
  if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(privateInterface)) {
    check(() => fail('privateInterface', `${JSON.stringify(input.privateInterface)} is not an interface name`, 'the interface other agents reach this one over, for example wg0'))
  }
  const path = (key: Parameters<typeof absolute>[0], value: string) => check(() => absolute(key, value))
  const tls = input.isPlaintext
    ? undefined
    : {
        certFile: path('tlsCert', input.tlsCert),
        keyFile: path('tlsKey', input.tlsKey),
        caFile: path('tlsCa', input.tlsCa),
        clientCertFile: path('tlsClientCert', input.tlsClientCert),
        clientKeyFile: path('tlsClientKey', input.tlsClientKey),
      }
  const paths = {
    dbPath: path('dbPath', input.dbPath),
    schemaDir: path('schemaDir', input.schemaDir),
    adminPath: path('adminPath', input.adminPath),
    corrosionConfig: path('configPath', input.configPath),
    corrosionBin: path('corrosionBin', input.corrosionBin),
    edgeproxyBin: path('edgeproxyBin', input.edgeproxyBin),
    edgeproxyEnv: path('envPath', input.envPath),
  }
  if (problems.length > 0) throw new GeneratorInputsError(problems)

  return {
    cluster: cluster!,
    name: hostName!,
    region: region!,
    ...(country ? {country} : {}),
    gossipAddr: gossipAddr!,
    bootstrap: [...bootstrap].sort(),
    ...(tls
      ? {tls: {certFile: tls.certFile!, keyFile: tls.keyFile!, caFile: tls.caFile!, clientCertFile: tls.clientCertFile!, clientKeyFile: tls.clientKeyFile!}}
      : {}),
    apiAddr: apiAddr!,
    dbPath: paths.dbPath!,
    schemaDir: paths.schemaDir!,
    adminPath: paths.adminPath!,
    ...(maxMtu !== undefined ? {maxMtu} : {}),
    listen: listen!,
    tlsListen: tlsListen!,
    apiListen: apiListen!,
    privateInterface,
    wireguardPort: input.wireguardPort ?? TOPOLOGY_DEFAULTS.wireguard.port,
    paths: {
      corrosionConfig: paths.corrosionConfig!,
      corrosionBin: paths.corrosionBin!,
      edgeproxyBin: paths.edgeproxyBin!,
      edgeproxyEnv: paths.edgeproxyEnv!,
    },
    warnings,
  }
}

export function bootstrapHostModel(s: BootstrapSettings, secrets: ClusterSecrets): HostModel {
  const corrosionUrl = `http://${formatSocketAddress(isUnspecified(s.apiAddr.host) ? {host: s.apiAddr.host.includes(':') ? '::1' : '127.0.0.1', port: s.apiAddr.port} : s.apiAddr)}`
  return {
    cluster: s.cluster,
    name: s.name,
    region: s.region,
    ...(s.country ? {country: s.country} : {}),
    generator: BOOTSTRAP_GENERATOR,
    corrosion: {
      dbPath: s.dbPath,
      schemaDir: s.schemaDir,
      gossipAddr: s.gossipAddr,
      bootstrap: s.bootstrap,
      bootstrapNote:
        s.bootstrap.length === 0
          ? 'No seeds: this agent starts the cluster; the others list it in their bootstrap.'
          : 'Seeds from --bootstrap: a partial list is enough, SWIM finds the other members.',
      transport: s.tls
        ? {plaintext: false, tls: s.tls}
        : {plaintext: true, reason: `Plaintext QUIC (--plaintext): only safe because the path between agents (${s.privateInterface}) already encrypts.`},
      ...(s.maxMtu !== undefined
        ? {maxMtu: {value: s.maxMtu, explanation: ['max_mtu from --max-mtu: the largest UDP payload QUIC sends (quinn initial_mtu = min_mtu; discovery off).']}}
        : {}),
      apiAddr: s.apiAddr,
      bearerToken: secrets.corrosionToken,
      adminPath: s.adminPath,
    },
    edgeproxy: {
      listen: s.listen,
      tlsListen: s.tlsListen,
      apiListen: s.apiListen,
      apiToken: secrets.apiToken,
      corrosionApiUrl: corrosionUrl,
      corrosionToken: secrets.corrosionToken,
    },
    paths: s.paths,
    firewall: {
      publicTcp: [
        {port: s.listen.port, comment: 'edgeproxy TCP proxy'},
        {port: s.tlsListen.port, comment: 'edgeproxy TLS', until: TLS_OFF_UNTIL},
      ],
      // firewall.sh denies incoming by default: a WireGuard tunnel the agents talk over needs its port.
      publicUdp: /^wg/.test(s.privateInterface) ? [{port: s.wireguardPort, comment: `WireGuard (${s.privateInterface})`}] : [],
      privateInterface: s.privateInterface,
      privateDestination: s.gossipAddr.host,
      privateUdp: [{port: s.gossipAddr.port, comment: `Corrosion gossip (QUIC) over ${s.privateInterface} only`}],
      // Only what listens beyond loopback: a loopback-bound API cannot be reached over the interface.
      privateTcp: [
        ...(isLoopbackAddress(s.apiListen.host) ? [] : [{port: s.apiListen.port, comment: `edgeproxy Auto-Discovery API over ${s.privateInterface} only`}]),
        // A loopback-bound Corrosion API needs no rule: only edgeproxy on this host talks to it.
        ...(isLoopbackAddress(s.apiAddr.host) ? [] : [{port: s.apiAddr.port, comment: `Corrosion API over ${s.privateInterface} only`}]),
      ],
    },
    ...(/^wg/.test(s.privateInterface) ? {tunnelUnit: {name: `wg-quick@${s.privateInterface}.service`, isRequired: false}} : {}),
    bootstrapPeerNames: [],
    shutdownTimeoutSecs: DEFAULT_SHUTDOWN_TIMEOUT_SECS,
  }
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::'
}

export interface BootstrapPlan {
  host: HostModel
  files: PlannedFile[]
  secretValues: string[]
}

export function planBootstrap(settings: BootstrapSettings, secrets: ClusterSecrets): BootstrapPlan {
  const host = bootstrapHostModel(settings, secrets)
  return {host, files: renderHostFiles(host), secretValues: hostSecrets(host)}
}
