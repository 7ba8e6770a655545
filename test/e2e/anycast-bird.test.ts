// Live: two BIRD daemons peering on loopback (high ports, their own control sockets in a temp dir,
// a TCP-MD5 password), the generated bird.conf on the sending side with its peer pointed at the
// receiving one, and `edgeproxy anycast watch` (bin/run.js) against a real `edgeproxy start` with a
// real backend. Everything is read back with birdc on the receiver: the route appears only once the
// proxy is ready and has a routable backend, goes within fall × interval when the proxy stops or
// hangs (SIGSTOP), carries 65535:0 during `anycast drain` before it is withdrawn, stays withdrawn
// until `anycast resume`, comes back after every recovery, and the BGP session never drops.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {renderBirdConf} from '../../src/generators/bird-conf.js'
import {parseSecretsJson, planPopConfigs} from '../../src/generators/index.js'
import {parseTopologyText} from '../../src/topology/index.js'
import {startBackend, type TestBackend} from '../support/backends.js'
import {birdUnavailableReason, BIRDC, startBird, until, type BirdDaemon} from '../support/bird.js'
import {BIN, cleanEnv, ProxyProcess, ROOT, runCli, startProxy, tempDir, type LogEvent} from '../support/proxy-process.js'
import {assertDocumented} from '../support/json-shapes.js'
import {RoutingDb} from '../support/routing-db.js'

const PREFIX = '198.51.100.0/24'
const PASSWORD = 'md5-over-loopback'
const CHECK = {intervalMs: 300, timeoutMs: 200, rise: 2, fall: 2}
/** birdc configure, the UPDATE over loopback and our polling, on a machine other tests load too. */
const PROPAGATION_SLACK_MS = 1500

const skip = birdUnavailableReason()
if (skip) console.log(`# anycast-bird: skipping the live BIRD test: ${skip}`)

async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer()
  server.listen(0, host)
  await new Promise((r) => server.once('listening', r))
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((r) => server.close(() => r()))
  return port
}

/** The sending POP's bird.conf, made by the same planner and renderer as `pop generate-config`. */
function senderConfig(dir: string, ports: {sender: number; receiver: number}): string {
  const topology = parseTopologyText(
    `cluster: live
anycast:
  asn: 65010
  addresses: [198.51.100.10]
  announce: [${PREFIX}]
pops:
  - name: sa
    region: sa
    public_address: 203.0.113.10
    wireguard_address: 10.50.1.1
    bgp:
      router_id: 192.0.2.1
      peers:
        - { address: 127.0.0.2, port: ${ports.receiver}, asn: 65020, multihop: 2, password_env: EDGEPROXY_BGP_PASSWORD }
`,
    'live.yaml',
  ).topology
  const secrets = parseSecretsJson(fs.readFileSync(path.join(ROOT, 'test/fixtures/pop-three/secrets.json'), 'utf8'), 'secrets.json')
  const bird = planPopConfigs(topology, {...secrets, wireguardPrivateKeys: {sa: secrets.wireguardPrivateKeys.sa!}}).pops[0]!.host.anycast!.bird
  // On a POP BIRD listens on 179 and picks its source address; here: loopback, a high port.
  return renderBirdConf(
    {
      ...bird,
      gateFile: path.join(dir, 'anycast-gate.conf'),
      passwordsFile: path.join(dir, 'bgp-passwords.conf'),
      peers: bird.peers.map((p) => ({...p, localAddress: '127.0.0.1', localPort: ports.sender})),
    },
    ['live test'],
  )
}

function receiverConfig(ports: {sender: number; receiver: number}): string {
  return `router id 192.0.2.2;
protocol device {
}
protocol bgp from_pop {
  local 127.0.0.2 port ${ports.receiver} as 65020;
  neighbor 127.0.0.1 port ${ports.sender} as 65010;
  multihop 2;
  password "${PASSWORD}";
  connect delay time 1;
  ipv4 { import all; export none; };
}
`
}

interface SeenRoute {
  communities: string[]
  asPath: string
}

