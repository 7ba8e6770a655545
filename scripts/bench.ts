// Side-by-side benchmark of the data path, run by hand (not a test):
//
//   npm run build && node --import tsx scripts/bench.ts [--duration 10] [--connections 50] [--rounds N (default: one per target)]
//                                                       [--workers N] [--node /path/to/node]
//
// Starts a real HTTP backend (nginx when installed, else a small Node server) and an iperf3 server,
// then measures, in one run and under the same conditions: direct to the backend, through
// `edgeproxy start`, through `edgeproxy start` whose GET /metrics is scraped every second (as
// Prometheus would; the metrics must cost the data path nothing), through a bare Node `socket.pipe`
// proxy (the baseline), and through HAProxy in
// `mode tcp` (one thread, like Node) when it is installed. wrk gives keep-alive requests/s and
// new-connection requests/s (`Connection: close`); iperf3 gives bulk throughput. It prints every
// figure and the ratios. Tools: apt-get install wrk iperf3 nginx-light haproxy.
//
// `node bin/run.js` is `edgeproxy` launched as `node bin/run.js start` instead of `./bin/run.js start`
// (both run themselves again with the runtime settings, so their ratio should be 1).
//
// `edgeproxy+limits` is the same proxy with per-client admission on (a token bucket and an
// open-connection cap per client, neither of which the load reaches, and the loopback client not
// exempt, so every connection is keyed and counted), active tcp checks every second and the circuit
// breaker: its ratio to `edgeproxy` is what those features cost the data path. (Its bulk instance
// checks the HTTP backend's port: a stray connect to iperf3's port would disturb a test.)
//
// The worker axis: `edgeproxy ×N` (EDGEPROXY_WORKERS=N) and `haproxy ×N` (nbthread N) beside the
// one-thread `edgeproxy` and `haproxy tcp`, in the same run. N is --workers (default: half the CPUs,
// all of them below 4). The ×N proxies are pinned to CPUs 0..N-1 and the load to the CPUs after
// them (no pinning when none are left); their wrk runs with one thread per load CPU (at most N),
// since one wrk thread cannot feed N proxy threads. `--node` runs edgeproxy and the pipe baseline on
// another Node (workers need Node ≥ 22.12; the system Node 20 runs `edgeproxy ×N` as one worker,
// and the benchmark says so and leaves that target out). `edgeproxy+limits ×N` is `edgeproxy+limits`
// with N workers (admission counted in one client table in shared memory by every worker): its ratio
// to `edgeproxy ×N` is what the limits cost when the workers share them.
//
// Every measured run is preceded by a one-second warm-up of the same load on the same target (a Node
// process left idle while the other targets run shrinks its heap and cools its caches, and the first
// seconds after that are not what a loaded proxy does). On Linux it also reads each proxy's own CPU
// time (/proc/PID/stat) around every run and prints CPU per request and per GB: a proxy's cost per unit
// of work, which, unlike throughput, hardly moves when something else on the machine takes a CPU.
// The pipe baseline runs with the runtime settings of bin/run.js (malloc and V8 heap settings), so
// the edgeproxy / pipe ratios measure what edgeproxy's code adds, not how Node is tuned.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import Database from 'better-sqlite3'

