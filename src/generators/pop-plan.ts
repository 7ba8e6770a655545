// `pop generate-config` without the CLI: a validated Topology plus the cluster's secrets become one
// HostModel per POP and the planned tree DIR/<pop>/… . Pure: same topology and secrets, same bytes.
// Reading the topology and writing files happen elsewhere (src/topology, write-output.ts).
import {DEFAULT_DNS_PORT} from '../dns/settings.js'
import net from 'node:net'

import {popAddresses, type SixpnState} from '../sixpn/address-plan.js'
import {findPrefixOverlaps, formatPrefix, parsePrefix, type IpPrefix} from '../sixpn/ipv6.js'
import type {Topology, TopologyPop} from '../topology/model.js'
import {bootstrapFanout, bootstrapPeers} from '../topology/bootstrap-graph.js'
import {anycastHostModel, apiBaseUrl} from './anycast-model.js'
import {gossipMaxMtuForTunnel} from './gossip-mtu.js'
import {renderHostFiles} from './host-files.js'
import {GeneratorInputError} from './errors.js'
import {DEFAULT_CORROSION_PATHS, DEFAULT_HOST_PATHS, formatSocketAddress, hostSecrets, TLS_OFF_UNTIL, type HostModel, type HostPaths, type SixpnModel, type WireguardModel} from './host-model.js'
import type {ClusterSecrets} from './secrets.js'
import {wireguardPublicKey} from './wireguard-keys.js'
import type {PlannedFile} from './write-output.js'

export const POP_GENERATOR = 'pop generate-config'
export const DEFAULT_SHUTDOWN_TIMEOUT_SECS = 30

export interface PopPlan {
  name: string
  region: string
  country?: string
  publicAddress: string
  wireguardAddress: string
  /** This POP's 6PN id, /64 and addresses. */
  sixpn?: SixpnModel
  wireguardPublicKey: string
  /** gossip.bootstrap entries, sorted. */
  bootstrap: string[]
  /** The POPs those entries belong to, in the same order. */
  bootstrapPeers: string[]
  /** Paths relative to the output directory. */
  files: string[]
  host: HostModel
}

export interface ClusterPlan {
  cluster: string
  /** Sorted by name. */
  pops: PopPlan[]
  /** Every POP's files, prefixed with the POP's folder. */
  files: PlannedFile[]
  /** Every secret value the files contain, for redaction. */
  secretValues: string[]
}

function endpoint(pop: TopologyPop, port: number): string {
  return pop.publicAddressKind === 'ipv6' ? `[${pop.publicAddress}]:${port}` : `${pop.publicAddress}:${port}`
}

function byName<T extends {name: string}>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

function sixpnModel(state: SixpnState | undefined, pop: string): SixpnModel | undefined {
  if (!state) return undefined
  const a = popAddresses(state, pop)
  return {network: a.network, popId: a.popId, subnet: a.subnet, wireguardAddress: a.wireguardAddress, dnsAddress: a.dnsAddress}
}

/**
 * A POP's routing table on its tunnel must be unambiguous: no peer's AllowedIPs may overlap another
 * peer's (WireGuard would route the overlap to one of them only) or this POP's own /64.
 */
export function checkAllowedIps(pop: string, wg: WireguardModel, ownSubnet?: string): void {
  const entries: Array<{what: string; prefix: IpPrefix}> = []
  if (ownSubnet) entries.push({what: `${pop}'s own 6PN subnet`, prefix: parsePrefix(ownSubnet)})
  for (const peer of wg.peers) {
    for (const cidr of [peer.allowedIp, peer.allowedIpv6]) if (cidr) entries.push({what: `peer ${peer.name}`, prefix: parsePrefix(cidr)})
  }
  const overlap = findPrefixOverlaps(entries)[0]
  if (overlap) {
    throw new GeneratorInputError(
      '--topology',
      `${pop}/${wg.interface}.conf: AllowedIPs ${formatPrefix(overlap.second.prefix)} of ${overlap.second.what} overlaps ${formatPrefix(overlap.first.prefix)} of ${overlap.first.what}`,
      'give every POP its own wireguard_address, and keep the pop_ids in the secrets file unique',
    )
  }
}

