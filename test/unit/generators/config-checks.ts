// Checks shared by the generator unit tests and the e2e tests: a corrosion.toml against Corrosion's
// real config rules (corrosion-api.md §9), a wg-quick file parser, and a BFS over bootstrap lists.
// Not a test file itself (no .test.ts), so the runner only loads it through the tests.
import assert from 'node:assert/strict'
import net from 'node:net'

import {parse as parseToml} from 'smol-toml'

/** A Rust SocketAddr literal: `1.2.3.4:5` or `[v6]:5`; returns undefined for anything else (hostnames included). */
export function parseSocketAddr(text: string): {host: string; port: number} | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text)
  if (!m) return undefined
  const host = m[1]!
  const port = Number(m[2])
  const family = net.isIP(host)
  if (family === 0 || port < 1 || port > 65_535) return undefined
  if (family === 6 && !text.startsWith('[')) return undefined
  return {host, port}
}

export function isLoopback(host: string): boolean {
  return (net.isIPv4(host) && host.startsWith('127.')) || host === '::1'
}

export interface CorrosionTomlFacts {
  gossipAddr: string
  bootstrap: string[]
  isPlaintext: boolean
  maxMtu?: number
  apiAddr: string
  bearerToken: string
  raw: Record<string, unknown>
}

type Table = Record<string, unknown>

function table(value: unknown, name: string): Table {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `[${name}] must be a table`)
  return value as Table
}

/** Parses with smol-toml and asserts every rule of §9 a generated agent config must meet. */
export function checkCorrosionToml(text: string, label = 'corrosion.toml'): CorrosionTomlFacts {
  const doc = parseToml(text) as Table
  const db = table(doc.db, `${label} db`)
  const gossip = table(doc.gossip, `${label} gossip`)
  const api = table(doc.api, `${label} api`)
  const admin = table(doc.admin, `${label} admin`)
  assert.equal(Object.keys(doc).sort().join(','), 'admin,api,db,gossip', `${label}: only Corrosion's sections (unknown keys are silently ignored)`)

  assert.equal(typeof db.path, 'string', `${label}: db.path is required`)
  assert.ok((db.path as string).startsWith('/'), `${label}: db.path is absolute`)
  assert.ok(Array.isArray(db.schema_paths) && db.schema_paths.length > 0, `${label}: db.schema_paths lists the schema directory`)
  for (const p of db.schema_paths as unknown[]) assert.ok(typeof p === 'string' && p.startsWith('/'), `${label}: schema path ${String(p)} is absolute`)

  const gossipAddr = gossip.addr ?? gossip.bind_addr
  assert.equal(typeof gossipAddr, 'string', `${label}: gossip.addr is required`)
  const gossipSocket = parseSocketAddr(gossipAddr as string)
  assert.ok(gossipSocket, `${label}: gossip.addr ${String(gossipAddr)} is a SocketAddr literal`)
  assert.ok(!['0.0.0.0', '::'].includes(gossipSocket.host), `${label}: gossip.addr is an address other agents can reach`)
  assert.ok(Array.isArray(gossip.bootstrap), `${label}: gossip.bootstrap is a list`)
  const bootstrap = gossip.bootstrap as string[]
  for (const entry of bootstrap) {
    assert.equal(typeof entry, 'string')
    assert.match(entry, /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}(@.+)?$/, `${label}: bootstrap entry ${entry} is host:port`)
  }
  assert.ok(!bootstrap.includes(gossipAddr as string), `${label}: bootstrap never lists the agent itself`)
  assert.equal(new Set(bootstrap).size, bootstrap.length, `${label}: bootstrap has no duplicates`)

  const isPlaintext = gossip.plaintext === true
  if (isPlaintext) {
    assert.equal(gossip.tls, undefined, `${label}: plaintext and tls are exclusive`)
  } else {
    // Otherwise the agent dies with "either plaintext or a tls config is required".
    const tls = table(gossip.tls, `${label} gossip.tls`)
    assert.equal(typeof tls.cert_file, 'string', `${label}: gossip.tls.cert_file`)
    assert.equal(typeof tls.key_file, 'string', `${label}: gossip.tls.key_file`)
    assert.ok(typeof tls.ca_file === 'string' || tls.insecure === true, `${label}: peers need ca_file (or insecure = true)`)
  }
  let maxMtu: number | undefined
  if (gossip.max_mtu !== undefined) {
    assert.ok(Number.isInteger(gossip.max_mtu), `${label}: max_mtu is an integer`)
    maxMtu = Number(gossip.max_mtu)
    assert.ok(maxMtu >= 1200 && maxMtu <= 65_535, `${label}: max_mtu ${maxMtu} is a u16 >= 1200`)
  }

  const apiAddr = api.addr ?? api.bind_addr
  assert.equal(typeof apiAddr, 'string', `${label}: api.addr is required`)
  const apiSocket = parseSocketAddr(apiAddr as string)
  assert.ok(apiSocket, `${label}: api.addr ${String(apiAddr)} is a SocketAddr literal`)
  assert.ok(isLoopback(apiSocket.host), `${label}: api.addr is on loopback`)
  const authz = table(api.authz ?? api.authorization, `${label} api.authz`)
  assert.deepEqual(Object.keys(authz), ['bearer-token'], `${label}: api.authz is the bearer-token variant`)
  assert.ok(typeof authz['bearer-token'] === 'string' && (authz['bearer-token'] as string).length >= 16, `${label}: bearer token set`)

  assert.equal(typeof (admin.path ?? admin.uds_path), 'string', `${label}: admin.path`)
  return {gossipAddr: gossipAddr as string, bootstrap, isPlaintext, maxMtu, apiAddr: apiAddr as string, bearerToken: authz['bearer-token'] as string, raw: doc}
}

