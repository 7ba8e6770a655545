// Every --json output and the API's /health against the shapes the README documents (section
// "Output for people and for scripts", parsed by test/support/json-shapes.ts): each documented line
// is run for real (bin/run.js child processes against a running proxy, an emulated Corrosion agent
// and temporary directories) or by the test named in CHECKED_ELSEWHERE; its keys must be exactly
// the documented ones, and every key is snake_case.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {startEmulator, type EmulatorAgent} from '../support/corrosion-emulator/index.js'
import {check, SHAPES, snakeCaseKeys} from '../support/json-shapes.js'
import {BIN, cleanEnv, ROOT, runCli, startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'

// ---- running every documented line ------------------------------------------------------------

const CHECKED_ELSEWHERE: Record<string, string> = {
  'edgeproxy anycast check': 'anycast-commands.test.ts',
  'edgeproxy anycast prepare': 'anycast-commands.test.ts',
  'edgeproxy anycast withdraw': 'anycast-commands.test.ts',
  'edgeproxy anycast resume': 'anycast-commands.test.ts',
  'edgeproxy anycast drain': 'anycast-bird.test.ts',
  'edgeproxy anycast status': 'anycast-bird.test.ts',
  'edgeproxy dns query': 'dns.test.ts',
}

const TOKEN = 'shape-test-token-0123456789'
const CORROSION_TOKEN = 'shape-corrosion-token'

describe('JSON output matches the README', () => {
  const tmp = tempDir('edgeproxy-shapes-')
  const checked = new Set<string>()
  let proxy: ProxyProcess
  let agent: EmulatorAgent
  let env: Record<string, string>
  let schemaDir: string
  let socket: string

  before(async () => {
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_API_TOKEN: TOKEN}})
    env = {EDGEPROXY_API_URL: `http://${String(proxy.events.find((e) => e.event === 'started')!.api)}`, EDGEPROXY_API_TOKEN: TOKEN}
    schemaDir = path.join(tmp.dir, 'schema')
    fs.mkdirSync(schemaDir)
    socket = path.join(tmp.dir, 'admin.sock')
    agent = await startEmulator({schemaPaths: [schemaDir], adminSocket: socket, token: CORROSION_TOKEN})
  })
  after(async () => {
    await proxy?.stop()
    await agent?.close()
    tmp.cleanup()
  })

  /** Runs a documented line's command and checks its JSON (exit 0, or with `isError` the error shape). */
  async function expect(label: string, args: string[], options: {isError?: boolean; env?: Record<string, string>; exit?: number} = {}): Promise<Record<string, unknown>> {
    const shape = SHAPES.get(options.isError ? 'failure' : label)
    assert.ok(shape, `the README documents ${options.isError ? 'failure' : label}`)
    const r = await runCli([...args, '--json'], {env: {...env, ...options.env}})
    if (options.isError) assert.notEqual(r.code, 0, `${args.join(' ')} fails`)
    else assert.equal(r.code, options.exit ?? 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
    const value = JSON.parse(r.stdout) as Record<string, unknown>
    check(value, shape, args.join(' '), true)
    snakeCaseKeys(value, args.join(' '))
    checked.add(options.isError ? 'failure' : label)
    return value
  }

  test('backend and route commands, version', async () => {
    const reg = ['--app', 'web', '--region', 'sa', '--ip', '127.0.0.1', '--port', '9']
    await expect('edgeproxy backend register', ['backend', 'register', '--id', 'a', ...reg])
    await expect('edgeproxy backend register', ['backend', 'register', '--id', 'b', ...reg, '--country', 'AR'])
    await expect('edgeproxy backend heartbeat', ['backend', 'heartbeat', 'a'])
    await expect('edgeproxy backend list', ['backend', 'list'])
    await expect('edgeproxy backend get', ['backend', 'get', 'a'])
    for (const kind of ['drain', 'enable', 'disable']) await expect(`edgeproxy backend ${kind}`, ['backend', kind, 'b'])
    await expect('edgeproxy backend set-weight', ['backend', 'set-weight', 'a', '5'])
    await expect('edgeproxy route explain', ['route', 'explain', '200.160.2.3'])
    await expect('edgeproxy backend check', ['backend', 'check', 'a'], {exit: 1}) // nothing listens on port 9
    await expect('edgeproxy backend deregister', ['backend', 'deregister', 'b'])
    await expect('edgeproxy version', ['version'])
    await expect('edgeproxy status', ['status'])
    await expect('error', ['backend', 'get', 'nope'], {isError: true})
    await expect('error', ['backend', 'list', '--bogus'], {isError: true})

    // --every runs until SIGTERM, then prints its summary.
    const child = spawn(process.execPath, [BIN, 'backend', 'heartbeat', 'a', '--every', '100ms', '--json'], {env: cleanEnv(env)})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    await new Promise<void>((resolve) => child.stderr.on('data', (c: Buffer) => ((stderr += c), /heartbeat a ok/.test(stderr) && resolve())))
    child.kill('SIGTERM')
    await new Promise((resolve) => child.on('close', resolve))
    const summary = JSON.parse(stdout) as Record<string, unknown>
    check(summary, SHAPES.get('edgeproxy backend heartbeat --every')!, 'heartbeat --every', true)
    checked.add('edgeproxy backend heartbeat --every')
  })

  test('GET /health', async () => {
    const res = await fetch(`${env.EDGEPROXY_API_URL}/health`)
    const body = (await res.json()) as Record<string, unknown>
    check(body, SHAPES.get('GET /health')!, '/health', true)
    snakeCaseKeys(body, '/health')
    checked.add('GET /health')
  })

  test('GET /api/v1/traffic (the status page charts)', async () => {
    const res = await fetch(`${env.EDGEPROXY_API_URL}/api/v1/traffic`, {headers: {authorization: `Bearer ${TOKEN}`}})
    const body = (await res.json()) as Record<string, unknown>
    check(body, SHAPES.get('GET /api/v1/traffic')!, '/api/v1/traffic', true)
    snakeCaseKeys(body, '/api/v1/traffic')
    checked.add('GET /api/v1/traffic')
  })

  test('corrosion commands', async () => {
    // A lone agent sees no other member: the members check is off (--min-members 0).
    const agentEnv = {EDGEPROXY_CORROSION_API_URL: agent.url, EDGEPROXY_CORROSION_TOKEN: CORROSION_TOKEN, EDGEPROXY_CORROSION_MIN_MEMBERS: '0'}
    const failing = await expect('error', ['corrosion', 'status'], {isError: true, env: agentEnv})
    assert.ok((failing.error as {status: unknown}).status, 'a failing status carries the status object')
    await expect('edgeproxy corrosion init-schema', ['corrosion', 'init-schema', '--schema-dir', schemaDir, '--admin-socket', socket], {env: agentEnv})
    await expect('edgeproxy corrosion status', ['corrosion', 'status'], {env: agentEnv})
    const out = path.join(tmp.dir, 'corrosion')
    const boot = ['corrosion', 'bootstrap', '--name', 'eu-1', '--region', 'eu', '--gossip-addr', '10.50.3.1:4001', '--out', out]
    await expect('edgeproxy corrosion bootstrap', [...boot, '--show-token'])
    await expect('edgeproxy corrosion bootstrap', [...boot, '--dry-run', '--force'])
  })

  test('pop generate-config, and an invalid topology', async () => {
    const fixture = path.join(ROOT, 'test/fixtures/pop-three')
    const secrets = path.join(tmp.dir, 'secrets.json')
    fs.copyFileSync(path.join(fixture, 'secrets.json'), secrets)
    fs.chmodSync(secrets, 0o600)
    await expect('edgeproxy pop generate-config', ['pop', 'generate-config', '--topology', path.join(fixture, 'topology.yaml'), '--secrets', secrets, '--out', path.join(tmp.dir, 'pops')])
    await expect('edgeproxy pop address', ['pop', 'address', '--pop', 'sa', '--secrets', secrets])
    await expect('edgeproxy pop address', ['pop', 'address', '--pop', 'sa', '--app', 'web', '--instance', '7', '--secrets', secrets])
    const bad = path.join(tmp.dir, 'bad.yaml')
    fs.writeFileSync(bad, 'cluster: x\npops:\n  - {name: a, region: mars, public_address: 1.2.3.4, wireguard_address: 10.50.1.1}\n')
    const error = await expect('error', ['pop', 'generate-config', '--topology', bad, '--out', path.join(tmp.dir, 'bad')], {isError: true})
    assert.ok(Array.isArray((error.error as {problems: unknown}).problems))
  })

  test('every documented line was run (here or in the test named below), and every command with --json is documented', () => {
    // Commands that need daemons are run by their own tests, which check their JSON with assertDocumented.
    for (const [label, file] of Object.entries(CHECKED_ELSEWHERE)) {
      assert.ok(fs.readFileSync(path.join(ROOT, 'test/e2e', file), 'utf8').includes(`assertDocumented('${label}'`), `${file} checks ${label}`)
      checked.add(label)
    }
    const named = ['backend', 'check_state', 'circuit_state', 'candidate', 'output_file', 'sixpn_addresses', 'corrosion_status', 'probe_report', 'dns_record', 'gate_change_bird']
    assert.deepEqual([...SHAPES.keys()].filter((k) => !checked.has(k) && !named.includes(k)), [])
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {enableJsonFlag?: boolean}>}
    const withJson = Object.entries(manifest.commands).filter(([, c]) => c.enableJsonFlag).map(([id]) => `edgeproxy ${id.replaceAll(':', ' ')}`)
    assert.deepEqual(withJson.filter((label) => !SHAPES.has(label)), [])
  })
})
