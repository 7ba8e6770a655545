// Public exports of src/topology (re-exported by src/index.ts).
export {
  TOPOLOGY_DEFAULTS,
  TOPOLOGY_EXAMPLE_YAML,
  type GossipSecurity,
  type GossipTlsFiles,
  type Topology,
  type TopologyPop,
} from './model.js'
export {
  loadTopologyFile,
  parseTopologyText,
  validateTopology,
  TOPOLOGY_NAME_PATTERN,
  WIREGUARD_MTU_RANGE,
  type ParsedTopology,
} from './parse-topology.js'
export {TopologyInvalidError, TopologyUnreadableError, formatProblem as formatTopologyProblem, type TopologyProblem} from './errors.js'
export {bootstrapFanout, bootstrapPeers, isBootstrapGraphConnected} from './bootstrap-graph.js'
export {renderTopologyYaml, topologyToDocument} from './render-topology.js'
export {
  ipv4InNetwork,
  ipv4ToNumber,
  numberToIpv4,
  parseIpv4HostAddress,
  parseIpv4Network,
  parsePublicAddress,
  type Ipv4Network,
  type PublicAddressKind,
} from '../net/address.js'
export {isIsoCountryCode} from '../geo/country-codes.js'