import {NODE_TUNING} from '../src/cli/node-tuning.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const DURATION = arg('duration', 10)
const CONNECTIONS = arg('connections', 50)
/** 0: one round per target, so each target runs once in every position of the rotation. */
const ROUNDS_ARG = arg('rounds', 0)
const NODE = (() => {
  const i = process.argv.indexOf('--node')
  return i > 0 ? process.argv[i + 1] : undefined
})()

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0
for (const tool of ['wrk', 'iperf3']) {
  if (!has(tool)) {
    console.error(`${tool} is not installed: apt-get install wrk iperf3 (nginx-light and haproxy are optional)`)
    process.exit(3)
  }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeproxy-bench-'))
const children: ChildProcess[] = []
const cleanup = () => {
  // Each child leads its own process group: nginx's worker outlives a SIGKILLed master otherwise.
  for (const c of children) {
    if (c.exitCode !== null || c.pid === undefined) continue
    try {
      process.kill(-c.pid, 'SIGKILL')
    } catch {
      c.kill('SIGKILL')
    }
  }
  // On Node 20 a launched edgeproxy is a wrapper around the proxy it re-executed: kill that one too.
  for (const pid of proxyPids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  fs.rmSync(work, {recursive: true, force: true})
}
process.on('exit', cleanup)
process.on('SIGINT', () => process.exit(130))

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const {port} = s.address() as net.AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({port, host: '127.0.0.1'})
      s.once('connect', () => (s.destroy(), resolve(true)))
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

// With taskset and 2+ CPUs, the proxy under test runs alone on CPU 0 and everything else (backends,
// wrk, iperf3) on the other CPUs, so scheduling noise does not decide the ratios.
const CPUS = os.cpus().length
const canPin = CPUS >= 2 && has('taskset')
const PROXY_CPUS = '0'
const LOAD_CPUS = CPUS >= 2 ? `1-${CPUS - 1}` : '0'
/** The worker axis: N threads for `edgeproxy ×N` and `haproxy ×N`. */
const WORKERS = arg('workers', CPUS >= 4 ? Math.floor(CPUS / 2) : Math.max(2, CPUS))
/** The ×N proxies get CPUs 0..N-1; their load the CPUs after them, when there are any. */
const canPinN = canPin && CPUS > WORKERS
const PROXY_N_CPUS = `0-${WORKERS - 1}`
const LOAD_N_CPUS = `${WORKERS}-${CPUS - 1}`
const LOAD_N_THREADS = canPinN ? Math.max(1, Math.min(WORKERS, CPUS - WORKERS)) : 1
type Role = 'proxy' | 'load' | 'proxyN' | 'loadN'

function pinned(role: Role, cmd: string, args: string[]): [string, string[]] {
  if (role === 'proxyN' || role === 'loadN') {
    if (!canPinN) return [cmd, args]
    return ['taskset', ['-c', role === 'proxyN' ? PROXY_N_CPUS : LOAD_N_CPUS, cmd, ...args]]
  }
  if (!canPin) return [cmd, args]
  return ['taskset', ['-c', role === 'proxy' ? PROXY_CPUS : LOAD_CPUS, cmd, ...args]]
}

function run(cmdIn: string, argsIn: string[], env: NodeJS.ProcessEnv = process.env, role: Role = 'load'): ChildProcess {
  const [cmd, args] = pinned(role, cmdIn, argsIn)
  const child = spawn(cmd, args, {env, stdio: ['ignore', 'ignore', 'pipe'], detached: true})
  let err = ''
  child.stderr!.on('data', (c) => (err = (err + c).slice(-2000)))
  child.on('exit', (code) => {
    if (code && code !== 0 && !stopping) console.error(`${cmd} exited with ${code}: ${err}`)
  })
  children.push(child)
  return child
}
let stopping = false

// ---- backends ---------------------------------------------------------------------------------

async function startHttpBackend(): Promise<{port: number; kind: string}> {
  const port = await freePort()
  if (has('nginx') || fs.existsSync('/usr/sbin/nginx')) {
    const conf = path.join(work, 'nginx.conf')
    fs.writeFileSync(
      conf,
      `worker_processes 1;\ndaemon off;\npid ${work}/nginx.pid;\nerror_log ${work}/nginx.err warn;\nevents { worker_connections 4096; }\n` +
        `http { access_log off; keepalive_requests 1000000; client_body_temp_path ${work}; proxy_temp_path ${work}; fastcgi_temp_path ${work}; uwsgi_temp_path ${work}; scgi_temp_path ${work};\n` +
        `  server { listen 127.0.0.1:${port}; location / { return 200 "hello from the backend\\n"; } } }\n`,
    )
    run(fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx', ['-c', conf, '-p', work])
    await waitForPort(port)
    return {port, kind: 'nginx (1 worker)'}
  }
  const server = http.createServer((_req, res) => res.end('hello from the backend\n'))
  server.keepAliveTimeout = 60_000
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  return {port, kind: 'node http (in the benchmark process)'}
}

async function startIperfServer(): Promise<number> {
  const port = await freePort()
  run('iperf3', ['-s', '-B', '127.0.0.1', '-p', String(port)])
  await waitForPort(port)
  return port
}

// ---- proxies ----------------------------------------------------------------------------------

interface Proxy {
  port: number
  /** The proxy's process, whose CPU time is read around each run (taskset and env exec into it). */
  pid?: number
  /** Threads it relays with (the worker axis); 1 when absent. */
  threads?: number
}

/** Admission (never refusing under this load, loopback not exempt), active checks and circuits on. */
const LIMITS_ENV: Record<string, string> = {
  EDGEPROXY_RATE_LIMIT_ENABLED: 'true',
  EDGEPROXY_RATE_LIMIT_MAX_REQUESTS: '1000000', // the settings' maximum (1,000,000 per window): far above this load
  EDGEPROXY_RATE_LIMIT_BURST: '1000000',
  EDGEPROXY_MAX_CONNS_PER_IP: '1000000',
  EDGEPROXY_RATE_LIMIT_EXEMPT: '192.0.2.0/24',
  EDGEPROXY_HEALTH_CHECK_ENABLED: 'true',
  EDGEPROXY_HEALTH_CHECK_TYPE: 'tcp',
  EDGEPROXY_HEALTH_CHECK_INTERVAL_SECS: '1',
  EDGEPROXY_HEALTH_CHECK_TIMEOUT_SECS: '0.5',
  EDGEPROXY_CIRCUIT_BREAKER_ENABLED: 'true',
}

/**
 * `scrapeEveryMs`: a scraper process GETs the proxy's /metrics at that interval for the whole run.
 * `viaNode`: launched as `node bin/run.js start` (as npx or a Dockerfile's CMD ["node", …] would)
 * instead of `./bin/run.js start`; either way start runs itself again with its runtime settings.
 */
async function startEdgeproxy(backendPort: number, scrapeEveryMs?: number, extraEnv: Record<string, string> = {}, workers = 1, viaNode = false): Promise<Proxy> {
  const port = await freePort()
  const apiPort = await freePort()
  const dir = fs.mkdtempSync(path.join(work, 'edge-'))
  const dbPath = path.join(dir, 'routing.db')
  // On another Node (--node), the runtime settings are given by hand (no re-execution needed).
  const bin = path.join(ROOT, 'bin/run.js')
  const [cmd, args, runtimeEnv] =
    NODE !== undefined ? [NODE, [...RUNTIME.flags, bin, 'start'], RUNTIME.env] : viaNode ? [process.execPath, [bin, 'start'], {}] : [bin, ['start'], {}]
  const child = run(
    cmd,
    args,
    {
    ...process.env,
    ...runtimeEnv,
    EDGEPROXY_WORKERS: String(workers),
    EDGEPROXY_LISTEN_ADDR: `127.0.0.1:${port}`,
    EDGEPROXY_API_LISTEN_ADDR: `127.0.0.1:${apiPort}`,
    EDGEPROXY_DB_PATH: dbPath,
    EDGEPROXY_DB_RELOAD_SECS: '0.2',
    EDGEPROXY_LOG_FORMAT: 'json',
    ...extraEnv,
    },
    workers > 1 ? 'proxyN' : 'proxy',
  )
  let log = ''
  child.stderr!.on('data', (c) => (log += c))
  for (const started = Date.now(); !log.includes('"event":"started"'); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() - started > 15_000) throw new Error(`edgeproxy did not start:\n${log}`)
  }
  const db = new Database(dbPath)
  db.prepare(
    "INSERT INTO backends (id, app, region, country, wg_ip, port, healthy, weight, soft_limit, hard_limit) VALUES (?, 'bench', 'sa', 'BR', '127.0.0.1', ?, 1, 2, 100000, 0)",
  ).run('bench-backend', backendPort)
  db.close()
  for (const t = Date.now(); !log.includes('"backends":1'); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() - t > 10_000) throw new Error(`edgeproxy did not load the backend:\n${log}`)
  }
  if (scrapeEveryMs !== undefined) {
    const scraper = run(process.execPath, [path.join(ROOT, 'scripts/bench-scrape.mjs'), `http://127.0.0.1:${apiPort}/metrics`, String(scrapeEveryMs)])
    let report = ''
    scraper.stderr!.on('data', (c) => (report += c))
    scrapers.push(async () => {
      const exited = once(scraper, 'exit')
      scraper.kill('SIGTERM')
      await exited
      return report.trim()
    })
  }
  // The proxy's own PID (on Node 20 the launched process is a wrapper around the re-executed one).
  const started = log.split('\n').find((line) => line.includes('"event":"started"'))!
  const startedEvent = JSON.parse(started) as {pid?: number; workers?: number}
  const pid = startedEvent.pid ?? child.pid!
  proxyPids.push(pid)
  return {port, pid, threads: startedEvent.workers ?? 1}
}
const proxyPids: number[] = []
/** Stops each /metrics scraper and returns what it did (scrapes, failures, bytes). */
const scrapers: (() => Promise<string>)[] = []

/**
 * The runtime settings `edgeproxy start` runs with (src/cli/node-tuning.ts). The pipe baseline gets
 * the same, so the ratio measures code, not allocator or heap tuning.
 */
const RUNTIME = NODE_TUNING

async function startPipeProxy(backendPort: number): Promise<Proxy> {
  const port = await freePort()
  const {env, flags} = RUNTIME
  const script = path.join(ROOT, 'scripts/bench-pipe-proxy.mjs')
  const child = run(NODE ?? process.execPath, [...flags, script, String(port), String(backendPort)], {...process.env, ...env}, 'proxy')
  await waitForPort(port)
  return {port, pid: child.pid}
}

async function startHaproxy(backendPort: number, threads = 1): Promise<Proxy | null> {
  const bin = fs.existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : has('haproxy') ? 'haproxy' : null
  if (bin === null) return null
  const port = await freePort()
  const conf = path.join(work, `haproxy-${port}.cfg`)
  fs.writeFileSync(
    conf,
    `global\n  maxconn 8000\n  nbthread ${threads}\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n` +
      `frontend fe\n  bind 127.0.0.1:${port}\n  default_backend be\nbackend be\n  server s1 127.0.0.1:${backendPort}\n`,
  )
  const child = run(bin, ['-f', conf, '-db'], process.env, threads > 1 ? 'proxyN' : 'proxy')
  await waitForPort(port)
  return {port, pid: child.pid, threads}
}

// ---- measurements -----------------------------------------------------------------------------

const TICKS_PER_SEC = 100 // USER_HZ: /proc reports CPU time in 1/100 s on every Linux

/** CPU seconds (user + system) and minor page faults of a process so far; null where /proc is not there. */
function processCounters(pid: number | undefined): {cpu: number; faults: number} | null {
  if (pid === undefined) return null
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return {cpu: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC, faults: Number(fields[7])}
  } catch {
    return null
  }
}