describe('anycast gate, live with two BIRD daemons', {skip}, () => {
  let tmp: ReturnType<typeof tempDir>
  let sender: BirdDaemon
  let receiver: BirdDaemon
  let backend: TestBackend
  let watcher: ProxyProcess | undefined
  let proxy: ProxyProcess | undefined
  let env: Record<string, string>
  let proxyEnv: Record<string, string>
  let sessionSince = ''
  const files = {gate: '', maintenance: '', status: ''}

  /** The route as the receiving BIRD has it, or undefined. */
  async function route(): Promise<SeenRoute | undefined> {
    const text = await receiver.birdc('show', 'route', 'all', PREFIX)
    if (text.includes('Network not found')) return undefined
    assert.ok(text.includes(PREFIX), text)
    return {communities: [...text.matchAll(/\((\d+),(\d+)\)/g)].map((m) => `${m[1]}:${m[2]}`), asPath: /BGP\.as_path: (.*)/.exec(text)?.[1]?.trim() ?? ''}
  }

  /** The session's line on the receiver: `up <since> Established` while it holds. */
  async function session(): Promise<{state: string; since: string; info: string}> {
    const line = (await receiver.birdc('show', 'protocols', 'from_pop')).split('\n').find((l) => l.startsWith('from_pop'))!
    const [, , , state = '', since = '', ...info] = line.trim().split(/\s+/)
    return {state, since, info: info.join(' ')}
  }

  async function assertSessionHeld(when: string): Promise<void> {
    assert.deepEqual(await session(), {state: 'up', since: sessionSince, info: 'Established'}, `the BGP session never dropped (${when})`)
  }

  /** Polls the receiver for `duration` and fails if the route ever shows up. */
  async function assertNoRouteFor(durationMs: number, why: string): Promise<void> {
    const end = Date.now() + durationMs
    while (Date.now() < end) {
      assert.equal(await route(), undefined, `no route ${why}`)
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  /** The first `event` the watcher logged after `mark` (an index into its events) that matches. */
  function eventAfter(w: ProxyProcess, mark: number, event: string, match: (e: LogEvent) => boolean): Promise<LogEvent> {
    return until(`the watcher's "${event}" event`, async () => w.events.slice(mark).find((e) => e.event === event && match(e)))
  }

  function startWatcher(): ProxyProcess {
    const child = spawn(process.execPath, [BIN, 'anycast', 'watch'], {cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe']})
    watcher = new ProxyProcess(child)
    return watcher
  }

  async function startTheProxy(): Promise<ProxyProcess> {
    proxy = await startProxy({env: proxyEnv})
    return proxy
  }

  before(async () => {
    tmp = tempDir('edgeproxy-anycast-')
    const ports = {sender: await freePort(), receiver: await freePort('127.0.0.2')}
    files.gate = path.join(tmp.dir, 'anycast-gate.conf')
    files.maintenance = path.join(tmp.dir, 'anycast.disabled')
    files.status = path.join(tmp.dir, 'status.json')
    env = {
      EDGEPROXY_ANYCAST_GATE_FILE: files.gate,
      EDGEPROXY_ANYCAST_MAINTENANCE_FILE: files.maintenance,
      EDGEPROXY_ANYCAST_STATUS_FILE: files.status,
      EDGEPROXY_ANYCAST_BIRD_PASSWORDS_FILE: path.join(tmp.dir, 'bgp-passwords.conf'),
      EDGEPROXY_ANYCAST_BIRD_SOCKET: path.join(tmp.dir, 'sender.ctl'),
      EDGEPROXY_ANYCAST_BIRDC: BIRDC,
      EDGEPROXY_LOG_FORMAT: 'json',
    }
    // What edgeproxy-anycast-setup.service does before BIRD starts: gate withdrawn, password include.
    const prepared = await runCli(['anycast', 'prepare', '--password-env', 'EDGEPROXY_BGP_PASSWORD', '--json'], {env: {...env, EDGEPROXY_BGP_PASSWORD: PASSWORD}})
    assert.equal(prepared.code, 0, prepared.stdout + prepared.stderr)
    assert.ok(!prepared.stdout.includes(PASSWORD), 'the password is never printed')
    assert.equal((fs.statSync(env.EDGEPROXY_ANYCAST_BIRD_PASSWORDS_FILE!).mode & 0o777).toString(8), '640')

    fs.writeFileSync(path.join(tmp.dir, 'bird.conf'), senderConfig(tmp.dir, ports))
    assert.ok(!fs.readFileSync(path.join(tmp.dir, 'bird.conf'), 'utf8').includes(PASSWORD))
    fs.writeFileSync(path.join(tmp.dir, 'receiver.conf'), receiverConfig(ports))
    receiver = await startBird(tmp.dir, 'receiver', path.join(tmp.dir, 'receiver.conf'))
    sender = await startBird(tmp.dir, 'sender', path.join(tmp.dir, 'bird.conf'))
    const established = await until('the BGP session', async () => ((await session()).info === 'Established' ? session() : undefined), 20_000, 100)
    sessionSince = established.since

    backend = await startBackend('b1')
    const db = path.join(tmp.dir, 'routing.db')
    const apiPort = await freePort()
    proxyEnv = {EDGEPROXY_LISTEN_ADDR: `127.0.0.1:${await freePort()}`, EDGEPROXY_API_LISTEN_ADDR: `127.0.0.1:${apiPort}`, EDGEPROXY_DB_PATH: db, EDGEPROXY_DB_RELOAD_SECS: '0.1', EDGEPROXY_SHUTDOWN_TIMEOUT_SECS: '2'}
    env.EDGEPROXY_ANYCAST_PROBE_ADDRS = proxyEnv.EDGEPROXY_LISTEN_ADDR!
    env.EDGEPROXY_ANYCAST_HEALTH_URL = `http://127.0.0.1:${apiPort}/health`
    env.EDGEPROXY_ANYCAST_INTERVAL_SECS = String(CHECK.intervalMs / 1000)
    env.EDGEPROXY_ANYCAST_TIMEOUT_SECS = String(CHECK.timeoutMs / 1000)
    env.EDGEPROXY_ANYCAST_RISE = String(CHECK.rise)
    env.EDGEPROXY_ANYCAST_FALL = String(CHECK.fall)
  })

  after(async () => {
    if (proxy) {
      proxy.child.kill('SIGCONT')
      await proxy.stop('SIGKILL')
    }
    await watcher?.stop('SIGKILL')
    await backend?.close()
    await sender?.stop()
    await receiver?.stop()
    tmp?.cleanup()
  })

  test('nothing is announced before the proxy is ready and has a routable backend', async () => {
    const w = startWatcher()
    await w.waitFor('started')
    const first = await w.waitFor('probe', (e) => e.ok === false)
    assert.match(String(first.reason), /^listener 127\.0\.0\.1:\d+: ECONNREFUSED$/)
    await assertNoRouteFor((CHECK.rise + 1) * CHECK.intervalMs, 'while no proxy runs')

    await startTheProxy()
    await until('a probe that reaches the proxy', async () => {
      const status = JSON.parse(fs.readFileSync(files.status, 'utf8')) as {lastProbe?: {reason?: string}}
      return /^backends .*: no routable backend$/.test(status.lastProbe?.reason ?? '') ? true : undefined
    })
    await assertNoRouteFor((CHECK.rise + 1) * CHECK.intervalMs, 'while the proxy has no routable backend')

    new RoutingDb(proxyEnv.EDGEPROXY_DB_PATH!).insert({id: 'b1', region: 'sa', port: backend.port})
    const seen = await until('the route on the receiver', route)
    assert.deepEqual(seen.communities, [], 'a plain announcement, no graceful-shutdown community')
    assert.equal(seen.asPath, '65010')
    const gate = await w.waitFor('gate', (e) => e.phase === 'announced')
    assert.equal(gate.from, 'withdrawn')
    await assertSessionHeld('after the first announcement')
  })

  test('a stopped proxy is withdrawn within fall × interval; it comes back after a restart', async () => {
    const w = watcher!
    const mark = w.events.length
    const stoppedAt = Date.now()
    const exited = proxy!.stop('SIGTERM')
    const decided = await eventAfter(w, mark, 'gate', (e) => e.phase === 'withdrawn')
    await until('the route to go', async () => ((await route()) === undefined ? true : undefined))
    const goneMs = Date.now() - stoppedAt
    const decidedMs = Date.parse(decided.ts) - stoppedAt
    console.log(`stop: withdraw decided after ${decidedMs} ms, route gone at the receiver after ${goneMs} ms (fall × interval = ${CHECK.fall * CHECK.intervalMs} ms)`)
    assert.ok(decidedMs <= CHECK.fall * CHECK.intervalMs + 250, `decided after ${decidedMs} ms`)
    assert.ok(goneMs <= CHECK.fall * CHECK.intervalMs + PROPAGATION_SLACK_MS, `gone after ${goneMs} ms`)
    assert.equal((await exited).code, 0)
    await assertSessionHeld('after the stop')

    await startTheProxy()
    await until('the route back', route)
    await assertSessionHeld('after the restart')
  })

  test('a hung proxy (SIGSTOP) is withdrawn within fall × interval + timeout; SIGCONT brings it back', async () => {
    const w = watcher!
    const mark = w.events.length
    const stoppedAt = Date.now()
    proxy!.child.kill('SIGSTOP')
    const decided = await eventAfter(w, mark, 'gate', (e) => e.phase === 'withdrawn')
    await until('the route to go', async () => ((await route()) === undefined ? true : undefined))
    const goneMs = Date.now() - stoppedAt
    const decidedMs = Date.parse(decided.ts) - stoppedAt
    const failed = w.events.slice(mark).find((e) => e.event === 'probe' && e.ok === false)!
    console.log(`SIGSTOP: withdraw decided after ${decidedMs} ms, route gone after ${goneMs} ms (fall × interval + timeout = ${CHECK.fall * CHECK.intervalMs + CHECK.timeoutMs} ms); ${failed.reason}`)
    assert.match(String(failed.reason), /no answer within 200 ms/, 'the listener still accepts (kernel backlog): /health catches the hang')
    assert.ok(decidedMs <= CHECK.fall * CHECK.intervalMs + CHECK.timeoutMs + 250, `decided after ${decidedMs} ms`)
    assert.ok(goneMs <= CHECK.fall * CHECK.intervalMs + CHECK.timeoutMs + PROPAGATION_SLACK_MS, `gone after ${goneMs} ms`)
    await assertSessionHeld('during the hang')

    proxy!.child.kill('SIGCONT')
    await until('the route back', route)
    await assertSessionHeld('after SIGCONT')
  })

  test('drain tags the route with 65535:0 and a prepend, then withdraws it and keeps it withdrawn until resume', async () => {
    const drainSecs = 1.5
    const startedAt = Date.now()
    const drainRun = runCli(['anycast', 'drain', '--secs', String(drainSecs), '--json'], {env})
    const tagged = await until('65535:0 on the route', async () => {
      const r = await route()
      return r?.communities.includes('65535:0') ? {...r, atMs: Date.now()} : undefined
    })
    assert.equal(tagged.asPath, '65010 65010', 'one prepend')
    await until('the route to go', async () => ((await route()) === undefined ? true : undefined))
    const taggedForMs = Date.now() - tagged.atMs
    console.log(`drain: tagged ${tagged.atMs - startedAt} ms after the command, withdrawn ${taggedForMs} ms later (--secs ${drainSecs})`)
    assert.ok(taggedForMs >= drainSecs * 1000 - 500, `tagged for ${taggedForMs} ms before the withdraw`)
    const drained = await drainRun
    assert.equal(drained.code, 0, drained.stderr)
    assertDocumented('edgeproxy anycast drain', JSON.parse(drained.stdout))
    assert.deepEqual({...(JSON.parse(drained.stdout) as Record<string, unknown>), bird: undefined}, {
      was_announced: true,
      drained_secs: drainSecs,
      phase: 'withdrawn',
      maintenance_file: files.maintenance,
      bird: undefined,
    })

    await assertNoRouteFor((CHECK.rise + 2) * CHECK.intervalMs, 'while the maintenance file holds it, though the proxy is healthy')
    const status = await runCli(['anycast', 'status', '--json'], {env})
    assert.equal(status.code, 0, status.stderr)
    assertDocumented('edgeproxy anycast status', JSON.parse(status.stdout))
    const s = JSON.parse(status.stdout) as {
      gate: {phase: string}
      maintenance: {reason: string} | null
      watcher: {up: boolean} | null
      bird: {reachable: boolean; peers: Array<{name: string; info: string; exported: unknown[]}>}
    }
    assert.equal(s.gate.phase, 'withdrawn')
    assert.equal(s.maintenance?.reason, 'drain')
    assert.equal(s.watcher?.up, true, 'the POP itself is up')
    assert.deepEqual(s.bird.peers.map((p) => [p.name, p.info, p.exported.length]), [['edge_peer1', 'Established', 0]])
    await assertSessionHeld('after the drain')

    const resumed = await runCli(['anycast', 'resume', '--json'], {env})
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.deepEqual(JSON.parse(resumed.stdout), {was_held: true, maintenance_file: files.maintenance, watcher_running: true})
    const back = await until('the route back after resume', route)
    assert.deepEqual(back.communities, [])
    const announcedStatus = JSON.parse((await runCli(['anycast', 'status', '--json'], {env})).stdout) as {bird: {peers: Array<{exported: Array<{prefix: string}>}>}}
    assert.deepEqual(announcedStatus.bird.peers[0]!.exported.map((e) => e.prefix), [PREFIX])
    const human = await runCli(['anycast', 'status'], {env})
    for (const text of ['announced', 'edge_peer1', 'Established', PREFIX, 'POP up']) assert.ok(human.stdout.includes(text), `status shows ${text}:\n${human.stdout}`)
    await assertSessionHeld('after resume')
  })

  test('stopping the watcher withdraws; a killed watcher leaves it to ExecStopPost (anycast withdraw); BIRD stays up', async () => {
    const stopped = await watcher!.stop('SIGTERM')
    assert.equal(stopped.code, 0, stopped.stderr)
    assert.ok(stopped.stderr.includes('"event":"stopped"'), 'withdrawn by the watcher on its way out')
    await until('the route to go', async () => ((await route()) === undefined ? true : undefined), 3000)
    await assertSessionHeld('after the watcher stopped')

    const w = startWatcher()
    await until('the route back with a new watcher', route)
    await w.stop('SIGKILL')
    assert.notEqual(await route(), undefined, 'a killed process withdraws nothing by itself')
    const withdrawn = await runCli(['anycast', 'withdraw', '--json'], {env})
    assert.equal(withdrawn.code, 0, withdrawn.stderr)
    assert.equal((JSON.parse(withdrawn.stdout) as {changed: boolean}).changed, true)
    await until('the route to go', async () => ((await route()) === undefined ? true : undefined))
    await assertSessionHeld('after anycast withdraw')
    watcher = undefined
  })
})
