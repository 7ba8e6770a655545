// The 6PN lab: the deployment `edgeproxy pop generate-config` writes for one topology, brought up for
// real on this machine. One network namespace per POP, a client namespace and an "internet"
// namespace (a bridge every other namespace is joined to by a veth pair); each POP's generated
// wg0.conf on userspace WireGuard (wireguard-go), its Corrosion agent (the test emulator, replicating
// to the other POPs' agents over HTTP on the WireGuard addresses) and its edgeproxy on its generated
// edgeproxy.env. A backend at one POP listens on its 6PN address only; the lab checks that clients
// at the other POPs are proxied to it across the mesh over IPv6, that every pair of POPs completed a
// WireGuard handshake, and that taking one POP's wg0 down removes its backends and nothing else.
// Everything it made is removed at the end, also on failure or Ctrl-C.
//
//   sudo node --import tsx scripts/sixpn-lab.ts [--topology FILE] [--json] [--prefix NAME] [--fail-after STEP]
// (LAB_DEBUG=1 prints each teardown step.)
//
// Needs root, iproute2 (ip netns, veth, bridge), wireguard-go, wireguard-tools (wg, wg-quick),
// util-linux (unshare, nsenter), and a built dist/ (npm run build).
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import util, {parseArgs} from 'node:util'

import {parse as parseToml} from 'smol-toml'

import {NODE_TUNING} from '../src/cli/node-tuning.js'
import {parseIpv6, parsePrefix, prefixContains} from '../src/sixpn/index.js'
import {loadTopologyFile} from '../src/topology/index.js'
import {hasCommand, netnsList, run, startTracked, Teardown, type Tracked} from './lab/host.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BIN = path.join(ROOT, 'bin/run.js')
const NS_AGENT = path.join(ROOT, 'scripts/lab/ns-agent.mjs')
const PEER_CLI = path.join(ROOT, 'test/support/corrosion-emulator/peer-cli.ts')
export const DEFAULT_LAB_TOPOLOGY = path.join(ROOT, 'test/fixtures/pop-three/topology.yaml')

/** Where the lab stops with an error on purpose (--fail-after), to show the teardown holds. */
export const LAB_STEPS = ['namespaces', 'wireguard', 'pops', 'registered'] as const
export type LabStep = (typeof LAB_STEPS)[number]

/** What edgeproxy.env gets on top of the generated values, and why. */
export const LAB_ENV_ADJUSTMENTS: Record<string, string> = {
  EDGEPROXY_LOG_FORMAT: 'json', // the lab reads events (api_request, store_reloaded) from the logs
  EDGEPROXY_DEBUG: 'true', // store_reloaded and api_request are debug events
  EDGEPROXY_HEARTBEAT_TTL_SECS: '600', // the lab's backends register once and send no heartbeats
  EDGEPROXY_CONNECT_TIMEOUT_SECS: '1', // a backend behind a downed wg0 is given up after 1 s, not 3
  EDGEPROXY_SHUTDOWN_TIMEOUT_SECS: '1', // quick teardown
}

const BACKEND_PORT = 9000
/** The client's addresses on the lab's internet (RFC 6598 shared space, and a ULA). */
const CLIENT_ADDRESSES = ['100.64.0.254', 'fdff:1ab::fe']
const LAB_APP = 'lab'

export interface LabOptions {
  topology: string
  /** Namespace name prefix, unique per run (default: ep6 + pid + random). */
  prefix?: string
  failAfter?: LabStep
  /** Aborting tears everything down at once; the run then fails. */
  signal?: AbortSignal
  log?: (line: string) => void
}

export interface RoutableTiming {
  pop: string
  /** From the register request reaching the origin POP (its log) to the table update that made it routable here (this POP's log). */
  routableMs: number
  /** From the register request to the first connection through this POP's proxy that reached it (when it was the only backend). */
  firstProxiedMs?: number
  /** How long that connection took to get the backend's first line. */
  firstProxiedConnectMs?: number
}

export interface LabReport {
  prefix: string
  topology: string
  network: string
  pops: Array<{name: string; namespace: string; publicAddress: string; subnet: string; wireguardAddress: string}>
  /** Every ordered pair (a sees b) with its latest-handshake age in seconds, after the traffic checks. */
  handshakes: Array<{pop: string; peer: string; ageSecs: number}>
  backends: Array<{id: string; pop: string; address: string; registeredMs: number; routable: RoutableTiming[]}>
  /** Client connections through each POP: who answered, and the address the backend saw. */
  proxied: Array<{via: string; from: 'client' | 'pop'; backend: string; seenFrom: string; expectedFrom: string}>
  /** From each other POP: `<app>.internal` AAAA asked of the backend's POP's DNS (its 6PN ::3, across the mesh), then the answer dialled. */
  dns: Array<{from: string; server: string; addresses: string[]; dialled: string}>
  isolation: {
    stopped: string
    unreachable: Array<{from: string; address: string; code: string; ms: number}>
    stillReachable: Array<{from: string; to: string; address: string}>
    proxiedAfter: Array<{via: string; backend: string; ms: number}>
  }
  envAdjustments: Record<string, string>
  durationMs: number
  teardown: {failures: string[]; leftoverNamespaces: string[]}
}