interface Run {
  /** Requests/s or Gbit/s. */
  rate: number
  /** Requests or GB done in the run: what CPU time is divided by. */
  units: number
}

function wrk(port: number, close: boolean, seconds = DURATION, isN = false): Run {
  const args = [`-t${isN ? LOAD_N_THREADS : 1}`, `-c${CONNECTIONS}`, `-d${seconds}s`]
  if (close) args.push('-H', 'Connection: close')
  args.push(`http://127.0.0.1:${port}/`)
  const [cmd, pargs] = pinned(isN ? 'loadN' : 'load', 'wrk', args)
  const out = spawnSync(cmd, pargs, {encoding: 'utf8'})
  const m = /(\d+) requests in [\s\S]*Requests\/sec:\s+([\d.]+)/.exec(out.stdout)
  if (!m) throw new Error(`wrk failed: ${out.stdout}${out.stderr}`)
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out.stdout)
  if (errors && !close) console.error(`  note: wrk reported ${errors[0]}`)
  return {rate: Number(m[2]), units: Number(m[1])}
}

function iperf(port: number, seconds = Math.max(3, Math.round(DURATION / 2)), isN = false): Run {
  const [cmd, args] = pinned(isN ? 'loadN' : 'load', 'iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-J'])
  const out = spawnSync(cmd, args, {encoding: 'utf8'})
  const json = JSON.parse(out.stdout) as {end?: {sum_received?: {bits_per_second: number; bytes: number}}; error?: string}
  if (!json.end?.sum_received) throw new Error(`iperf3 failed: ${json.error ?? out.stderr}`)
  return {rate: json.end.sum_received.bits_per_second / 1e9, units: json.end.sum_received.bytes / 1e9}
}

