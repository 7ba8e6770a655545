// Renders a Corrosion agent config in the format the real agent loads (corrosion-api.md §9): [db],
// [gossip] (+ [gossip.tls]), [api] (+ [api.authz]), [admin]. Only keys Corrosion knows, since it
// ignores unknown ones silently. Used by `pop generate-config` and `corrosion bootstrap` alike.
import net from 'node:net'

import {stringify} from 'smol-toml'

import {GeneratorInputError} from './errors.js'
import {QUIC_MIN_UDP_PAYLOAD} from './gossip-mtu.js'
import {formatSocketAddress, type CorrosionAgentModel} from './host-model.js'

type TomlScalar = string | number | boolean

/** Index of the first UTF-16 surrogate without its pair in `text`, or -1. */
function loneSurrogateAt(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
      else return i
    } else if (c >= 0xdc00 && c <= 0xdfff) return i
  }
  return -1
}

/**
 * The right-hand side of `key = value` as smol-toml writes it (its escaping is TOML's: control
 * characters and U+007F as \uXXXX). `key` is the dotted TOML key, named in the error: a string with a
 * lone surrogate has no UTF-8 form, so TOML cannot hold it, and smol-toml would write U+FFFD instead.
 */
export function tomlValue(key: string, value: TomlScalar | readonly string[]): string {
  for (const item of Array.isArray(value) ? value : [value]) {
    const at = typeof item === 'string' ? loneSurrogateAt(item) : -1
    if (at < 0) continue
    const unit = item.charCodeAt(at).toString(16).toUpperCase()
    throw new GeneratorInputError(
      key,
      `corrosion.toml ${key}: the value ${JSON.stringify(item)} holds a lone UTF-16 surrogate (U+${unit} at index ${at}), which no TOML file can hold`,
      `give ${key} a value made of whole Unicode characters (a surrogate pair, such as an emoji, is fine)`,
    )
  }
  const line = stringify({v: value})
  return line.slice('v = '.length, line.endsWith('\n') ? -1 : undefined)
}

/** `key = value\n`, the key being the last part of the dotted `path` (the section is already open). */
function entry(path: string, value: TomlScalar | readonly string[]): string {
  return `${path.slice(path.lastIndexOf('.') + 1)} = ${tomlValue(path, value)}\n`
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
  out.push(entry('db.path', agent.dbPath))
  out.push('# Corrosion applies the .sql files in these directories at start and on `corrosion reload`.\n')
  out.push(entry('db.schema_paths', [agent.schemaDir]))

  out.push('\n[gossip]\n')
  out.push('# QUIC over UDP: open this port to the other agents only (see firewall.sh).\n')
  out.push(entry('gossip.addr', formatSocketAddress(agent.gossipAddr)))
  out.push(comment([agent.bootstrapNote]))
  out.push(entry('gossip.bootstrap', agent.bootstrap))
  if (agent.transport.plaintext) {
    out.push(comment([agent.transport.reason]))
    out.push(entry('gossip.plaintext', true))
  } else {
    out.push('# Gossip is QUIC with mutual TLS (see [gossip.tls] below for exactly what is verified).\n')
    out.push(entry('gossip.plaintext', false))
  }
  if (agent.maxMtu) {
    out.push(comment(agent.maxMtu.explanation))
    out.push(entry('gossip.max_mtu', agent.maxMtu.value))
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
    out.push(entry('gossip.tls.cert_file', tls.certFile))
    out.push(entry('gossip.tls.key_file', tls.keyFile))
    out.push(entry('gossip.tls.ca_file', tls.caFile))
    out.push(entry('gossip.tls.insecure', false))
    out.push('\n[gossip.tls.client]\n')
    out.push('# The certificate this agent presents to its peers: mutual TLS.\n')
    out.push(entry('gossip.tls.client.cert_file', tls.clientCertFile))
    out.push(entry('gossip.tls.client.key_file', tls.clientKeyFile))
  }

  out.push('\n[api]\n')
  out.push(
    net.isIP(agent.apiAddr.host) && (agent.apiAddr.host.startsWith('127.') || agent.apiAddr.host === '::1')
      ? '# Loopback only: the HTTP API has no TLS; edgeproxy on this host talks to it here.\n'
      : '# Not loopback: the HTTP API has no TLS, so keep this address behind the firewall.\n',
  )
  out.push(entry('api.addr', formatSocketAddress(agent.apiAddr)))
  out.push('\n[api.authz]\n')
  out.push('# Every API request needs "Authorization: Bearer <token>" (EDGEPROXY_CORROSION_TOKEN in edgeproxy.env).\n')
  out.push(entry('api.authz.bearer-token', agent.bearerToken))

  out.push('\n[admin]\n')
  out.push(entry('admin.path', agent.adminPath))
  return out.join('')
}