/** Why the lab cannot run here; empty when it can. */
export async function labPrerequisites(): Promise<string[]> {
  const missing: string[] = []
  if (process.platform !== 'linux') return [`network namespaces need Linux (this is ${process.platform})`]
  if (process.getuid?.() !== 0) missing.push('needs root (network namespaces, veth links, WireGuard interfaces)')
  for (const [command, pkg] of [
    ['ip', 'iproute2'],
    ['wireguard-go', 'wireguard-go'],
    ['wg', 'wireguard-tools'],
    ['wg-quick', 'wireguard-tools'],
    ['unshare', 'util-linux'],
    ['nsenter', 'util-linux'],
  ] as const) {
    if (!hasCommand(command)) missing.push(`${command} is not installed (apt-get install ${pkg})`)
  }
  if (!fs.existsSync(path.join(ROOT, 'dist/commands'))) missing.push('dist/ is not built (npm run build)')
  if (missing.length === 0) {
    const probe = `ep6probe${process.pid}`
    const added = await run('ip', ['netns', 'add', probe], {allowFail: true})
    if (added.code !== 0) missing.push(`ip netns add fails here: ${added.stderr.trim()}`)
    else await run('ip', ['netns', 'del', probe], {allowFail: true})
  }
  return missing
}

// ---- reading the generated files ---------------------------------------------------------------

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
    if (m) env[m[1]!] = m[2]!
  }
  return env
}

/** [Interface] Address list, MTU and PostUp commands of a wg-quick file (the keys `wg setconf` does not take). */
function wgQuickInterface(text: string): {addresses: string[]; mtu?: number; postUp: string[]} {
  let section = ''
  const out: {addresses: string[]; mtu?: number; postUp: string[]} = {addresses: [], postUp: []}
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim()
    if (line.startsWith('[')) section = line
    const m = /^(\w+)\s*=\s*(.+)$/.exec(line)
    if (!m || section !== '[Interface]') continue
    if (m[1] === 'Address') out.addresses.push(...m[2]!.split(',').map((a) => a.trim()))
    if (m[1] === 'MTU') out.mtu = Number(m[2])
    if (m[1] === 'PostUp') out.postUp.push(m[2]!)
  }
  return out
}

interface LabPop {
  name: string
  region: string
  index: number
  ns: string
  publicAddress: string
  labAddress: string
  dir: string
  iface: string
  env: Record<string, string>
  apiListen: string
  gossipAddr: string
  corrosionApi: string
  corrosionToken: string
  subnet: string
  wireguardAddress: string
  publicKey: string
  wg?: Tracked
  agent?: NsAgent
  emulator?: Tracked
  proxy?: Tracked
}

/** Talks to scripts/lab/ns-agent.mjs running inside one namespace. */
class NsAgent {
  private nextId = 1
  constructor(readonly process: Tracked) {}

  async request<T = Record<string, unknown>>(op: Record<string, unknown>, timeoutMs = 20_000): Promise<T & {ok: boolean; code?: string}> {
    const id = this.nextId++
    this.process.child.stdin!.write(JSON.stringify({id, ...op}) + '\n')
    const line = await this.process.waitForLine((l) => l.startsWith(`{"id":${id},`), timeoutMs)
    return JSON.parse(line) as T & {ok: boolean; code?: string}
  }
}

interface LogEvent {
  ts: string
  event: string
  [field: string]: unknown
}

function events(proxy: Tracked, from = 0): LogEvent[] {
  const out: LogEvent[] = []
  for (const line of proxy.lines.slice(from)) {
    if (!line.startsWith('{')) continue
    try {
      out.push(JSON.parse(line) as LogEvent)
    } catch {
      // not a log line
    }
  }
  return out
}

/**
 * Re-runs `check` after every output line of the running `triggers` (and at least every `everyMs`)
 * until it returns a value. Gives up at once when `isStopping()` (the lab is being torn down).
 */
async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  options: {triggers?: Tracked[]; triggerMatch?: (line: string) => boolean; timeoutMs?: number; everyMs?: number; isStopping: () => boolean},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (options.isStopping()) throw new Error(`${what}: the lab is being torn down`)
    const value = await check()
    if (value !== undefined) return value
    const remaining = deadline - Date.now()
    if (remaining <= 0) throw new Error(`${what}: not reached within ${timeoutMs} ms`)
    const running = (options.triggers ?? []).filter((t) => t.isRunning)
    const marks = running.map((t) => t.lines.length)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      new Promise((resolve) => (timer = setTimeout(resolve, Math.min(options.everyMs ?? 500, remaining)))),
      ...running.map((t, i) =>
        t.waitForLine((l) => t.lines.lastIndexOf(l) >= marks[i]! && (options.triggerMatch?.(l) ?? true), remaining).catch(() => new Promise((resolve) => setTimeout(resolve, 50))),
      ),
    ])
    clearTimeout(timer)
  }
}

