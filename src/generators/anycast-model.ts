// The render model of one POP's anycast files (bird.conf, gate, units, env files, BGP firewall):
// everything decided once from the topology, so the renderers only print. Paths are the defaults
// `edgeproxy anycast` reads, so the commands work on a POP without flags.
import {passwordSymbol} from '../anycast/passwords.js'
import {DEFAULT_ANYCAST_PATHS} from '../anycast/paths.js'
import type {AnycastTopology, PopBgp} from '../topology/anycast.js'
import type {IpFamily} from '../topology/ip-prefix.js'
import {formatSocketAddress, type SocketAddress} from './host-model.js'

export interface BirdPeerModel {
  /** BIRD protocol name. */
  name: string
  address: string
  family: IpFamily
  port: number
  asn: number
  multihop?: number
  /** BIRD constant holding the password, defined in the passwords include. */
  passwordSymbol?: string
  /** The variable of the passwords env file that holds it. */
  passwordEnv?: string
  /** `local <address> port <port>`: left out on POPs (BIRD picks the source, listens on 179). */
  localAddress?: string
  localPort?: number
}

export interface BirdModel {
  /** Name of the POP, for comments. */
  pop: string
  routerId: string
  asn: number
  announce: {4: string[]; 6: string[]}
  gateFile: string
  /** Included only when a peer has a password. */
  passwordsFile: string
  peers: BirdPeerModel[]
}

export interface AnycastHostModel {
  bird: BirdModel
  interface: string
  /** `198.51.100.10/32`, `2001:db8:100::10/128`. */
  interfaceAddresses: string[]
  probeTargets: SocketAddress[]
  healthUrl: string
  check: {intervalMs: number; timeoutMs: number; rise: number; fall: number}
  drainSecs: number
  paths: typeof DEFAULT_ANYCAST_PATHS
  /** Distinct password variables, sorted. */
  passwordEnvs: string[]
  /** Where the operator keeps the passwords (EnvironmentFile= of the setup unit). */
  passwordsEnvFile: string
  /** Where anycast.env is installed. */
  envFile: string
  /** The path of `ip` in the units. */
  ipBin: string
}

export interface AnycastModelInput {
  pop: string
  anycast: AnycastTopology
  bgp: PopBgp
  proxyPort: number
  /** http://host:port of this POP's Auto-Discovery API. */
  apiBaseUrl: string
}

export function anycastHostModel(input: AnycastModelInput): AnycastHostModel {
  const {anycast, bgp} = input
  const peers: BirdPeerModel[] = bgp.peers.map((p, i) => ({
    name: `edge_peer${i + 1}`,
    address: p.address,
    family: p.family,
    port: p.port,
    asn: p.asn,
    ...(p.multihop !== undefined ? {multihop: p.multihop} : {}),
    ...(p.passwordEnv ? {passwordEnv: p.passwordEnv, passwordSymbol: passwordSymbol(p.passwordEnv)} : {}),
  }))
  return {
    bird: {
      pop: input.pop,
      routerId: bgp.routerId,
      asn: anycast.asn,
      announce: {4: anycast.announce.filter((p) => p.family === 4).map((p) => p.text), 6: anycast.announce.filter((p) => p.family === 6).map((p) => p.text)},
      gateFile: DEFAULT_ANYCAST_PATHS.gateFile,
      passwordsFile: DEFAULT_ANYCAST_PATHS.birdPasswordsFile,
      peers,
    },
    interface: anycast.interface,
    interfaceAddresses: anycast.addresses.map((a) => `${a.address}/${a.family === 4 ? 32 : 128}`),
    probeTargets: anycast.addresses.map((a) => ({host: a.address, port: input.proxyPort})),
    healthUrl: `${input.apiBaseUrl}/health`,
    check: {...anycast.check},
    drainSecs: anycast.drainSecs,
    paths: DEFAULT_ANYCAST_PATHS,
    passwordEnvs: [...new Set(peers.flatMap((p) => (p.passwordEnv ? [p.passwordEnv] : [])))].sort(),
    passwordsEnvFile: '/etc/edgeproxy/bgp-passwords.env',
    envFile: '/etc/edgeproxy/anycast.env',
    ipBin: '/usr/sbin/ip',
  }
}

export function apiBaseUrl(api: SocketAddress): string {
  return `http://${formatSocketAddress(api)}`
}