export interface WgConf {
  interface: Record<string, string>
  peers: Array<Record<string, string>>
}

/** wg-quick's INI-like format: [Interface] once, [Peer] repeated; `#` comments. */
export function parseWgConf(text: string): WgConf {
  const conf: WgConf = {interface: {}, peers: []}
  let section: Record<string, string> | undefined
  let interfaces = 0
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim()
    if (line === '') continue
    if (line === '[Interface]') {
      interfaces++
      section = conf.interface
    } else if (line === '[Peer]') {
      section = {}
      conf.peers.push(section)
    } else {
      const eq = line.indexOf('=')
      assert.ok(eq > 0 && section, `wg conf line ${JSON.stringify(raw)} is key = value inside a section`)
      const key = line.slice(0, eq).trim()
      assert.equal(section[key], undefined, `wg conf key ${key} repeated in a section`)
      section[key] = line.slice(eq + 1).trim()
    }
  }
  assert.equal(interfaces, 1, 'exactly one [Interface]')
  return conf
}

/** Undirected BFS from the first node: true when every node is reached. */
export function isConnected(edges: ReadonlyMap<string, readonly string[]>): boolean {
  const nodes = [...edges.keys()]
  if (nodes.length === 0) return true
  const adjacent = new Map(nodes.map((n) => [n, new Set<string>()]))
  for (const [from, tos] of edges) {
    for (const to of tos) {
      assert.ok(adjacent.has(to), `edge to unknown node ${to}`)
      adjacent.get(from)!.add(to)
      adjacent.get(to)!.add(from)
    }
  }
  const seen = new Set([nodes[0]!])
  const queue = [nodes[0]!]
  while (queue.length > 0) for (const next of adjacent.get(queue.shift()!)!) if (!seen.has(next)) (seen.add(next), queue.push(next))
  return seen.size === nodes.length
}

/** KEY=value lines of an env file (comments and blanks skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue
    const m = /^([A-Z][A-Z0-9_]*)=(\S+)$/.exec(line)
    assert.ok(m, `env line ${JSON.stringify(line)} is KEY=value without quotes or spaces`)
    assert.equal(env[m[1]!], undefined, `${m[1]} set twice`)
    env[m[1]!] = m[2]!
  }
  return env
}