// ---- the lab -----------------------------------------------------------------------------------

export async function runSixpnLab(options: LabOptions): Promise<LabReport> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`))
  const started = Date.now()
  const prefix = options.prefix ?? `ep6${process.pid.toString(36)}${randomBytes(2).toString('hex')}`
  if (!/^[a-z0-9]{1,10}$/.test(prefix)) throw new Error(`--prefix ${JSON.stringify(prefix)} must be 1-10 of a-z 0-9 (namespace names are built from it)`)
  const teardown = new Teardown()
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `edgeproxy-lab-${prefix}-`))
  teardown.push(`remove ${work}`, () => fs.rmSync(work, {recursive: true, force: true}))
  const isStopping = () => teardown.isClosing
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
  const failAfter = (step: LabStep) => {
    if (options.failAfter === step) throw new Error(`--fail-after ${step}: stopping on purpose to check the teardown`)
  }
  const namespaces: string[] = []
  options.signal?.addEventListener('abort', () => {
    log(`${String(options.signal!.reason ?? 'abort')}: tearing down now`)
    void teardown.run()
  })
  let report: Omit<LabReport, 'durationMs' | 'teardown'> | undefined
  let failure: unknown
  try {
    report = await bringUp()
  } catch (error) {
    failure = error
  }
  log('teardown: stopping processes, deleting namespaces')
  const failures = await teardown.run()
  const leftoverNamespaces = (await netnsList()).filter((n) => namespaces.includes(n) || n.startsWith(`${prefix}-`))
  if (options.signal?.aborted && !failure) failure = new Error(`aborted (${String(options.signal.reason)})`)
  if (failure) {
    const message = options.signal?.aborted ? `aborted (${String(options.signal.reason)}) during: ${(failure as Error).message}` : (failure as Error).message
    throw Object.assign(new Error(`${message}${failures.length > 0 ? `\nteardown problems: ${failures.join('; ')}` : ''}`), {cause: failure, leftoverNamespaces, teardownFailures: failures})
  }
  return {...report!, durationMs: Date.now() - started, teardown: {failures, leftoverNamespaces}}

  async function addNamespace(name: string): Promise<void> {
    await run('ip', ['netns', 'add', name])
    namespaces.push(name)
    teardown.push(`delete namespace ${name}`, async () => {
      await run('ip', ['netns', 'del', name])
    })
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  }

  async function bringUp(): Promise<Omit<LabReport, 'durationMs' | 'teardown'>> {
    // 1. The generated deployment, with a fresh secrets file (so a fresh RFC 4193 /48).
    const {topology} = loadTopologyFile(options.topology)
    for (const p of topology.pops) {
      if (p.publicAddressKind === 'hostname') throw new Error(`POP ${p.name}: public_address ${p.publicAddress} is a DNS name; the lab's internet has no DNS, use IP addresses`)
    }
    if (topology.pops.length < 2) throw new Error('the lab needs at least two POPs')
    const out = path.join(work, 'pops')
    const gen = await run(process.execPath, [BIN, 'pop', 'generate-config', '--topology', options.topology, '--out', out, '--json'])
    const generated = JSON.parse(gen.stdout) as {pops: Array<{name: string; region: string; wireguard_public_key: string; sixpn: {network: string; subnet: string; wireguard_address: string}}>}
    if (!generated.pops?.every((g) => g.sixpn)) throw new Error(`pop generate-config gave no 6PN plan: ${gen.stdout.slice(0, 800)} ${gen.stderr.slice(0, 800)}`)
    log(`generated ${generated.pops.length} POP folders in ${out} (6PN ${generated.pops[0]!.sixpn.network})`)

    const pops: LabPop[] = topology.pops.map((p, index) => {
      const g = generated.pops.find((x) => x.name === p.name)!
      const dir = path.join(out, p.name)
      const iface = topology.wireguard.interface
      const toml = parseToml(fs.readFileSync(path.join(dir, 'corrosion.toml'), 'utf8')) as {gossip: {addr: string}; api: {addr: string; authz: {'bearer-token': string}}}
      const env = parseEnvFile(fs.readFileSync(path.join(dir, 'edgeproxy.env'), 'utf8'))
      return {
        name: p.name,
        region: p.region,
        index,
        ns: `${prefix}-p${index}`,
        publicAddress: p.publicAddress,
        // The other family, so a POP can reach peers whose endpoint is of the family it lacks.
        labAddress: p.publicAddressKind === 'ipv6' ? `100.64.0.${index + 1}` : `fdff:1ab::${(index + 1).toString(16)}`,
        dir,
        iface,
        env,
        apiListen: env.EDGEPROXY_API_LISTEN_ADDR!,
        gossipAddr: toml.gossip.addr,
        corrosionApi: toml.api.addr,
        corrosionToken: toml.api.authz['bearer-token'],
        subnet: g.sixpn.subnet,
        wireguardAddress: g.sixpn.wireguard_address,
        publicKey: g.wireguard_public_key,
      }
    })
    const byKey = new Map(pops.map((p) => [p.publicKey, p]))
    const sixpnNetwork = parsePrefix(generated.pops[0]!.sixpn.network)
    for (const a of [...pops.map((p) => p.labAddress), ...CLIENT_ADDRESSES]) {
      const clash = pops.find((p) => p.publicAddress === a)
      if (clash || (a.includes(':') && prefixContains(sixpnNetwork, 6, parseIpv6(a)!))) {
        throw new Error(`the lab's own address ${a} clashes with ${clash ? `POP ${clash.name}'s public_address` : `the 6PN network ${generated.pops[0]!.sixpn.network}`}; change the topology`)
      }
    }

    // 2. The internet: a bridge in its own namespace; POPs and the client hang off it.
    const net = `${prefix}-net`
    const clientNs = `${prefix}-cl`
    await addNamespace(net)
    await run('ip', ['-n', net, 'link', 'add', 'br0', 'type', 'bridge'])
    // No multicast snooping: IPv6 neighbour discovery must flood before any MLD report is seen.
    await run('ip', ['-n', net, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0'], {allowFail: true})
    await run('ip', ['-n', net, 'link', 'set', 'br0', 'up'])
    const hosts = [...pops.map((p) => ({ns: p.ns, addresses: [p.publicAddress, p.labAddress], port: `p${p.index}`})), {ns: clientNs, addresses: CLIENT_ADDRESSES, port: 'cl'}]
    for (const h of hosts) {
      await addNamespace(h.ns)
      await run('ip', ['link', 'add', 'eth0', 'netns', h.ns, 'type', 'veth', 'peer', 'name', h.port, 'netns', net])
      await run('ip', ['-n', net, 'link', 'set', h.port, 'master', 'br0', 'up'])
      for (const a of h.addresses) {
        await run('ip', ['-n', h.ns, 'address', 'add', a.includes(':') ? `${a}/128` : `${a}/32`, 'dev', 'eth0', ...(a.includes(':') ? ['nodad'] : [])])
      }
      await run('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up'])
      await run('ip', ['-n', h.ns, 'route', 'add', 'default', 'dev', 'eth0'])
      await run('ip', ['-n', h.ns, '-6', 'route', 'add', 'default', 'dev', 'eth0'])
    }
    log(`namespaces (${elapsed()}): ${net} (bridge), ${clientNs} (client), ${pops.map((p) => `${p.ns} (${p.name} ${p.publicAddress})`).join(', ')}`)
    failAfter('namespaces')

    // 3. WireGuard: wireguard-go per POP in a private mount namespace with its own /run (its control
    // socket is /run/wireguard/<iface>.sock, which would clash between POPs and between concurrent
    // labs), then what wg-quick up does. Nothing is created in the host's /run.
    await Promise.all(pops.map((p) => bringUpWireguard(p)))
    const handshakesUp = await waitUntil(
      'a WireGuard handshake between every pair of POPs',
      async () => {
        const all = await handshakeMatrix(pops, byKey)
        return all.length === pops.length * (pops.length - 1) && all.every((h) => h.ageSecs >= 0) ? all : undefined
      },
      {triggers: pops.map((p) => p.wg!), triggerMatch: (l) => /handshake/i.test(l), isStopping},
    )
    log(`wireguard: ${pops.length} ${pops[0]!.iface} up; handshakes between all ${handshakesUp.length} ordered pairs (${elapsed()})`)
    failAfter('wireguard')

    // 4. Each POP's Corrosion agent (replicating over the WireGuard addresses) and edgeproxy.
    await Promise.all(pops.map((p) => bringUpPop(p, pops)))
    const client = await startAgent(clientNs, 'client')
    log(`pops: corrosion emulator + edgeproxy running in every POP namespace (${elapsed()})`)
    failAfter('pops')

    // 5. A backend at the first POP on its 6PN address; clients elsewhere must reach it over the mesh.
    const [origin, second] = pops as [LabPop, LabPop]
    const others = pops.filter((p) => p !== origin)
    const first = await registerBackend(origin, pops, others, true)
    const proxied: LabReport['proxied'] = []
    for (const via of others) {
      const viaClient = await client.request<{text?: string}>({op: 'connect', host: via.publicAddress, port: Number(via.env.EDGEPROXY_LISTEN_ADDR!.split(':').pop()), timeoutMs: 5000})
      const [backend, seenFrom] = (viaClient.text ?? '').split(' ')
      if (!viaClient.ok || backend !== first.id) throw new Error(`client → ${via.name} (${via.publicAddress}): expected ${first.id}, got ${JSON.stringify(viaClient)}`)
      proxied.push({via: via.name, from: 'client', backend: backend!, seenFrom: seenFrom!, expectedFrom: via.wireguardAddress})
      const inPop = await via.agent!.request<{text?: string}>({op: 'connect', host: '127.0.0.1', port: Number(via.env.EDGEPROXY_LISTEN_ADDR!.split(':').pop()), timeoutMs: 5000})
      const [backend2, seenFrom2] = (inPop.text ?? '').split(' ')
      if (!inPop.ok || backend2 !== first.id) throw new Error(`a client in ${via.name}'s namespace: expected ${first.id}, got ${JSON.stringify(inPop)}`)
      proxied.push({via: via.name, from: 'pop', backend: backend2!, seenFrom: seenFrom2!, expectedFrom: via.wireguardAddress})
    }
    for (const p of proxied) {
      if (p.seenFrom !== p.expectedFrom) throw new Error(`${p.backend} saw the connection through ${p.via} come from ${p.seenFrom}, not ${p.via}'s 6PN address ${p.expectedFrom}: it did not cross the mesh over IPv6`)
    }
    log(`proxied: ${proxied.map((p) => `${p.from === 'client' ? 'client' : `in-${p.via}`} → ${p.via} → ${p.backend} (seen from ${p.seenFrom})`).join('; ')}`)
    const handshakes = await handshakeMatrix(pops, byKey)
    const missing = handshakes.filter((h) => h.ageSecs < 0)
    if (handshakes.length !== pops.length * (pops.length - 1) || missing.length > 0) throw new Error(`wg show: no handshake for ${missing.map((h) => `${h.pop}→${h.peer}`).join(', ')}`)
    log(`wg show latest-handshakes: ${handshakes.map((h) => `${h.pop}→${h.peer} ${h.ageSecs} s ago`).join(', ')}`)

    // Internal DNS over 6PN: from each other POP, ask the backend's POP's DNS listener (its ::3, reached
    // through the mesh) for <app>.internal AAAA, then dial the address it answers.
    const dnsServer = origin.env.EDGEPROXY_DNS_LISTEN_ADDR?.split(',').find((a) => a.startsWith('['))
    if (dnsServer === undefined) throw new Error(`${origin.name}'s edgeproxy.env turns on no IPv6 DNS listener: ${origin.env.EDGEPROXY_DNS_LISTEN_ADDR}`)
    const dns: LabReport['dns'] = []
    for (const o of others) {
      const out = await run('ip', ['netns', 'exec', o.ns, process.execPath, BIN, 'dns', 'query', `${LAB_APP}.internal`, '--type', 'AAAA', '--server', dnsServer, '--json'])
      const answer = JSON.parse(out.stdout) as {rcode: string; answers: Array<{type: string; data: string}>}
      const addresses = answer.answers.filter((a) => a.type === 'AAAA').map((a) => a.data)
      if (answer.rcode !== 'NOERROR' || !addresses.includes(first.address)) throw new Error(`${o.name} asked ${dnsServer} for ${LAB_APP}.internal AAAA: ${out.stdout}`)
      const dialled = await o.agent!.request<{text?: string}>({op: 'connect', host: first.address, port: BACKEND_PORT, timeoutMs: 5000})
      if (!dialled.ok || !dialled.text?.startsWith(`${first.id} `)) throw new Error(`${o.name} dialled ${first.address} from DNS: ${JSON.stringify(dialled)}`)
      dns.push({from: o.name, server: dnsServer, addresses, dialled: dialled.text.split(' ')[0]!})
    }
    log(`dns: ${dns.map((d) => `${d.from} asked ${d.server} for ${LAB_APP}.internal AAAA → ${d.addresses.join(', ')}, dialled ${d.dialled}`).join('; ')}`)
    failAfter('registered')

    // 6. A second backend, then the first POP's wg0 goes down: its backend must become unreachable
    // from every other POP, while the rest of the mesh keeps working.
    const secondBackend = await registerBackend(second, pops, pops.filter((p) => p !== second), false)
    await run('ip', ['-n', origin.ns, 'link', 'del', origin.iface])
    await origin.wg!.exited
    log(`isolation: ${origin.name}'s ${origin.iface} deleted (wg-quick down); wireguard-go exited`)
    const unreachable: LabReport['isolation']['unreachable'] = []
    const stillReachable: LabReport['isolation']['stillReachable'] = []
    await Promise.all(
      others.map(async (o) => {
        const [gone, kept] = await Promise.all([
          o.agent!.request({op: 'connect', host: first.address, port: BACKEND_PORT, timeoutMs: 2000}),
          o === second ? undefined : o.agent!.request<{text?: string}>({op: 'connect', host: secondBackend.address, port: BACKEND_PORT, timeoutMs: 3000}),
        ])
        if (gone.ok) throw new Error(`${o.name} still reaches ${first.id} at ${first.address} with ${origin.name}'s ${origin.iface} down`)
        unreachable.push({from: o.name, address: first.address, code: gone.code ?? '?', ms: (gone as {ms?: number}).ms ?? 0})
        if (!kept) return
        if (!kept.ok || !kept.text?.startsWith(`${secondBackend.id} `)) throw new Error(`${o.name} lost ${secondBackend.id} at ${secondBackend.address} when only ${origin.name} went down: ${JSON.stringify(kept)}`)
        stillReachable.push({from: o.name, to: second.name, address: secondBackend.address})
      }),
    )
    const proxiedAfter: LabReport['isolation']['proxiedAfter'] = []
    for (const via of others) {
      const r = await client.request<{text?: string; ms?: number}>({op: 'connect', host: via.publicAddress, port: Number(via.env.EDGEPROXY_LISTEN_ADDR!.split(':').pop()), timeoutMs: 8000})
      const backend = (r.text ?? '').split(' ')[0]
      if (!r.ok || backend !== secondBackend.id) throw new Error(`client → ${via.name} after ${origin.name} went down: expected ${secondBackend.id}, got ${JSON.stringify(r)}`)
      proxiedAfter.push({via: via.name, backend: backend!, ms: r.ms ?? 0})
    }
    const after = await handshakeMatrix(others, byKey)
    const broken = after.filter((h) => h.ageSecs < 0)
    if (broken.length > 0) throw new Error(`the remaining POPs lost handshakes: ${broken.map((h) => `${h.pop}→${h.peer}`).join(', ')}`)
    log(
      `isolation: ${first.id} unreachable from ${unreachable.map((u) => `${u.from} (${u.code} after ${u.ms} ms)`).join(', ')}; ` +
        `${secondBackend.id} still reachable${stillReachable.length > 0 ? ` from ${stillReachable.map((s) => s.from).join(', ')}` : ''}; ` +
        `clients now proxied to ${secondBackend.id} via ${proxiedAfter.map((p) => `${p.via} (${p.ms} ms)`).join(', ')}`,
    )

    return {
      prefix,
      topology: options.topology,
      network: generated.pops[0]!.sixpn.network,
      pops: pops.map((p) => ({name: p.name, namespace: p.ns, publicAddress: p.publicAddress, subnet: p.subnet, wireguardAddress: p.wireguardAddress})),
      handshakes,
      backends: [first, secondBackend],
      proxied,
      dns,
      isolation: {stopped: origin.name, unreachable, stillReachable, proxiedAfter},
      envAdjustments: LAB_ENV_ADJUSTMENTS,
    }
  }

  async function bringUpWireguard(p: LabPop): Promise<void> {
    const wg = startTracked(
      teardown,
      `${p.name} wireguard-go`,
      'ip',
      ['netns', 'exec', p.ns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs lab-run /run && exec wireguard-go -f ${p.iface}`],
      {env: {...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', LOG_LEVEL: 'verbose'}, log},
    )
    p.wg = wg
    await wg.waitForLine(/UAPI listener started/)
    const conf = path.join(p.dir, `${p.iface}.conf`)
    const stripped = path.join(work, `${p.name}.${p.iface}.setconf`)
    fs.writeFileSync(stripped, (await run('wg-quick', ['strip', conf])).stdout, {mode: 0o600})
    await run('nsenter', ['-t', String(wg.pid), '-m', '-n', 'wg', 'setconf', p.iface, stripped])
    const {addresses, mtu, postUp} = wgQuickInterface(fs.readFileSync(conf, 'utf8'))
    for (const address of addresses) await run('ip', ['-n', p.ns, 'address', 'add', address, 'dev', p.iface, ...(address.includes(':') ? ['nodad'] : [])])
    await run('ip', ['-n', p.ns, 'link', 'set', 'mtu', String(mtu ?? 1420), 'up', 'dev', p.iface])
    // wg-quick runs PostUp once the interface is up (%i is the interface): e.g. the internal DNS ::3 on lo.
    for (const command of postUp) await run('ip', ['netns', 'exec', p.ns, 'sh', '-c', command.replace(/%i/g, p.iface)])
    // wg-quick: a route for every AllowedIPs entry not already covered by one on this interface, longest prefix first.
    const allowed = (await run('nsenter', ['-t', String(wg.pid), '-m', '-n', 'wg', 'show', p.iface, 'allowed-ips'])).stdout
      .split('\n')
      .flatMap((l) => l.split('\t')[1]?.split(' ') ?? [])
      .filter((c) => /^[0-9a-f:.]+\/\d+$/.test(c))
      .sort((a, b) => Number(b.split('/')[1]) - Number(a.split('/')[1]))
    for (const cidr of allowed) {
      const family = cidr.includes(':') ? '-6' : '-4'
      const existing = await run('ip', ['-n', p.ns, family, 'route', 'show', 'dev', p.iface, 'match', cidr])
      if (existing.stdout.trim() === '') await run('ip', ['-n', p.ns, family, 'route', 'add', cidr, 'dev', p.iface])
    }
  }

  async function startAgent(ns: string, label: string): Promise<NsAgent> {
    const agent = startTracked(teardown, `${label} ns-agent`, 'ip', ['netns', 'exec', ns, process.execPath, NS_AGENT], {log})
    await agent.waitForLine(/"ready":true/)
    return new NsAgent(agent)
  }

  async function bringUpPop(p: LabPop, pops: LabPop[]): Promise<void> {
    p.agent = await startAgent(p.ns, p.name)
    const peers = pops.filter((o) => o !== p).map((o) => ['--peer', `http://${o.gossipAddr}`])
    fs.mkdirSync(path.join(work, p.name), {recursive: true})
    p.emulator = startTracked(
      teardown,
      `${p.name} corrosion`,
      'ip',
      ['netns', 'exec', p.ns, process.execPath, '--import', 'tsx', PEER_CLI, '--api', p.corrosionApi, '--db', path.join(work, p.name, 'state.db'), '--schema-dir', path.join(p.dir, 'schema'), `--token=${p.corrosionToken}`, '--gossip', p.gossipAddr, ...peers.flat()],
      {cwd: ROOT, log},
    )
    await p.emulator.waitForLine(/corrosion emulator listening/, 30_000)
    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EDGEPROXY_') && k !== 'DEBUG' && k !== 'NODE_OPTIONS') env[k] = v
    p.proxy = startTracked(teardown, `${p.name} edgeproxy`, 'ip', ['netns', 'exec', p.ns, process.execPath, ...NODE_TUNING.flags, BIN, 'start'], {env: {...env, ...NODE_TUNING.env, ...p.env, ...LAB_ENV_ADJUSTMENTS, NO_COLOR: '1'}, log})
    await p.proxy.waitForLine((l) => l.includes('"event":"started"'), 30_000)
  }

  /** `pop address`, the address on the POP's loopback, a backend listening there, `backend register`. */
  async function registerBackend(at: LabPop, pops: LabPop[], observers: LabPop[], isOnlyBackend: boolean): Promise<LabReport['backends'][number]> {
    const id = `${at.name}-${LAB_APP}-1`
    const addressOut = await run(process.execPath, [BIN, 'pop', 'address', '--pop', at.name, '--app', LAB_APP, '--instance', '1', '--secrets', path.join(work, 'pops', 'secrets.json'), '--json'])
    const address = (JSON.parse(addressOut.stdout) as {address: string}).address
    // nodad: usable at once (a listen() while the address is still tentative gets EADDRNOTAVAIL).
    await run('ip', ['-n', at.ns, '-6', 'address', 'add', `${address}/128`, 'dev', 'lo', 'nodad'])
    const listening = await at.agent!.request({op: 'listen', host: address, port: BACKEND_PORT, greeting: id})
    if (!listening.ok) throw new Error(`backend ${id} cannot listen on [${address}]:${BACKEND_PORT}: ${JSON.stringify(listening)}`)
    const marks = new Map(pops.map((p) => [p, p.proxy!.lines.length]))
    // Watchers start before the registration, so what they time is the system, not this script.
    const routableAt = new Map(
      observers.map((o) => {
        const watch = (async () => {
          await waitUntil(
            `${id} routable at ${o.name}`,
            async () => {
              const r = await o.agent!.request<{status?: number; body?: string}>({
                op: 'http',
                url: `http://${o.apiListen}/api/v1/route?ip=100.64.0.254`,
                headers: {authorization: `Bearer ${o.env.EDGEPROXY_API_TOKEN}`},
              })
              if (!r.ok || r.status !== 200) return undefined
              const candidates = (JSON.parse(r.body!) as {candidates: Array<{id: string; eligible: boolean}>}).candidates
              return candidates.some((c) => c.id === id && c.eligible) ? true : undefined
            },
            {triggers: [o.proxy!], triggerMatch: (l) => l.includes('"event":"store_reloaded"'), timeoutMs: 30_000, isStopping},
          )
          // The routing-table update that made it routable here: the last one logged before the check passed.
          const reload = events(o.proxy!, marks.get(o))
            .filter((e) => e.event === 'store_reloaded')
            .pop()
          return reload ? Date.parse(reload.ts) : Date.now()
        })()
        watch.catch(() => {}) // awaited below; a failed registration must not leave it unhandled
        return [o, watch] as const
      }),
    )
    const proxiedAt = new Map(
      (isOnlyBackend ? observers : []).map((o) => {
        const port = Number(o.env.EDGEPROXY_LISTEN_ADDR!.split(':').pop())
        const watch = waitUntil(
          `a connection through ${o.name}'s proxy reaching ${id}`,
          async () => {
            const r = await o.agent!.request<{text?: string; ms?: number}>({op: 'connect', host: '127.0.0.1', port, timeoutMs: 3000})
            return r.ok && r.text?.startsWith(`${id} `) ? {at: Date.now(), ms: r.ms ?? 0} : undefined
          },
          {timeoutMs: 30_000, everyMs: 25, isStopping},
        )
        watch.catch(() => {})
        return [o, watch] as const
      }),
    )
    await run('ip', [
      'netns', 'exec', at.ns, process.execPath, BIN, 'backend', 'register',
      '--api-url', `http://${at.apiListen}`, '--id', id, '--app', LAB_APP, '--region', at.region, '--ip', address, '--port', String(BACKEND_PORT), '--json',
    ], {env: {...process.env, EDGEPROXY_API_TOKEN: at.env.EDGEPROXY_API_TOKEN!}})
    const registeredEvent = events(at.proxy!, marks.get(at)).find((e) => e.event === 'api_request' && e.method === 'POST' && e.path === '/api/v1/register' && e.status === 201)
    if (!registeredEvent) throw new Error(`${at.name} logged no api_request POST /api/v1/register 201`)
    // The request's arrival at the origin POP (the event is logged when the response has gone out,
    // after the write and its read-back, by which time other POPs may already have the row).
    const registeredAt = Math.round(Date.parse(registeredEvent.ts) - Number(registeredEvent.duration_ms ?? 0))
    log(`backend ${id} registered at ${at.name} (the API answered in ${Math.round(Number(registeredEvent.duration_ms ?? 0))} ms), listening on [${address}]:${BACKEND_PORT} (6PN only)`)

    const routable: RoutableTiming[] = []
    for (const o of observers) {
      const timing: RoutableTiming = {pop: o.name, routableMs: Math.round((await routableAt.get(o)!) - registeredAt)}
      const proxied = await proxiedAt.get(o)
      if (proxied) {
        timing.firstProxiedMs = proxied.at - registeredAt
        timing.firstProxiedConnectMs = proxied.ms
      }
      routable.push(timing)
    }
    routable.sort((a, b) => (a.pop < b.pop ? -1 : 1))
    log(
      `register → routable elsewhere (${id}): ${routable
        .map((r) => `${r.pop} ${r.routableMs} ms${r.firstProxiedMs === undefined ? '' : ` (a connection through its proxy reached it at ${r.firstProxiedMs} ms, taking ${r.firstProxiedConnectMs} ms)`}`)
        .join(', ')}`,
    )
    return {id, pop: at.name, address, registeredMs: registeredAt - started, routable}
  }
}

async function handshakeMatrix(pops: LabPop[], byKey: Map<string, LabPop>): Promise<LabReport['handshakes']> {
  const now = Math.floor(Date.now() / 1000)
  const out: LabReport['handshakes'] = []
  for (const p of pops) {
    if (!p.wg?.isRunning) continue
    const shown = await run('nsenter', ['-t', String(p.wg.pid), '-m', '-n', 'wg', 'show', p.iface, 'latest-handshakes'], {allowFail: true})
    for (const line of shown.stdout.trim().split('\n')) {
      const [key, secs] = line.split('\t')
      const peer = byKey.get(key ?? '')
      if (!peer || !pops.includes(peer)) continue
      out.push({pop: p.name, peer: peer.name, ageSecs: Number(secs) > 0 ? now - Number(secs) : -1})
    }
  }
  return out
}

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      topology: {type: 'string', default: DEFAULT_LAB_TOPOLOGY},
      prefix: {type: 'string'},
      'fail-after': {type: 'string'},
      json: {type: 'boolean', default: false},
      help: {type: 'boolean', short: 'h'},
    },
  })
  if (values.help) {
    process.stdout.write(`usage: node --import tsx scripts/sixpn-lab.ts [--topology FILE] [--json] [--prefix NAME] [--fail-after ${LAB_STEPS.join('|')}]\n`)
    return
  }
  const failAfter = values['fail-after'] as LabStep | undefined
  if (failAfter !== undefined && !LAB_STEPS.includes(failAfter)) throw new Error(`--fail-after must be one of ${LAB_STEPS.join(', ')}`)
  const reasons = await labPrerequisites()
  if (reasons.length > 0) {
    process.stderr.write(`sixpn-lab cannot run here:\n${reasons.map((r) => `  - ${r}`).join('\n')}\n`)
    process.exitCode = 3
    return
  }
  const log = (line: string) => process.stderr.write(`${line}\n`)
  const abort = new AbortController()
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => abort.abort(signal))
  // A bug that escapes as an uncaught exception must still not leave namespaces and processes behind.
  process.on('uncaughtException', (error) => {
    process.stderr.write(`sixpn-lab: uncaught ${error.stack ?? error.message}\n`)
    process.exitCode = 1
    abort.abort('an uncaught exception')
  })
  const report = await runSixpnLab({topology: values.topology!, prefix: values.prefix, failAfter, signal: abort.signal, log})
  if (values.json) process.stdout.write(JSON.stringify(report) + '\n')
  else {
    log(`done in ${(report.durationMs / 1000).toFixed(1)} s; nothing left behind${report.teardown.leftoverNamespaces.length > 0 ? ` EXCEPT namespaces ${report.teardown.leftoverNamespaces.join(', ')}` : ''}`)
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    const cause = (error as Error).cause as Error | undefined
    process.stderr.write(`sixpn-lab failed: ${process.env.LAB_DEBUG ? util.inspect(cause ?? error) : (error as Error).message}\n`)
    process.exitCode = 1
  })
}
