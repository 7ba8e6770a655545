// The `pop generate-config` wizard: asks for the cluster, ports and POPs that a topology file holds,
// checks each answer with the same rules the file goes through, then saves the file so the run can
// be repeated with --topology. The questions go through a Prompter; it never renders configs.
import fs from 'node:fs'

import {REGIONS} from '../../balancer/regions.js'
import {writeFileAtomically} from '../../generators/write-output.js'
import {isIsoCountryCode} from '../../geo/country-codes.js'
import {ipv4InNetwork, ipv4ToNumber, isReservedInNetwork, numberToIpv4, parseIpv4HostAddress, parseIpv4Network, parsePublicAddress, type Ipv4Network} from '../../net/address.js'
import {TOPOLOGY_DEFAULTS} from '../../topology/model.js'
import {TOPOLOGY_NAME_PATTERN, validateTopology, type ParsedTopology} from '../../topology/parse-topology.js'
import {renderTopologyYaml} from '../../topology/render-topology.js'
import {PromptCancelledError, type Prompter} from './prompter.js'

export interface WizardResult {
  /** Where the topology was saved. */
  file: string
  parsed: ParsedTopology
}

function reason(check: () => unknown): true | string {
  try {
    check()
    return true
  } catch (error) {
    return (error as Error).message
  }
}

function portValidator(answer: string): true | string {
  return /^\d{1,5}$/.test(answer) && Number(answer) >= 1 && Number(answer) <= 65_535 ? true : `${JSON.stringify(answer)} is not a port 1-65535`
}

/** 10.50.0.0/16, POP #i → 10.50.<i+1>.1 when that fits the network, else the (i+1)th host. */
export function suggestWireguardAddress(network: Ipv4Network, index: number, taken: ReadonlySet<string>): string | undefined {
  const base = ipv4ToNumber(network.address)!
  const candidates = network.prefix <= 23 ? [base + (index + 1) * 256 + 1] : []
  for (let host = 1; host < 2 ** (32 - network.prefix) - 1 && candidates.length < 64; host++) candidates.push(base + index + host)
  for (const value of candidates) {
    const ip = numberToIpv4(value)
    if (ipv4InNetwork(ip, network) && !isReservedInNetwork(ip, network) && !taken.has(ip)) return ip
  }
  return undefined
}

export async function runTopologyWizard(prompter: Prompter, options: {defaultFile?: string} = {}): Promise<WizardResult> {
  const cluster = await prompter.input('Cluster name', {
    default: 'edge',
    validate: (v) => (TOPOLOGY_NAME_PATTERN.test(v) ? true : 'use 1-32 of a-z, 0-9 and "-"'),
  })
  const security = await prompter.select(
    'Corrosion gossip security',
    [
      {value: 'plaintext', name: 'plaintext (WireGuard already encrypts the traffic between POPs)'},
      {value: 'tls', name: 'tls (certificates from `corrosion tls`, on top of WireGuard)'},
    ] as const,
    'plaintext',
  )
  const networkText = await prompter.input('WireGuard network (CIDR)', {
    default: TOPOLOGY_DEFAULTS.wireguard.network,
    validate: (v) => reason(() => parseIpv4Network(v)),
  })
  const network = parseIpv4Network(networkText)
  const d = TOPOLOGY_DEFAULTS
  const ports: Record<'proxy' | 'tls' | 'api' | 'corrosion_api' | 'metrics', number> = {...d.ports}
  let gossipPort: number = d.gossip.port
  let wireguardPort: number = d.wireguard.port
  const isDefaultPorts = await prompter.confirm(
    `Default ports? proxy ${ports.proxy}, TLS ${ports.tls}, API ${ports.api}, Corrosion API ${ports.corrosion_api}, metrics ${ports.metrics} (TCP); gossip ${gossipPort}, WireGuard ${wireguardPort} (UDP)`,
    true,
  )
  if (!isDefaultPorts) {
    const ask = async (label: string, fallback: number) => Number(await prompter.input(label, {default: String(fallback), validate: portValidator}))
    ports.proxy = await ask('Proxy port (TCP)', ports.proxy)
    ports.tls = await ask('TLS port (TCP)', ports.tls)
    ports.api = await ask('Auto-Discovery API port (TCP, WireGuard only)', ports.api)
    ports.corrosion_api = await ask('Corrosion API port (TCP, loopback)', ports.corrosion_api)
    ports.metrics = await ask('Prometheus metrics port (TCP, WireGuard only)', ports.metrics)
    gossipPort = await ask('Corrosion gossip port (UDP, WireGuard only)', gossipPort)
    wireguardPort = await ask('WireGuard port (UDP, public)', wireguardPort)
  }

  const pops: Array<Record<string, string>> = []
  const names = new Set<string>()
  const publics = new Set<string>()
  const tunnels = new Set<string>()
  for (let i = 0; ; i++) {
    const name = await prompter.input(`POP #${i + 1} name`, {
      validate: (v) => (!TOPOLOGY_NAME_PATTERN.test(v) ? 'use 1-32 of a-z, 0-9 and "-"' : names.has(v) ? `${v} is already a POP` : true),
    })
    const region = await prompter.select(
      `Region of ${name}`,
      REGIONS.map((r) => ({value: r})),
      REGIONS.find((r) => r === name),
    )
    const country = await prompter.input(`Country of ${name} (ISO code, empty for none)`, {
      default: '',
      validate: (v) => (v === '' || isIsoCountryCode(v.toUpperCase()) ? true : `${JSON.stringify(v)} is not an ISO 3166-1 alpha-2 code`),
    })
    const publicAddress = await prompter.input(`Public address of ${name} (IP or DNS name other POPs reach)`, {
      validate: (v) =>
        reason(() => {
          const parsed = parsePublicAddress(v)
          if (publics.has(parsed.address)) throw new Error(`${v} is already another POP's address`)
        }),
    })
    const wireguardAddress = await prompter.input(`WireGuard address of ${name}`, {
      default: suggestWireguardAddress(network, i, tunnels),
      validate: (v) =>
        reason(() => {
          const ip = parseIpv4HostAddress(v)
          if (!ipv4InNetwork(ip, network)) throw new Error(`${v} is outside ${network.text}`)
          if (isReservedInNetwork(ip, network)) throw new Error(`${v} is the network or broadcast address`)
          if (tunnels.has(ip)) throw new Error(`${v} is already another POP's address`)
        }),
    })
    names.add(name)
    publics.add(parsePublicAddress(publicAddress).address)
    tunnels.add(parseIpv4HostAddress(wireguardAddress))
    pops.push({name, region, ...(country ? {country: country.toUpperCase()} : {}), public_address: publicAddress, wireguard_address: wireguardAddress})
    if (!(await prompter.confirm('Add another POP?', pops.length < 3))) break
  }

  const file = await prompter.input('Save the topology as', {
    default: options.defaultFile ?? 'topology.yaml',
    validate: (v) => (v === '' ? 'give a file name' : true),
  })
  if (fs.existsSync(file) && !(await prompter.confirm(`${file} exists. Overwrite it?`, false))) {
    throw new PromptCancelledError()
  }
  const document = {
    cluster,
    gossip: {port: gossipPort, security},
    wireguard: {port: wireguardPort, network: network.text},
    ports,
    pops,
  }
  const parsed = validateTopology(document, file)
  writeFileAtomically(file, renderTopologyYaml(parsed.topology), 0o644)
  return {file, parsed}
}