/** The HostModel of one POP. `secrets` must hold a WireGuard key for every POP (and a 6PN id when it has a plan). */
export function popHostModel(topology: Topology, pop: TopologyPop, secrets: ClusterSecrets, publicKeys: ReadonlyMap<string, string>, paths: HostPaths = DEFAULT_HOST_PATHS): HostModel {
  const peersByName = new Map(topology.pops.map((p) => [p.name, p]))
  const seedNames = bootstrapPeers(topology.pops.map((p) => p.name)).get(pop.name) ?? []
  const seeds = seedNames.map((n) => ({name: n, address: formatSocketAddress({host: peersByName.get(n)!.wireguardAddress, port: topology.gossip.port})}))
  seeds.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
  const privateKey = secrets.wireguardPrivateKeys[pop.name]
  if (privateKey === undefined) throw new Error(`no WireGuard key for POP ${pop.name}`)
  const anycast = topology.anycast && pop.bgp ? topology.anycast : undefined
  // An IPv6 anycast address needs the dual-stack listener even on an IPv4 POP.
  const anyAddress = pop.publicAddressKind === 'ipv6' || anycast?.addresses.some((a) => a.family === 6) ? '::' : '0.0.0.0'
  const corrosionApi = {host: '127.0.0.1', port: topology.ports.corrosionApi}
  const k = bootstrapFanout(topology.pops.length)
  const sixpn = sixpnModel(secrets.sixpn, pop.name)
  const gossipAddr = {host: pop.wireguardAddress, port: topology.gossip.port}
  // Internal DNS at the POP's private address: the 6PN ::3 (Fly's convention) when the cluster has
  // 6PN, else the IPv4 WireGuard address; loopback too, for tools on the host.
  const dnsResolver = {host: sixpn ? sixpn.dnsAddress : pop.wireguardAddress, port: DEFAULT_DNS_PORT}
  // On 6PN the /64 rule of firewall.sh already lets WireGuard peers reach ::3; on IPv4 it needs its own.
  const dnsRule = sixpn ? [] : [{port: DEFAULT_DNS_PORT, comment: 'edgeproxy internal DNS over WireGuard only'}]
  const host: HostModel = {
    cluster: topology.cluster,
    name: pop.name,
    region: pop.region,
    ...(pop.country ? {country: pop.country} : {}),
    generator: POP_GENERATOR,
    corrosion: {
      ...DEFAULT_CORROSION_PATHS,
      gossipAddr,
      bootstrap: seeds.map((s) => s.address),
      bootstrapNote:
        k === 0
          ? 'One POP only: no other agent to bootstrap from.'
          : `Partial seed list: POPs sorted by name form a ring and each lists the next ${k} (never itself); the lists join every POP, SWIM finds the rest.`,
      transport:
        topology.gossip.security === 'plaintext'
          ? {plaintext: true, reason: `Plaintext QUIC: gossip travels inside WireGuard (${topology.wireguard.interface}), which already encrypts and authenticates it.`}
          : {plaintext: false, tls: topology.gossip.tls},
      // Sized for the family gossip is carried in, so moving gossip onto 6PN keeps it consistent.
      maxMtu: gossipMaxMtuForTunnel(topology.wireguard.mtu, net.isIPv6(gossipAddr.host) ? 'ipv6' : 'ipv4'),
      apiAddr: corrosionApi,
      bearerToken: secrets.corrosionToken,
    },
    edgeproxy: {
      listen: {host: anyAddress, port: topology.ports.proxy},
      tlsListen: {host: anyAddress, port: topology.ports.tls},
      apiListen: {host: pop.wireguardAddress, port: topology.ports.api},
      apiToken: secrets.apiToken,
      corrosionApiUrl: `http://${formatSocketAddress(corrosionApi)}`,
      corrosionToken: secrets.corrosionToken,
      dns: {listen: [{host: '127.0.0.1', port: DEFAULT_DNS_PORT}, dnsResolver], domain: 'internal', resolver: dnsResolver},
      ...(secrets.metricsToken
        ? {
            metrics: {
              listen: {host: pop.wireguardAddress, port: topology.ports.metrics},
              token: secrets.metricsToken,
              targets: [...topology.pops].sort(byName).map((p) => ({pop: p.name, region: p.region, address: {host: p.wireguardAddress, port: topology.ports.metrics}})),
            },
          }
        : {}),
    },
    paths,
    firewall: {
      publicTcp: [
        {port: topology.ports.proxy, comment: 'edgeproxy TCP proxy'},
        {port: topology.ports.tls, comment: 'edgeproxy TLS', until: TLS_OFF_UNTIL},
      ],
      publicUdp: [{port: topology.wireguard.port, comment: 'WireGuard'}],
      privateInterface: topology.wireguard.interface,
      privateSource: topology.wireguard.network.text,
      privateDestination: pop.wireguardAddress,
      privateUdp: [{port: topology.gossip.port, comment: 'Corrosion gossip (QUIC) over WireGuard only'}, ...dnsRule],
      // No rule for the Corrosion API: it is bound to loopback, only edgeproxy on this host talks to it.
      privateTcp: [
        {port: topology.ports.api, comment: 'edgeproxy Auto-Discovery API over WireGuard only'},
        ...(secrets.metricsToken ? [{port: topology.ports.metrics, comment: 'edgeproxy Prometheus metrics over WireGuard only'}] : []),
        ...dnsRule,
      ],
      ...(sixpn ? {sixpn: {source: sixpn.network, destination: sixpn.subnet}} : {}),
    },
    wireguard: {
      interface: topology.wireguard.interface,
      address: `${pop.wireguardAddress}/${topology.wireguard.network.prefix}`,
      ...(sixpn ? {ipv6Address: `${sixpn.wireguardAddress}/128`, loopbackAddresses: [`${sixpn.dnsAddress}/128`]} : {}),
      listenPort: topology.wireguard.port,
      privateKey,
      publicKey: publicKeys.get(pop.name)!,
      mtu: topology.wireguard.mtu,
      persistentKeepaliveSecs: topology.wireguard.persistentKeepaliveSecs,
      peers: topology.pops
        .filter((p) => p.name !== pop.name)
        .sort(byName)
        .map((p) => ({
          name: p.name,
          region: p.region,
          publicKey: publicKeys.get(p.name)!,
          endpoint: endpoint(p, topology.wireguard.port),
          allowedIp: `${p.wireguardAddress}/32`,
          ...(secrets.sixpn ? {allowedIpv6: popAddresses(secrets.sixpn, p.name).subnet} : {}),
        })),
    },
    ...(sixpn ? {sixpn} : {}),
    tunnelUnit: {name: `wg-quick@${topology.wireguard.interface}.service`, isRequired: true},
    bootstrapPeerNames: seeds.map((s) => s.name),
    shutdownTimeoutSecs: DEFAULT_SHUTDOWN_TIMEOUT_SECS,
    ...(anycast && pop.bgp
      ? {
          anycast: anycastHostModel({
            pop: pop.name,
            anycast,
            bgp: pop.bgp,
            proxyPort: topology.ports.proxy,
            apiBaseUrl: apiBaseUrl({host: pop.wireguardAddress, port: topology.ports.api}),
          }),
        }
      : {}),
  }
  checkAllowedIps(pop.name, host.wireguard!, sixpn?.subnet)
  return host
}

