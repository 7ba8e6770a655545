// Public exports of src/sixpn, the 6PN (IPv6 private network) address plan.
export {
  allocatePopIds,
  appHash16,
  backendAddress,
  MAX_INSTANCE,
  parseSixpnNetwork,
  popAddresses,
  POP_ID_RANGE,
  resolveSixpnState,
  sixpnStateProblems,
  type PopAddresses,
  type SixpnNetworkRequest,
  type SixpnResolution,
  type SixpnState,
} from './address-plan.js'
export {describePopAddress, type PopAddressRequest, type PopAddressResult} from './pop-address.js'
export {AddressInputError} from './errors.js'
export {generateUlaPrefix, ntpTimestamp, ulaGlobalId, ulaPrefixFromGlobalId, SYSTEM_ULA_SOURCE, type UlaSource} from './ula.js'
export {
  findPrefixOverlaps,
  formatIpv6,
  formatPrefix,
  parseIpv6,
  parsePrefix,
  prefixContains,
  prefixesOverlap,
  type IpFamily,
  type IpPrefix,
  type PrefixOverlap,
} from './ipv6.js'
