// The README's Corrosion walkthrough, run as written: the shell block after the
// `<!-- corrosion-walkthrough` marker goes to bash as root in a private mount and network namespace,
// where /etc, /var, /opt and /usr/local are overlays whose upper layers are a temporary root (the
// host's files are never touched). Real useradd, install, sed and the real edgeproxy CLI run; two
// things cannot run here and are stand-ins: systemctl (systemd is not PID 1 in a test; the calls are
// logged, the units are checked by pop-deployment.test.ts) and the agent and proxy (nothing listens
// in the namespace, so the commands that need them must fail for that reason only: exit 4, with the
// token and API the walkthrough gave them logged). Then, as the corrosion user, the agent's files must
// be readable and the env file must not be.
import assert from 'node:assert/strict'
import {spawnSync, type SpawnSyncReturns} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {parse} from 'smol-toml'

import {BIN, cleanEnv, ROOT, tempDir} from '../support/proxy-process.js'

const MARKER = '<!-- corrosion-walkthrough'
const OVERLAID = ['/etc', '/var', '/opt', '/usr/local'].filter((d) => fs.existsSync(d))

/** The first ```sh block after the marker in README.md. */
function walkthroughBlock(readme: string): string {
  const at = readme.indexOf(MARKER)
  assert.ok(at >= 0, `README.md has no ${MARKER} marker`)
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))
  assert.ok(block, 'no ```sh block after the marker')
  return block[1]!
}

