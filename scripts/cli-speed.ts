// How long the operator commands take next to Node itself, run by hand (not a test):
//
//   npm run build && node --import tsx scripts/cli-speed.ts [--runs 40]
//
// Starts `edgeproxy start` (a temporary routing store, listeners on loopback port 0) with a few
// backends, then times, side by side and on the same machine: `node -e 0`, the API commands
// (`backend list --json`, `route explain IP --json`, `status`: each reads the running proxy's API),
// `--version` and `backend list --help`. It prints each median and its ratio to `node -e 0`; the
// targets are 2× for the API commands and 2.5× for --version and --help. Each command runs as
// `node bin/run.js …` so the shebang adds nothing.
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BIN = path.join(ROOT, 'bin/run.js')
const i = process.argv.indexOf('--runs')
const RUNS = i > 0 ? Number(process.argv[i + 1]) : 40

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeproxy-cli-speed-'))
const env = {...process.env, NO_COLOR: '1', EDGEPROXY_LISTEN_ADDR: '127.0.0.1:0', EDGEPROXY_API_LISTEN_ADDR: '127.0.0.1:0', EDGEPROXY_LOG_FORMAT: 'json', EDGEPROXY_DB_PATH: path.join(work, 'routing.db')}
delete env.EDGEPROXY_API_TOKEN
const proxy = spawn(process.execPath, [BIN, 'start'], {env, stdio: ['ignore', 'ignore', 'pipe']})
process.on('exit', () => {
  proxy.kill('SIGKILL')
  fs.rmSync(work, {recursive: true, force: true})
})

const api = await new Promise<string>((resolve, reject) => {
  let text = ''
  proxy.stderr!.on('data', (chunk: Buffer) => {
    text += chunk
    const started = text.split('\n').find((line) => line.includes('"event":"started"'))
    if (started) resolve(`http://${(JSON.parse(started) as {api: string}).api}`)
  })
  proxy.on('exit', () => reject(new Error(`edgeproxy start exited:\n${text}`)))
})
const cliEnv = {...env, EDGEPROXY_API_URL: api}
for (const [id, region] of [['sa-1', 'sa'], ['us-1', 'us'], ['eu-1', 'eu']]) {
  const r = spawnSync(process.execPath, [BIN, 'backend', 'register', '--id', id!, '--app', 'web', '--region', region!, '--ip', '127.0.0.1', '--port', '9000'], {env: cliEnv})
  if (r.status !== 0) throw new Error(`register failed: ${r.stderr}`)
}

// [label, argv after `node`, target ratio]
const commands: Array<[string, string[], number]> = [
  ['node -e 0', ['-e', '0'], 0],
  ['backend list --json', [BIN, 'backend', 'list', '--json'], 2],
  ['route explain 90.0.0.1 --json', [BIN, 'route', 'explain', '90.0.0.1', '--json'], 2],
  ['status', [BIN, 'status'], 2],
  ['--version', [BIN, '--version'], 2.5],
  ['backend list --help', [BIN, 'backend', 'list', '--help'], 2.5],
]
// Interleaved rounds: each round runs every command once, in an order rotated round by round, and
// each ratio is the median of the per-round ratios to `node -e 0` of the same round. A busy machine
// then slows the command and its baseline alike, where timing one command's runs after another's
// (as hyperfine does) compares different moments.
function timeOnce(args: string[]): number {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, args, {env: cliEnv, stdio: ['ignore', 'ignore', 'pipe']})
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0 && !(args.includes('status') && r.status === 1)) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return ms
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
for (const [, args] of commands) for (let w = 0; w < 3; w++) timeOnce(args)
const times: number[][] = commands.map(() => [])
for (let round = 0; round < RUNS; round++) {
  for (let j = 0; j < commands.length; j++) {
    const k = (j + round) % commands.length
    times[k]!.push(timeOnce(commands[k]![1]))
  }
}
const load = os.loadavg()[0]!.toFixed(1)
console.log(`Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), ${RUNS} interleaved rounds, load average ${load}`)
console.log('| command | median | min | median of per-round ratios to node -e 0 | target |')
console.log('|---|---|---|---|---|')
for (const [k, [label, , target]] of commands.entries()) {
  const ratio = median(times[k]!.map((t, round) => t / times[0]![round]!))
  console.log(`| \`${label}\` | ${median(times[k]!).toFixed(0)} ms | ${Math.min(...times[k]!).toFixed(0)} ms | ${ratio.toFixed(2)}× | ${target ? `≤ ${target}×` : ''} |`)
}
process.exit(0)
