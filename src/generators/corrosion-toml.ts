// Renders a Corrosion agent config in the format the real agent loads (corrosion-api.md §9): [db],
// [gossip] (+ [gossip.tls]), [api] (+ [api.authz]), [admin]. Only keys Corrosion knows, since it
// ignores unknown ones silently. Used by `pop generate-config` and `corrosion bootstrap` alike.
import net from 'node:net'

import {QUIC_MIN_UDP_PAYLOAD} from './gossip-mtu.js'
import {formatSocketAddress, type CorrosionAgentModel} from './host-model.js'

/** A TOML basic string; JSON's escapes are a subset of TOML's. */
export function tomlString(value: string): string {
  return JSON.stringify(value)
}

function tomlArray(values: readonly string[]): string {
  return `[${values.map(tomlString).join(', ')}]`
}

function comment(lines: readonly string[]): string {
  return lines.map((l) => `# ${l}\n`).join('')
}

function assertModel(agent: CorrosionAgentModel): void {
  for (const [key, address] of [
    ['gossip.addr', agent.gossipAddr],
    ['api.addr', agent.apiAddr],
  ] as const) {
    if (net.isIP(address.host) === 0) throw new Error(`${key} host ${JSON.stringify(address.host)} is not an IP literal (Corrosion rejects hostnames there)`)
  }
  if (agent.bootstrap.includes(formatSocketAddress(agent.gossipAddr))) throw new Error('gossip.bootstrap lists the agent itself')
  if (agent.maxMtu && agent.maxMtu.value < QUIC_MIN_UDP_PAYLOAD) throw new Error(`gossip.max_mtu ${agent.maxMtu.value} is below ${QUIC_MIN_UDP_PAYLOAD}`)
}

export function renderCorrosionAgentToml(agent: CorrosionAgentModel, header: readonly string[]): string {
  assertModel(agent)
  const out: string[] = []
  out.push(comment(header))
  out.push('\n[db]\n')
  out.push(`path = ${tomlString(agent.dbPath)}\n`)
  out.push('# Corrosion applies the .sql files in these directories at start and on `corrosion reload`.\n')
  out.push(`schema_paths = ${tomlArray([agent.schemaDir])}\n`)

  out.push('\n[gossip]\n')
  out.push('# QUIC over UDP: open this port to the other agents only (see firewall.sh).\n')
  out.push(`addr = ${tomlString(formatSocketAddress(agent.gossipAddr))}\n`)
  out.push(comment([agent.bootstrapNote]))
  out.push(`bootstrap = ${tomlArray(agent.bootstrap)}\n`)
  if (agent.transport.plaintext) {
    out.push(comment([agent.transport.reason]))
    out.push('plaintext = true\n')
  } else {
    out.push('# Gossip is QUIC with mutual TLS (see [gossip.tls] below for exactly what is verified).\n')
    out.push('plaintext = false\n')
  }
  if (agent.maxMtu) {
    out.push(comment(agent.maxMtu.explanation))
    out.push(`max_mtu = ${agent.maxMtu.value}\n`)
  }
  if (!agent.transport.plaintext) {
    const tls = agent.transport.tls
    out.push('\n[gossip.tls]\n')
    out.push(
      comment([
        'What the agents verify (corro-agent api/peer/mod.rs, rustls):',
        '- connecting, an agent checks the peer\'s server certificate chains to ca_file and names the IP address it',
        '  dialled (`corrosion tls server generate <ip>` puts that IP in the SAN); insecure = false keeps this on.',
        '- accepting, an agent requires a client certificate that chains to ca_file ([gossip.tls.client] turns this',
        '  on); the client certificate\'s name is not checked, so any holder of a CA-signed client certificate is a peer.',
        'Make the files with `corrosion tls ca generate`, `corrosion tls server generate <this agent\'s gossip IP>` and',
        '`corrosion tls client generate`, signed by the same CA on every agent; keep the keys 0600.',
      ]),
    )
    out.push(`cert_file = ${tomlString(tls.certFile)}\n`)
    out.push(`key_file = ${tomlString(tls.keyFile)}\n`)
    out.push(`ca_file = ${tomlString(tls.caFile)}\n`)
    out.push('insecure = false\n')
    out.push('\n[gossip.tls.client]\n')
    out.push('# The certificate this agent presents to its peers: mutual TLS.\n')
    out.push(`cert_file = ${tomlString(tls.clientCertFile)}\n`)
    out.push(`key_file = ${tomlString(tls.clientKeyFile)}\n`)
  }

  out.push('\n[api]\n')
  out.push(
    net.isIP(agent.apiAddr.host) && (agent.apiAddr.host.startsWith('127.') || agent.apiAddr.host === '::1')
      ? '# Loopback only: the HTTP API has no TLS; edgeproxy on this host talks to it here.\n'
      : '# Not loopback: the HTTP API has no TLS, so keep this address behind the firewall.\n',
  )
  out.push(`addr = ${tomlString(formatSocketAddress(agent.apiAddr))}\n`)
  out.push('\n[api.authz]\n')
  out.push('# Every API request needs "Authorization: Bearer <token>" (EDGEPROXY_CORROSION_TOKEN in edgeproxy.env).\n')
  out.push(`bearer-token = ${tomlString(agent.bearerToken)}\n`)

  out.push('\n[admin]\n')
  out.push(`path = ${tomlString(agent.adminPath)}\n`)
  return out.join('')
}