const canRun = (() => {
  if (process.getuid?.() !== 0) return 'the walkthrough runs as root (useradd, install -g, overlay mounts) and the tests are not root'
  const probe = spawnSync('unshare', ['--mount', '--net', '--propagation', 'private', 'true'])
  if (probe.status !== 0) return `unshare --mount --net is not allowed here: ${probe.stderr?.toString().trim() ?? probe.error?.message}`
  for (const tool of ['useradd', 'runuser', 'ip']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`
  }
  return true
})()
if (canRun !== true) console.log(`# readme-corrosion-walkthrough: skipped: ${canRun}`)

interface Call {
  args: string[]
  code: number | null
  stderr: string
  apiUrl?: string
  apiToken?: string
}

describe("README's Corrosion walkthrough", {skip: canRun === true ? false : canRun}, () => {
  const tmp = tempDir('edgeproxy-walkthrough-')
  const root = path.join(tmp.dir, 'root')
  const work = path.join(tmp.dir, 'work')
  const calls = path.join(tmp.dir, 'calls.jsonl')
  const systemctl = path.join(tmp.dir, 'systemctl.log')
  const checks = path.join(tmp.dir, 'checks.log')
  let run: SpawnSyncReturns<string>

  before(() => {
    const bin = path.join(tmp.dir, 'bin')
    fs.mkdirSync(bin)
    fs.mkdirSync(work)
    fs.mkdirSync(root)
    // edgeproxy on PATH is the real CLI. The agent and the proxy do not run here: a command that needs
    // them is accepted when it fails only because nothing answers (exit 4); every call is logged.
    fs.writeFileSync(
      path.join(bin, 'edgeproxy'),
      `#!${process.execPath}
const {spawnSync} = require('node:child_process')
const fs = require('node:fs')
const args = process.argv.slice(2)
const r = spawnSync(${JSON.stringify(process.execPath)}, [${JSON.stringify(BIN)}, ...args], {encoding: 'utf8', stdio: ['inherit', 'inherit', 'pipe']})
process.stderr.write(r.stderr)
fs.appendFileSync(${JSON.stringify(calls)}, JSON.stringify({args, code: r.status, stderr: r.stderr, apiUrl: process.env.EDGEPROXY_API_URL, apiToken: process.env.EDGEPROXY_API_TOKEN}) + '\\n')
const needsAgentOrProxy = !(args[0] === 'corrosion' && args[1] === 'bootstrap')
process.exit(r.status === 4 && needsAgentOrProxy ? 0 : r.status ?? 1)
`,
      {mode: 0o755},
    )
    const upper = path.join(tmp.dir, 'layers')
    const script = [
      'set -euo pipefail',
      // Upper and work layers on a tmpfs (an overlay cannot sit on the overlay a container's / may be).
      `mkdir -p ${upper} && mount -t tmpfs tmpfs ${upper}`,
      ...OVERLAID.map((d) => `mkdir -p ${upper}/u${d} ${upper}/w${d} && mount -t overlay overlay -o lowerdir=${d},upperdir=${upper}/u${d},workdir=${upper}/w${d} ${d}`),
      'ip link set lo up',
      `systemctl() { printf '%s\\n' "$*" >> ${systemctl}; }`,
      `export PATH=${bin}:$PATH`,
      `cd ${work}`,
      '( set -euo pipefail',
      walkthroughBlock(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')),
      ')',
      // What the agent (User=corrosion) can read, and what it must not.
      `for f in /etc/corrosion/config.toml /etc/corrosion/schema/backends.sql /etc/edgeproxy/edgeproxy.env; do if runuser -u corrosion -- cat "$f" >/dev/null 2>&1; then echo "readable $f"; else echo "unreadable $f"; fi; done > ${checks}`,
      ...OVERLAID.map((d) => `mkdir -p ${root}${d} && cp -a ${upper}/u${d}/. ${root}${d}/`),
    ].join('\n')
    run = spawnSync('unshare', ['--mount', '--net', '--propagation', 'private', 'bash', '-c', script], {encoding: 'utf8', env: cleanEnv(), timeout: 120_000})
  })
  after(tmp.cleanup)

  const logged = (): Call[] => fs.readFileSync(calls, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Call)
  const secrets = (): Record<string, string> => JSON.parse(fs.readFileSync(path.join(work, 'corrosion/secrets.json'), 'utf8')) as Record<string, string>

  test('every step runs as written', () => {
    assert.equal(run.status, 0, `the walkthrough failed:\n${run.stderr}\n${run.stdout}`)
    assert.deepEqual(fs.readFileSync(systemctl, 'utf8').trim().split('\n'), ['daemon-reload', 'enable --now corrosion', 'enable --now edgeproxy'])
  })

  test('directories and files land where the units read them, with modes and owners the services can use', () => {
    assert.equal(run.status, 0, run.stderr)
    const group = fs.readFileSync(path.join(root, 'etc/group'), 'utf8')
    const corrosionGid = Number(/^corrosion:x:(\d+):/m.exec(group)?.[1])
    assert.ok(Number.isInteger(corrosionGid), 'useradd made the corrosion group')
    const expect = (file: string, mode: number, gid: number, sameAs?: string) => {
      const st = fs.statSync(path.join(root, file))
      assert.equal((st.mode & 0o7777).toString(8), mode.toString(8), `${file} mode`)
      assert.equal(st.uid, 0, `${file} owner`)
      assert.equal(st.gid, gid, `${file} group`)
      if (sameAs) assert.equal(fs.readFileSync(path.join(root, file), 'utf8'), fs.readFileSync(path.join(work, sameAs), 'utf8'), file)
    }
    expect('etc/corrosion', 0o755, 0)
    expect('etc/corrosion/schema', 0o755, 0)
    expect('etc/edgeproxy', 0o755, 0)
    expect('etc/corrosion/config.toml', 0o640, corrosionGid, 'corrosion/corrosion.toml')
    expect('etc/corrosion/schema/backends.sql', 0o644, 0, 'corrosion/schema/backends.sql')
    expect('etc/edgeproxy/edgeproxy.env', 0o600, 0, 'corrosion/edgeproxy.env')
    expect('etc/systemd/system/corrosion.service', 0o644, 0, 'corrosion/corrosion.service')
    expect('etc/systemd/system/edgeproxy.service', 0o644, 0, 'corrosion/edgeproxy.service')
    // The paths the generated units and config name are the ones installed.
    const unit = fs.readFileSync(path.join(root, 'etc/systemd/system/corrosion.service'), 'utf8')
    assert.match(unit, /^User=corrosion$/m)
    assert.match(unit, /--config \/etc\/corrosion\/config\.toml agent$/m)
    assert.match(fs.readFileSync(path.join(root, 'etc/systemd/system/edgeproxy.service'), 'utf8'), /^EnvironmentFile=\/etc\/edgeproxy\/edgeproxy\.env$/m)
    assert.deepEqual((parse(fs.readFileSync(path.join(root, 'etc/corrosion/config.toml'), 'utf8')) as {db: {schema_paths: string[]}}).db.schema_paths, ['/etc/corrosion/schema'])
    assert.deepEqual(fs.readFileSync(checks, 'utf8').trim().split('\n'), [
      'readable /etc/corrosion/config.toml',
      'readable /etc/corrosion/schema/backends.sql',
      'unreadable /etc/edgeproxy/edgeproxy.env',
    ])
    // Nothing outside /etc changed.
    for (const dir of OVERLAID.filter((d) => d !== '/etc')) assert.deepEqual(fs.readdirSync(path.join(root, dir)), [], `${dir} untouched`)
  })

  test('$TOKEN is the agent token, and the CLI on the POP finds its API from edgeproxy.env', () => {
    assert.equal(run.status, 0, run.stderr)
    const s = secrets()
    const byCommand = new Map(logged().map((c) => [c.args.slice(0, 2).join(' '), c]))
    for (const command of ['corrosion init-schema', 'corrosion status']) {
      const call = byCommand.get(command)
      assert.ok(call, `${command} ran`)
      assert.equal(call.args[call.args.indexOf('--token') + 1], s.corrosion_token, `${command} --token "$TOKEN"`)
      assert.equal(call.code, 4, `${command}: only the agent is missing: ${call.stderr}`)
      assert.match(call.stderr, /cannot reach Corrosion at http:\/\/127\.0\.0\.1:8090/)
    }
    const register = byCommand.get('backend register')
    assert.ok(register, 'backend register ran')
    assert.equal(register.apiUrl, 'http://127.0.0.1:8081')
    assert.equal(register.apiToken, s.api_token)
    assert.equal(register.code, 4, register.stderr)
    assert.match(register.stderr, /cannot reach the edgeproxy API at http:\/\/127\.0\.0\.1:8081/)
  })
})
