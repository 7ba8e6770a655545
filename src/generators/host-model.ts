// The render model of one host (a POP, or the host `corrosion bootstrap` runs for): everything every
// renderer needs, already decided. Both commands build one; renderers only turn it into text, so
// the two commands can never drift apart. It knows nothing of topology files or flags.
import type {AnycastHostModel} from './anycast-model.js'
import type {GossipMaxMtu} from './gossip-mtu.js'

/** A literal `IP:port` (Corrosion's SocketAddr); hosts are IP literals, IPv6 without brackets. */
export interface SocketAddress {
  host: string
  port: number
}

export function formatSocketAddress(address: SocketAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`
}

export type GossipTransport =
  | {plaintext: true; /** Why plaintext is acceptable, for the comment. */ reason: string}
  | {plaintext: false; tls: {certFile: string; keyFile: string; caFile: string; clientCertFile: string; clientKeyFile: string}}

export interface CorrosionAgentModel {
  dbPath: string
  schemaDir: string
  gossipAddr: SocketAddress
  /** `host:port` (hostnames allowed here, and only here), sorted, never this agent's own address. */
  bootstrap: readonly string[]
  /** Comment above bootstrap: how the list was chosen. */
  bootstrapNote: string
  transport: GossipTransport
  maxMtu?: GossipMaxMtu
  apiAddr: SocketAddress
  bearerToken: string
  adminPath: string
}

export interface HostPaths {
  /** Where corrosion.toml is installed (`corrosion -c`). */
  corrosionConfig: string
  corrosionBin: string
  edgeproxyBin: string
  /** Where edgeproxy.env is installed (EnvironmentFile=). */
  edgeproxyEnv: string
}

export const DEFAULT_HOST_PATHS: HostPaths = {
  corrosionConfig: '/etc/corrosion/config.toml',
  corrosionBin: '/usr/local/bin/corrosion',
  edgeproxyBin: '/usr/local/bin/edgeproxy',
  edgeproxyEnv: '/etc/edgeproxy/edgeproxy.env',
}

export const DEFAULT_CORROSION_PATHS = {
  dbPath: '/var/lib/corrosion/state.db',
  schemaDir: '/etc/corrosion/schema',
  adminPath: '/var/run/corrosion/admin.sock',
} as const

export interface EdgeproxyModel {
  listen: SocketAddress
  tlsListen: SocketAddress
  apiListen: SocketAddress
  apiToken: string
  corrosionApiUrl: string
  corrosionToken: string
  /** Internal DNS on, at these addresses; absent = off (corrosion bootstrap). */
  dns?: DnsModel
  /** The Prometheus listener on the private address; absent = the API's /metrics only (corrosion bootstrap). */
  metrics?: MetricsModel
}

/** EDGEPROXY_METRICS_LISTEN_ADDR and its read-only token, and every POP Prometheus should scrape. */
export interface MetricsModel {
  listen: SocketAddress
  token: string
  /** Every POP of the cluster (this one included), sorted by name, for the scrape config in the README. */
  targets: Array<{pop: string; region: string; address: SocketAddress}>
}

/** The POP's internal DNS (`<app>.internal`): where edgeproxy listens, and what hosts of the POP ask. */
export interface DnsModel {
  /** EDGEPROXY_DNS_LISTEN_ADDR: loopback and the POP's private address. */
  listen: SocketAddress[]
  /** Lower case, no trailing dot: `internal`. */
  domain: string
  /** The address the systemd-resolved drop-in sends the domain to. */
  resolver: SocketAddress
}

/** The TLS listener is off in the generated edgeproxy.env until the operator gives it a certificate. */
export const TLS_OFF_UNTIL = 'EDGEPROXY_TLS_ENABLED=true in edgeproxy.env'

export interface PortRule {
  port: number
  comment: string
  /** Nothing listens on the port until this setting turns its listener on: the rule is written commented out. */
  until?: string
}

export interface FirewallModel {
  publicTcp: PortRule[]
  publicUdp: PortRule[]
  /** Interface the private rules are bound to, e.g. `wg0`. */
  privateInterface: string
  /** Source network allowed on that interface; undefined = any source on it. */
  privateSource?: string
  /** Destination address on this host; undefined = any. */
  privateDestination?: string
  privateTcp: PortRule[]
  privateUdp: PortRule[]
  /** 6PN: the cluster's /48 may reach this POP's /64 (its backends) on the private interface, any port. */
  sixpn?: {source: string; destination: string}
}

export interface WireguardPeerModel {
  name: string
  region: string
  publicKey: string
  /** `host:port`, IPv6 in brackets. */
  endpoint: string
  /** The peer's IPv4 tunnel address as a /32. */
  allowedIp: string
  /** The peer's 6PN /64, so everything behind that POP is routed to it. */
  allowedIpv6?: string
}

export interface WireguardModel {
  interface: string
  /** `10.50.1.1/16`: this host's address with the tunnel network's prefix. */
  address: string
  /** `fd…:<pop_id>::1/128`: this POP's 6PN address (a /128: the peers' /64s get routes of their own). */
  ipv6Address?: string
  /**
   * /128s this host adds on `lo` while the tunnel is up (PostUp/PostDown): the internal DNS address
   * (6PN `::3`). On lo, not on the tunnel, so the kernel never picks them as the source address of the
   * POP's own connections through the tunnel (it prefers an address of the outgoing interface).
   */
  loopbackAddresses?: string[]
  listenPort: number
  privateKey: string
  publicKey: string
  mtu: number
  persistentKeepaliveSecs: number
  peers: WireguardPeerModel[]
}

/** This POP's place in the cluster's 6PN (IPv6 private network), from the stored address plan. */
export interface SixpnModel {
  /** The cluster's /48. */
  network: string
  popId: number
  /** `P:<pop_id>::/64`: every other POP routes it here. */
  subnet: string
  /** `P:<pop_id>::1`, on the WireGuard interface. */
  wireguardAddress: string
  /** `P:<pop_id>::3`: reserved for this POP's internal DNS listener (written once DNS exists). */
  dnsAddress: string
}

export interface HostModel {
  cluster: string
  /** POP or host name. */
  name: string
  region: string
  country?: string
  /** The command that generated the files, for headers: `pop generate-config`. */
  generator: string
  corrosion: CorrosionAgentModel
  edgeproxy: EdgeproxyModel
  paths: HostPaths
  firewall: FirewallModel
  /** Absent when edgeproxy does not manage the tunnel (corrosion bootstrap). */
  wireguard?: WireguardModel
  /** Absent when edgeproxy does not manage the tunnel (corrosion bootstrap). */
  sixpn?: SixpnModel
  /** Unit the Corrosion agent waits for (the tunnel its gossip address lives on). */
  tunnelUnit?: {name: string; isRequired: boolean}
  /** Names of the POPs in corrosion.bootstrap, for the README. */
  bootstrapPeerNames: string[]
  shutdownTimeoutSecs: number
  /** Present when this host announces the anycast prefixes (anycast-files.ts). */
  anycast?: AnycastHostModel
}

/** Secret values in a model, so dry-run output can redact them. */
export function hostSecrets(host: HostModel): string[] {
  return [
    host.corrosion.bearerToken,
    host.edgeproxy.apiToken,
    host.edgeproxy.corrosionToken,
    ...(host.edgeproxy.metrics ? [host.edgeproxy.metrics.token] : []),
    ...(host.wireguard ? [host.wireguard.privateKey] : []),
  ]
}
