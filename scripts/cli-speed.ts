// How long the operator commands take next to Node itself, run by hand (not a test):
//
//   npm run build && node --import tsx scripts/cli-speed.ts [--runs 40]
//
// Starts `edgeproxy start` (a temporary routing store, listeners on loopback port 0) with a few
// backends, then times with hyperfine, side by side and on the same machine: `node -e 0`, the API
// commands (`backend list --json`, `route explain IP --json`, each one GET to the running proxy),
// `--version` and `backend list --help`. It prints each median and its ratio to `node -e 0`; the
// targets are 2× for the API commands and 2.5× for --version and --help. hyperfine is required
// (apt-get install hyperfine); each command runs as `node bin/run.js …` so the shebang adds nothing.
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BIN = path.join(ROOT, 'bin/run.js')
const i = process.argv.indexOf('--runs')
const RUNS = i > 0 ? Number(process.argv[i + 1]) : 40

if (spawnSync('sh', ['-c', 'command -v hyperfine']).status !== 0) {
  console.error('hyperfine is not installed: apt-get install hyperfine')
  process.exit(3)
}

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

const commands: Array<[string, string]> = [
  ['node -e 0', 'node -e 0'],
  ['backend list --json', `node ${BIN} backend list --json`],
  ['route explain 90.0.0.1 --json', `node ${BIN} route explain 90.0.0.1 --json`],
  ['--version', `node ${BIN} --version`],
  ['backend list --help', `node ${BIN} backend list --help`],
]
const out = path.join(work, 'hyperfine.json')
const run = spawnSync('hyperfine', ['-N', '--warmup', '5', '--runs', String(RUNS), '--export-json', out, ...commands.map(([, c]) => c)], {env: cliEnv, stdio: ['ignore', 'ignore', 'inherit']})
if (run.status !== 0) throw new Error('hyperfine failed')
const results = (JSON.parse(fs.readFileSync(out, 'utf8')) as {results: Array<{median: number; min: number}>}).results
const base = results[0]!
console.log(`Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), ${RUNS} runs each, load average ${os.loadavg()[0]!.toFixed(1)}`)
console.log('| command | median | min | median / node -e 0 | target |')
console.log('|---|---|---|---|---|')
for (const [k, [label]] of commands.entries()) {
  const r = results[k]!
  const target = k === 0 ? '' : k <= 2 ? '≤ 2×' : '≤ 2.5×'
  console.log(`| \`${label}\` | ${(r.median * 1000).toFixed(0)} ms | ${(r.min * 1000).toFixed(0)} ms | ${(r.median / base.median).toFixed(2)}× | ${target} |`)
}
process.exit(0)