/**
 * A one-second warm-up of the same load, then the measured run with the proxy's CPU time and page
 * faults around it (faults per unit show a process whose allocator hands memory back and forth).
 */
function measure(load: (seconds?: number) => Run, pid: number | undefined): {rate: number; cpuPerUnit: number | null; faultsPerUnit: number | null} {
  load(1)
  const before = processCounters(pid)
  const result = load()
  const after = processCounters(pid)
  if (before === null || after === null || result.units === 0) return {rate: result.rate, cpuPerUnit: null, faultsPerUnit: null}
  return {rate: result.rate, cpuPerUnit: (after.cpu - before.cpu) / result.units, faultsPerUnit: (after.faults - before.faults) / result.units}
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

type Metric = 'keepalive' | 'close' | 'bulk'
const METRICS: {key: Metric; label: string; unit: string; cpuUnit: string; cpuScale: number}[] = [
  {key: 'keepalive', label: 'keep-alive', unit: 'req/s', cpuUnit: 'µs/req', cpuScale: 1e6},
  {key: 'close', label: 'new-conn', unit: 'req/s', cpuUnit: 'µs/conn', cpuScale: 1e6},
  {key: 'bulk', label: 'bulk', unit: 'Gbit/s', cpuUnit: 'ms/GB', cpuScale: 1e3},
]

interface Target {
  name: string
  http: Proxy
  bulk: Proxy
}
type Samples = Record<Metric, {rate: number[]; cpu: (number | null)[]}>

async function main() {
  const backend = await startHttpBackend()
  const iperfPort = await startIperfServer()
  const targets: Target[] = [{name: 'direct', http: {port: backend.port}, bulk: {port: iperfPort}}]
  targets.push({name: 'edgeproxy', http: await startEdgeproxy(backend.port), bulk: await startEdgeproxy(iperfPort)})
  targets.push({name: 'node bin/run.js', http: await startEdgeproxy(backend.port, undefined, {}, 1, true), bulk: await startEdgeproxy(iperfPort, undefined, {}, 1, true)})
  targets.push({name: 'ep scraped', http: await startEdgeproxy(backend.port, 1000), bulk: await startEdgeproxy(iperfPort, 1000)})
  targets.push({name: 'edgeproxy+limits', http: await startEdgeproxy(backend.port, undefined, LIMITS_ENV), bulk: await startEdgeproxy(iperfPort, undefined, {...LIMITS_ENV, EDGEPROXY_HEALTH_CHECK_PORT: String(backend.port)})})
  targets.push({name: 'node pipe', http: await startPipeProxy(backend.port), bulk: await startPipeProxy(iperfPort)})
  const hp = await startHaproxy(backend.port)
  if (hp !== null) targets.push({name: 'haproxy tcp', http: hp, bulk: (await startHaproxy(iperfPort))!})
  // The worker axis.
  const epN = `edgeproxy ×${WORKERS}`
  const hpN = `haproxy ×${WORKERS}`
  const epNHttp = await startEdgeproxy(backend.port, undefined, {}, WORKERS)
  const epNLimits = `edgeproxy+limits ×${WORKERS}`
  if (epNHttp.threads === WORKERS) {
    targets.push({name: epN, http: epNHttp, bulk: await startEdgeproxy(iperfPort, undefined, {}, WORKERS)})
    targets.push({
      name: epNLimits,
      http: await startEdgeproxy(backend.port, undefined, LIMITS_ENV, WORKERS),
      bulk: await startEdgeproxy(iperfPort, undefined, {...LIMITS_ENV, EDGEPROXY_HEALTH_CHECK_PORT: String(backend.port)}, WORKERS),
    })
  } else console.log(`${epN}: left out, edgeproxy ran ${epNHttp.threads} worker(s) on Node ${NODE === undefined ? process.versions.node : NODE} (workers need Node ≥ 22.12: pass --node)`)
  const hpNHttp = await startHaproxy(backend.port, WORKERS)
  if (hpNHttp !== null) targets.push({name: hpN, http: hpNHttp, bulk: (await startHaproxy(iperfPort, WORKERS))!})
  const ROUNDS = ROUNDS_ARG > 0 ? ROUNDS_ARG : targets.length

  console.log(`edgeproxy benchmark: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}`)
  console.log(
    `backend: ${backend.kind}; wrk -t1 -c${CONNECTIONS} -d${DURATION}s; iperf3 single stream; ${ROUNDS} round(s), median shown; 1 s warm-up before every run`,
  )
  console.log(`node pipe baseline runs with edgeproxy start's settings: ${[...Object.entries(RUNTIME.env).map(([k, v]) => `${k}=${v}`), ...RUNTIME.flags].join(' ')}`)
  console.log(canPin ? `pinning: proxy under test on CPU ${PROXY_CPUS}; backends, wrk and iperf3 on CPU ${LOAD_CPUS}` : 'pinning: off (needs taskset and 2+ CPUs)')
  console.log(
    `worker axis: ${WORKERS} threads; ` +
      (canPinN ? `×${WORKERS} proxies on CPUs ${PROXY_N_CPUS}, their load on CPUs ${LOAD_N_CPUS} (wrk -t${LOAD_N_THREADS})` : `no CPU left for the load beside ${WORKERS} proxy threads: ×${WORKERS} targets unpinned, sharing the ${CPUS} CPUs with the load`),
  )
  const samples = new Map<string, Samples>(
    targets.map((t) => [t.name, {keepalive: {rate: [], cpu: []}, close: {rate: [], cpu: []}, bulk: {rate: [], cpu: []}}]),
  )
  // Rounds are interleaved (every target once per round) so drift in the machine hits all alike.
  // Each round starts with a different target (a rotation): thousands of connections per second
  // leave tens of thousands of sockets in TIME_WAIT, which slows the kernel's connect() for whoever
  // runs next, so a fixed order would favour the first target. The default is one round per position.
  const fmtCpu = (v: number | null, scale: number) => (v === null ? '-' : (v * scale).toFixed(1))
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of [...targets.slice(r % targets.length), ...targets.slice(0, r % targets.length)]) {
      const x = samples.get(t.name)!
      const isN = (t.http.threads ?? 1) > 1
      const runs: Record<Metric, ReturnType<typeof measure>> = {
        keepalive: measure((s) => wrk(t.http.port, false, s, isN), t.http.pid),
        close: measure((s) => wrk(t.http.port, true, s, isN), t.http.pid),
        bulk: measure((s) => iperf(t.bulk.port, s, isN), t.bulk.pid),
      }
      for (const m of METRICS) {
        x[m.key].rate.push(runs[m.key].rate)
        x[m.key].cpu.push(runs[m.key].cpuPerUnit)
      }
      const parts = METRICS.map((m) => {
        const run = runs[m.key]
        const faults = m.key === 'bulk' && run.faultsPerUnit !== null ? `, ${run.faultsPerUnit.toFixed(0)} faults/GB` : ''
        const cpu = run.cpuPerUnit === null ? '' : ` (${fmtCpu(run.cpuPerUnit, m.cpuScale)} ${m.cpuUnit}${faults})`
        return `${m.label} ${run.rate.toFixed(m.key === 'bulk' ? 2 : 0)} ${m.unit}${cpu}`
      })
      console.log(`  round ${r + 1} ${t.name.padEnd(16)} ${parts.join(', ')}`)
    }
  }

  const table = (title: string, cell: (x: Samples, m: (typeof METRICS)[number]) => string) => {
    const rows = [[title, ...METRICS.map((m) => `${m.label} ${title === 'throughput' ? m.unit : m.cpuUnit}`)]]
    for (const t of targets) rows.push([t.name, ...METRICS.map((m) => cell(samples.get(t.name)!, m))])
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
    console.log('')
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '))
  }
  table('throughput', (x, m) => median(x[m.key].rate).toFixed(m.key === 'bulk' ? 2 : 0))
  const hasCpu = targets.some((t) => samples.get(t.name)!.close.cpu.some((v) => v !== null))
  if (hasCpu) {
    table('proxy CPU', (x, m) => {
      const cpu = x[m.key].cpu.filter((v): v is number => v !== null)
      return cpu.length === 0 ? '-' : fmtCpu(median(cpu), m.cpuScale)
    })
  }

  // The ratio of two targets is the median of their per-round ratios: both were measured in the same
  // round, minutes apart at most, so machine drift cancels out better than in a ratio of medians.
  const paired = (xs: (number | null)[], ys: (number | null)[]) => {
    const ratios = xs.flatMap((v, i) => (v === null || ys[i] === null || ys[i] === 0 ? [] : [v / ys[i]!]))
    return ratios.length === 0 ? '-' : median(ratios).toFixed(2) + '×'
  }
  const ratio = (a: string, b: string, what: 'rate' | 'cpu') => {
    const x = samples.get(a)
    const y = samples.get(b)
    if (!x || !y) return
    const cells = METRICS.map((m) => `${m.label} ${paired(x[m.key][what], y[m.key][what])}`)
    console.log(`  ${(a + ' / ' + b).padEnd(30)} ${cells.join('  ')}`)
  }
  console.log('\nthroughput ratios (higher is better for the first):')
  const axis = [[epN, 'edgeproxy'], [hpN, 'haproxy tcp'], [epN, hpN], [epNLimits, epN]]
  for (const [a, b] of [['edgeproxy', 'node pipe'], ['edgeproxy', 'direct'], ['edgeproxy', 'haproxy tcp'], ['node pipe', 'haproxy tcp'], ['node bin/run.js', 'edgeproxy'], ['ep scraped', 'edgeproxy'], ['edgeproxy+limits', 'edgeproxy'], ...axis]) ratio(a, b, 'rate')
  if (hasCpu) {
    console.log('proxy CPU per unit of work (lower is better for the first):')
    for (const [a, b] of [['edgeproxy', 'node pipe'], ['edgeproxy', 'haproxy tcp'], ['node bin/run.js', 'edgeproxy'], ['ep scraped', 'edgeproxy'], ['edgeproxy+limits', 'edgeproxy'], ...axis]) ratio(a, b, 'cpu')
  }
  const scraped = await Promise.all(scrapers.map((stop) => stop()))
  console.log(`ep scraped: GET /metrics every second during the runs (http, bulk): ${scraped.join('; ')}`)
  stopping = true
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