/**
 * Every POP's folder. `secrets` comes from resolveClusterSecrets() with every POP name; `paths`: where
 * the binaries and files are installed on the POPs (--edgeproxy-bin).
 */
export function planPopConfigs(topology: Topology, secrets: ClusterSecrets, paths: HostPaths = DEFAULT_HOST_PATHS): ClusterPlan {
  const publicKeys = new Map(topology.pops.map((p) => [p.name, wireguardPublicKey(secrets.wireguardPrivateKeys[p.name] ?? '')]))
  const pops: PopPlan[] = []
  const files: PlannedFile[] = []
  const secretValues = new Set<string>([secrets.corrosionToken, secrets.apiToken, ...(secrets.metricsToken ? [secrets.metricsToken] : [])])
  for (const pop of [...topology.pops].sort(byName)) {
    const host = popHostModel(topology, pop, secrets, publicKeys, paths)
    const hostFiles = renderHostFiles(host).map((f) => ({...f, path: `${pop.name}/${f.path}`}))
    files.push(...hostFiles)
    for (const s of hostSecrets(host)) secretValues.add(s)
    pops.push({
      name: pop.name,
      region: pop.region,
      ...(pop.country ? {country: pop.country} : {}),
      publicAddress: pop.publicAddress,
      wireguardAddress: pop.wireguardAddress,
      ...(host.sixpn ? {sixpn: host.sixpn} : {}),
      wireguardPublicKey: publicKeys.get(pop.name)!,
      bootstrap: [...host.corrosion.bootstrap],
      bootstrapPeers: host.bootstrapPeerNames,
      files: hostFiles.map((f) => f.path),
      host,
    })
  }
  return {cluster: topology.cluster, pops, files, secretValues: [...secretValues]}
}
