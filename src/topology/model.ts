// The typed, validated description of a multi-POP cluster and the defaults of every optional key.
// It says what the operator asked for; how that becomes files is src/generators' business.
import type {Region} from '../balancer/regions.js'
import type {SixpnNetworkRequest} from '../sixpn/address-plan.js'
import type {AnycastTopology, PopBgp} from './anycast.js'
import type {Ipv4Network, PublicAddressKind} from '../net/address.js'

export type GossipSecurity = 'plaintext' | 'tls'

export interface GossipTlsFiles {
  /** PEM server certificate for this POP's WireGuard address (`corrosion tls server generate <ip>`). */
  certFile: string
  keyFile: string
  /** The cluster's CA (`corrosion tls ca generate`); peers verify each other against it. */
  caFile: string
  /** PEM client certificate this agent presents to its peers (`corrosion tls client generate`): mutual TLS. */
  clientCertFile: string
  clientKeyFile: string
}

export interface TopologyPop {
  /** Lower-case DNS label; also the output folder name. */
  name: string
  region: Region
  /** ISO 3166-1 alpha-2, upper case. */
  country?: string
  /** Canonical text: IPv4, IPv6 without brackets, or a lower-case DNS name. */
  publicAddress: string
  publicAddressKind: PublicAddressKind
  /** This POP's IPv4 address on the WireGuard network (no prefix). */
  wireguardAddress: string
  /** Present when this POP announces the anycast prefixes (see ./anycast.ts). */
  bgp?: PopBgp
}

export interface Topology {
  cluster: string
  gossip: {port: number; security: GossipSecurity; tls: GossipTlsFiles}
  wireguard: {
    port: number
    network: Ipv4Network
    /** The 6PN /48: `auto` (an RFC 4193 ULA made once and stored with the secrets) or a given prefix. */
    ipv6Network: SixpnNetworkRequest
    /** The tunnel interface's MTU, written into wg0.conf and used for gossip.max_mtu. */
    mtu: number
    /** Seconds; 0 leaves PersistentKeepalive out. */
    persistentKeepaliveSecs: number
    interface: string
  }
  /** TCP ports on every POP. `metrics`: edgeproxy's Prometheus listener on the WireGuard address. */
  ports: {proxy: number; tls: number; api: number; corrosionApi: number; metrics: number}
  /** In file order. */
  pops: TopologyPop[]
  /** One address announced by BGP from every POP with `bgp` (see ./anycast.ts). */
  anycast?: AnycastTopology
}

/**
 * Defaults of every optional key, as the topology file spells them. `cluster` and `pops` are required.
 * 1420 is wg-quick's own default MTU: 1500 minus the worst-case WireGuard overhead over IPv6
 * (40 IPv6 + 8 UDP + 32 WireGuard), so the tunnel works whichever family the endpoints use.
 */
export const TOPOLOGY_DEFAULTS = {
  gossip: {
    port: 4001,
    security: 'plaintext' as GossipSecurity,
    tls: {
      cert_file: '/etc/corrosion/tls/server_cert.pem',
      key_file: '/etc/corrosion/tls/server_key.pem',
      ca_file: '/etc/corrosion/tls/ca_cert.pem',
      client_cert_file: '/etc/corrosion/tls/client_cert.pem',
      client_key_file: '/etc/corrosion/tls/client_key.pem',
    },
  },
  wireguard: {port: 51820, network: '10.50.0.0/16', ipv6_network: 'auto', mtu: 1420, persistent_keepalive: 25, interface: 'wg0'},
  // 9091, not 9090: a Prometheus server on a POP host keeps its own 9090.
  ports: {proxy: 8080, tls: 8443, api: 8081, corrosion_api: 8090, metrics: 9091},
} as const

/** A complete example in the documented shape (README, `--help`, the wizard's starting point). */
export const TOPOLOGY_EXAMPLE_YAML = `# edgeproxy topology: one entry per POP. Optional keys show their defaults.
cluster: edge
gossip:
  port: 4001                  # Corrosion gossip, QUIC over UDP, on the WireGuard addresses
  security: plaintext         # plaintext (WireGuard already encrypts) or tls
  # tls: { cert_file: /etc/corrosion/tls/server_cert.pem, key_file: /etc/corrosion/tls/server_key.pem, ca_file: /etc/corrosion/tls/ca_cert.pem,
  #        client_cert_file: /etc/corrosion/tls/client_cert.pem, client_key_file: /etc/corrosion/tls/client_key.pem }
wireguard:
  port: 51820                 # UDP, open to the internet
  network: 10.50.0.0/16       # every wireguard_address lies inside it
  ipv6_network: auto          # 6PN: an RFC 4193 /48 made once and kept in secrets.json, or fdXX:XXXX:XXXX::/48
  mtu: 1420                   # wg0 MTU; gossip.max_mtu is derived from it
  persistent_keepalive: 25    # seconds, 0 = off
  interface: wg0
ports: { proxy: 8080, tls: 8443, api: 8081, corrosion_api: 8090, metrics: 9091 }
pops:
  - { name: sa, region: sa, country: BR, public_address: 203.0.113.10, wireguard_address: 10.50.1.1 }
  - { name: us, region: us, public_address: 198.51.100.7, wireguard_address: 10.50.2.1 }
  - { name: eu, region: eu, country: DE, public_address: "2001:db8::20", wireguard_address: 10.50.3.1 }
`
