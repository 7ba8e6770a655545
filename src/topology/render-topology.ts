// Writes a Topology back as the YAML file the operator would have written (the wizard saves it so
// the run can be repeated with --topology). Every default is spelled out, so the file says it all.
import YAML from 'yaml'

import {anycastToDocument, popBgpToDocument} from './anycast.js'
import type {Topology} from './model.js'

/** The topology in its file shape (snake_case keys, as documented). */
export function topologyToDocument(topology: Topology): Record<string, unknown> {
  return {
    cluster: topology.cluster,
    gossip: {
      port: topology.gossip.port,
      security: topology.gossip.security,
      ...(topology.gossip.security === 'tls'
        ? {tls: {cert_file: topology.gossip.tls.certFile, key_file: topology.gossip.tls.keyFile, ca_file: topology.gossip.tls.caFile}}
        : {}),
    },
    wireguard: {
      port: topology.wireguard.port,
      network: topology.wireguard.network.text,
      ipv6_network: topology.wireguard.ipv6Network === 'auto' ? 'auto' : topology.wireguard.ipv6Network.prefix,
      mtu: topology.wireguard.mtu,
      persistent_keepalive: topology.wireguard.persistentKeepaliveSecs,
      interface: topology.wireguard.interface,
    },
    ports: {
      proxy: topology.ports.proxy,
      tls: topology.ports.tls,
      api: topology.ports.api,
      corrosion_api: topology.ports.corrosionApi,
      metrics: topology.ports.metrics,
    },
    pops: topology.pops.map((pop) => ({
      name: pop.name,
      region: pop.region,
      ...(pop.country ? {country: pop.country} : {}),
      public_address: pop.publicAddress,
      wireguard_address: pop.wireguardAddress,
      ...(pop.bgp ? {bgp: popBgpToDocument(pop.bgp)} : {}),
    })),
    ...(topology.anycast ? {anycast: anycastToDocument(topology.anycast)} : {}),
  }
}

export function renderTopologyYaml(topology: Topology): string {
  const header =
    '# edgeproxy topology (written by the pop generate-config wizard).\n' +
    `# Regenerate the POP configs with: edgeproxy pop generate-config --topology <this file> --out <dir>\n`
  return header + YAML.stringify(topologyToDocument(topology), {lineWidth: 0})
}
