// End to end: `edgeproxy pop generate-config` as a child process (bin/run.js, the built dist/) on the
// three-POP fixture. Golden tree, every TOML and wg0.conf checked against the real formats, the
// bootstrap graph, reruns, --dry-run, --force, bad topologies and the secrets file's mode.
// UPDATE_GOLDEN=1 rewrites test/fixtures/pop-three/expected/ from the current output.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import YAML from 'yaml'

import {wireguardPublicKey} from '../../src/generators/wireguard-keys.js'
import {runCli, ROOT, tempDir} from '../support/proxy-process.js'
import {checkCorrosionToml, isConnected, parseEnvFile, parseWgConf} from '../unit/generators/config-checks.js'

const FIXTURE = path.join(ROOT, 'test/fixtures/pop-three')
const EXPECTED = path.join(FIXTURE, 'expected')
/** The golden units' ExecStart=, whatever `command -v edgeproxy` finds on the machine running the tests. */
const PINNED_BIN = ['--edgeproxy-bin', '/usr/local/bin/edgeproxy']
const POPS = ['eu', 'sa', 'us'] as const
const POP_FILES = ['README.md', 'corrosion.service', 'corrosion.toml', 'docker-compose.yml', 'edgeproxy.env', 'edgeproxy.service', 'firewall.sh', 'resolved-internal.conf', 'schema/backends.sql', 'wg0.conf']
const FIXTURE_SECRETS = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'secrets.json'), 'utf8')) as {
  corrosion_token: string
  api_token: string
  wireguard_private_keys: Record<string, string>
}

/** relative path → content, for every file under `dir`. */
function readTree(dir: string): Map<string, string> {
  const files = new Map<string, string>()
  const walk = (sub: string) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), {withFileTypes: true})) {
      const rel = sub === '' ? entry.name : `${sub}/${entry.name}`
      if (entry.isDirectory()) walk(rel)
      else files.set(rel, fs.readFileSync(path.join(dir, rel), 'utf8'))
    }
  }
  walk('')
  return new Map([...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
}

function hashTree(dir: string): string {
  const h = crypto.createHash('sha256')
  for (const [file, content] of readTree(dir)) h.update(`${file}\0${content}\0`)
  return h.digest('hex')
}

/** A temp dir holding copies of the fixture's topology and secrets (0600, as the tool leaves it). */
function workspace(t: {after: (fn: () => void) => void}): {dir: string; topology: string; secrets: string; out: string} {
  const {dir, cleanup} = tempDir('edgeproxy-pops-')
  t.after(cleanup)
  const topology = path.join(dir, 'topology.yaml')
  const secrets = path.join(dir, 'secrets.json')
  fs.copyFileSync(path.join(FIXTURE, 'topology.yaml'), topology)
  fs.copyFileSync(path.join(FIXTURE, 'secrets.json'), secrets)
  fs.chmodSync(secrets, 0o600)
  return {dir, topology, secrets, out: path.join(dir, 'out')}
}

function json(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout) as Record<string, unknown>
}

describe('pop generate-config on the three-POP fixture', () => {
  test('matches the golden tree byte for byte, with the documented modes', async (t) => {
    const w = workspace(t)
    // The binary path is pinned: by default it is wherever this machine has edgeproxy installed.
    const run = await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', w.secrets, '--out', w.out, '--json', ...PINNED_BIN])
    assert.equal(run.code, 0, run.stderr)
    const result = json(run.stdout)
    assert.equal(result.dry_run, false)
    assert.deepEqual((result.secrets as {created: string[]}).created, [], 'the fixture secrets are complete: nothing made')

    const actual = readTree(w.out)
    if (process.env.UPDATE_GOLDEN === '1') {
      fs.rmSync(EXPECTED, {recursive: true, force: true})
      fs.cpSync(w.out, EXPECTED, {recursive: true})
    }
    const expected = readTree(EXPECTED)
    assert.deepEqual([...actual.keys()], [...expected.keys()], 'same files')
    for (const [file, content] of expected) assert.equal(actual.get(file), content, `${file} differs from the golden copy (UPDATE_GOLDEN=1 to accept)`)
    assert.deepEqual([...actual.keys()], ['.edgeproxy-output.json', ...POPS.flatMap((p) => POP_FILES.map((f) => `${p}/${f}`))])

    for (const pop of POPS) {
      for (const file of POP_FILES) {
        const mode = fs.statSync(path.join(w.out, pop, file)).mode & 0o777
        const wanted = ['corrosion.toml', 'edgeproxy.env', 'wg0.conf'].includes(file) ? 0o600 : file === 'firewall.sh' ? 0o755 : 0o644
        assert.equal(mode.toString(8), wanted.toString(8), `${pop}/${file} mode`)
      }
    }
    assert.equal(fs.readFileSync(w.secrets, 'utf8'), fs.readFileSync(path.join(FIXTURE, 'secrets.json'), 'utf8'), 'a complete secrets file is left as it was')
    assert.equal(fs.readdirSync(w.dir).filter((n) => n.includes('.tmp-') || n.includes('.old-')).length, 0, 'no temp dirs left behind')
  })

  test('every corrosion.toml is a valid agent config; the bootstrap graph is connected and never self-referencing', async (t) => {
    const w = workspace(t)
    const run = await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', w.secrets, '--out', w.out, '--json'])
    assert.equal(run.code, 0, run.stderr)
    const byGossip = new Map<string, string>()
    const facts = new Map<string, ReturnType<typeof checkCorrosionToml>>()
    for (const pop of POPS) {
      const f = checkCorrosionToml(fs.readFileSync(path.join(w.out, pop, 'corrosion.toml'), 'utf8'), `${pop}/corrosion.toml`)
      facts.set(pop, f)
      byGossip.set(f.gossipAddr, pop)
    }
    const wgAddress = {sa: '10.50.1.1', us: '10.50.2.1', eu: '10.50.3.1'}
    const edges = new Map<string, string[]>()
    for (const pop of POPS) {
      const f = facts.get(pop)!
      assert.equal(f.gossipAddr, `${wgAddress[pop]}:4001`, 'gossip on the WireGuard address')
      assert.equal(f.isPlaintext, true, 'security: plaintext')
      assert.equal(f.maxMtu, 1392, 'fits in WireGuard MTU 1420 (− 20 IPv4 − 8 UDP)')
      assert.equal(f.apiAddr, '127.0.0.1:8090')
      assert.equal(f.bearerToken, FIXTURE_SECRETS.corrosion_token, "the cluster's token")
      assert.ok(f.bootstrap.length >= 1 && f.bootstrap.length < POPS.length - 1, 'a partial list: some other POPs, never all of them')
      const peers = f.bootstrap.map((b) => byGossip.get(b))
      for (const p of peers) assert.ok(p && p !== pop, `${pop} bootstraps from another POP's gossip address`)
      edges.set(pop, peers as string[])
      assert.deepEqual(JSON.parse(JSON.stringify(f.raw.db)), {path: '/var/lib/corrosion/state.db', schema_paths: ['/etc/corrosion/schema']})
      assert.equal(fs.readFileSync(path.join(w.out, pop, 'schema/backends.sql'), 'utf8').includes('CREATE TABLE backends ('), true, 'schema without IF NOT EXISTS')
    }
    assert.ok(isConnected(edges), `bootstrap graph ${JSON.stringify([...edges])} is connected`)
  })

  test("every wg0.conf holds each other POP's derived public key with the right AllowedIPs and Endpoint", async (t) => {
    const w = workspace(t)
    const run = await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', w.secrets, '--out', w.out])
    assert.equal(run.code, 0, run.stderr)
    // 6PN ids are first-fit in name order (eu 1, sa 2, us 3) inside the fixture's stored /48.
    const expect = {
      sa: {wg: '10.50.1.1', endpoint: '203.0.113.10:51820', subnet: 'fd57:a312:81a3:2::/64'},
      us: {wg: '10.50.2.1', endpoint: '198.51.100.7:51820', subnet: 'fd57:a312:81a3:3::/64'},
      eu: {wg: '10.50.3.1', endpoint: '[2001:db8::20]:51820', subnet: 'fd57:a312:81a3:1::/64'},
    }
    const confs = new Map(POPS.map((p) => [p, parseWgConf(fs.readFileSync(path.join(w.out, p, 'wg0.conf'), 'utf8'))]))
    for (const pop of POPS) {
      const conf = confs.get(pop)!
      assert.equal(conf.interface.PrivateKey, FIXTURE_SECRETS.wireguard_private_keys[pop])
      assert.equal(conf.interface.Address, `${expect[pop].wg}/16, ${expect[pop].subnet.replace('::/64', '::1/128')}`, 'dual-stack: IPv4 and the 6PN ::1 as a /128')
      assert.equal(conf.interface.ListenPort, '51820')
      assert.equal(conf.interface.MTU, '1420')
      assert.equal(conf.peers.length, POPS.length - 1, 'full mesh: one peer per other POP')
      for (const other of POPS.filter((p) => p !== pop)) {
        const publicKey = wireguardPublicKey(FIXTURE_SECRETS.wireguard_private_keys[other]!)
        const peer = conf.peers.find((p) => p.PublicKey === publicKey)
        assert.ok(peer, `${other}'s public key is a peer in ${pop}/wg0.conf`)
        assert.equal(peer.AllowedIPs, `${expect[other].wg}/32, ${expect[other].subnet}`, "the peer's IPv4 /32 and its whole 6PN /64")
        assert.equal(peer.Endpoint, expect[other].endpoint)
        assert.equal(peer.PersistentKeepalive, '25')
      }
      const own = wireguardPublicKey(FIXTURE_SECRETS.wireguard_private_keys[pop]!)
      assert.ok(!conf.peers.some((p) => p.PublicKey === own), 'never a peer of itself')
    }
  })

  test('wg-quick strip (wireguard-tools) accepts every generated wg0.conf and keeps both families', async (t) => {
    const probe = spawnSync('wg-quick', ['--help'], {encoding: 'utf8'})
    if (probe.error) {
      t.skip(`wg-quick is not installed (${probe.error.message}); apt-get install wireguard-tools to run this check`)
      return
    }
    const w = workspace(t)
    const run = await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', w.secrets, '--out', w.out])
    assert.equal(run.code, 0, run.stderr)
    for (const pop of POPS) {
      const file = path.join(w.out, pop, 'wg0.conf')
      const strip = spawnSync('wg-quick', ['strip', file], {encoding: 'utf8'})
      assert.equal(strip.status, 0, `wg-quick strip ${pop}/wg0.conf: ${strip.stderr}`)
      const stripped = parseWgConf(strip.stdout)
      assert.equal(stripped.interface.Address, undefined, 'Address is a wg-quick key, stripped for wg setconf')
      assert.equal(stripped.interface.MTU, undefined)
      assert.equal(stripped.peers.length, POPS.length - 1)
      for (const peer of stripped.peers) assert.match(peer.AllowedIPs!, /^10\.50\.\d\.1\/32, fd57:a312:81a3:[1-3]::\/64$/)
      const again = spawnSync('wg-quick', ['strip', file], {encoding: 'utf8'})
      assert.equal(again.stdout, strip.stdout, 'stripping is deterministic')
    }
  })

  test('env files, units, compose files and firewall scripts agree with the agent configs', async (t) => {
    const w = workspace(t)
    const run = await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', w.secrets, '--out', w.out])
    assert.equal(run.code, 0, run.stderr)
    for (const pop of POPS) {
      const dir = path.join(w.out, pop)
      const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8')
      const env = parseEnvFile(read('edgeproxy.env'))
      assert.equal(env.EDGEPROXY_REGION, pop)
      assert.equal(env.EDGEPROXY_CORROSION_ENABLED, 'true')
      assert.equal(env.EDGEPROXY_CORROSION_API_URL, 'http://127.0.0.1:8090')
      assert.equal(env.EDGEPROXY_CORROSION_TOKEN, FIXTURE_SECRETS.corrosion_token)
      assert.equal(env.EDGEPROXY_API_TOKEN, FIXTURE_SECRETS.api_token)
      assert.equal(env.EDGEPROXY_LISTEN_ADDR, pop === 'eu' ? '[::]:8080' : '0.0.0.0:8080', 'an IPv6 POP listens dual-stack')

      const unit = read('edgeproxy.service')
      assert.match(unit, /^Requires=corrosion\.service$/m)
      assert.match(unit, /^After=.*\bcorrosion\.service\b/m)
      assert.match(unit, /^EnvironmentFile=\/etc\/edgeproxy\/edgeproxy\.env$/m)
      assert.match(read('corrosion.service'), /^ExecStart=\/usr\/local\/bin\/corrosion --config \/etc\/corrosion\/config\.toml agent$/m)
      assert.match(read('corrosion.service'), /^Requires=wg-quick@wg0\.service$/m)

      const compose = YAML.parse(read('docker-compose.yml')) as {services: Record<string, Record<string, unknown>>}
      assert.deepEqual(Object.keys(compose.services).sort(), ['corrosion', 'edgeproxy'])
      assert.equal(compose.services.corrosion!.network_mode, 'host')
      assert.equal(compose.services.edgeproxy!.network_mode, 'host', 'shares the loopback the Corrosion API listens on')
      assert.deepEqual(compose.services.edgeproxy!.depends_on, {corrosion: {condition: 'service_started'}})
      assert.ok((compose.services.corrosion!.volumes as string[]).includes('./corrosion.toml:/etc/corrosion/config.toml:ro'))

      const fw = read('firewall.sh')
      assert.match(fw, /^ufw allow 8080\/tcp /m)
      assert.match(fw, /^# ufw allow 8443\/tcp /m, 'TLS is off in edgeproxy.env: its rule waits, commented out')
      assert.doesNotMatch(fw, /^ufw allow 8443/m)
      assert.match(fw, /^ufw allow 51820\/udp /m)
      assert.match(fw, /^ufw allow in on wg0 from 10\.50\.0\.0\/16 to 10\.50\.\d\.1 port 4001 proto udp /m, 'gossip is UDP, WireGuard only')
      assert.match(fw, /^ufw allow in on wg0 .* port 8081 proto tcp /m)
      assert.doesNotMatch(fw, /^ufw allow (4001|8081|8090)\b/m, 'gossip and APIs are never open publicly')
      assert.doesNotMatch(fw.replace(/^#.*$/gm, ''), /4001\/tcp|port 4001 proto tcp/, 'no TCP rule for gossip')

      const readme = read('README.md')
      for (const check of ['edgeproxy corrosion status', 'wg show wg0', 'systemctl enable --now corrosion']) assert.ok(readme.includes(check), `README mentions ${check}`)
      for (const secret of [FIXTURE_SECRETS.corrosion_token, FIXTURE_SECRETS.api_token, FIXTURE_SECRETS.wireguard_private_keys[pop]!]) {
        assert.ok(!readme.includes(secret), 'README holds no secret')
      }
    }
  })
})

describe('pop generate-config runs', () => {
  test('a fresh run makes the secrets file 0600 in --out; a rerun with --force keeps the keys and every byte', async (t) => {
    const w = workspace(t)
    const first = await runCli(['pop', 'generate-config', '--topology', w.topology, '--out', w.out, '--json'])
    assert.equal(first.code, 0, first.stderr)
    const created = (json(first.stdout).secrets as {created: string[]}).created
    assert.deepEqual(created.sort(), [
      'api_token',
      'corrosion_token',
      'ipv6_network',
      'metrics_token',
      'pop_ids.eu',
      'pop_ids.sa',
      'pop_ids.us',
      'wireguard_private_keys.eu',
      'wireguard_private_keys.sa',
      'wireguard_private_keys.us',
    ])
    const secretsFile = path.join(w.out, 'secrets.json')
    assert.equal((fs.statSync(secretsFile).mode & 0o777).toString(8), '600')
    for (const secret of Object.values(JSON.parse(fs.readFileSync(secretsFile, 'utf8')).wireguard_private_keys as Record<string, string>)) {
      assert.ok(!first.stdout.includes(secret) && !first.stderr.includes(secret), 'private keys are never printed')
    }
    const before = hashTree(w.out)

    const again = await runCli(['pop', 'generate-config', '--topology', w.topology, '--out', w.out, '--force', '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual((json(again.stdout).secrets as {created: string[]}).created, [], 'every key reused')
    assert.equal(json(again.stdout).replacing, true)
    assert.equal(hashTree(w.out), before, 'byte-identical output')
    assert.equal((fs.statSync(secretsFile).mode & 0o777).toString(8), '600')
  })

  test('--dry-run prints the plan and writes nothing, not even the secrets file', async (t) => {
    const w = workspace(t)
    const secrets = path.join(w.dir, 'new-secrets.json')
    const run = await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', secrets, '--out', w.out, '--dry-run'])
    assert.equal(run.code, 0, run.stderr)
    assert.equal(fs.existsSync(w.out), false)
    assert.equal(fs.existsSync(secrets), false)
    assert.match(run.stdout, /Dry run: nothing written/)
    for (const pop of POPS) assert.match(run.stdout, new RegExp(`0600 +\\d+ +${pop}/wg0\\.conf`))
    const asJson = await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', secrets, '--out', w.out, '--dry-run', '--json'])
    assert.equal(asJson.code, 0, asJson.stderr)
    assert.equal(json(asJson.stdout).dry_run, true)
    assert.equal((json(asJson.stdout).files as unknown[]).length, POPS.length * POP_FILES.length + 1)
    assert.deepEqual(fs.readdirSync(w.dir).sort(), ['secrets.json', 'topology.yaml'])
  })

  test('an existing output without --force fails naming --force and leaves it untouched', async (t) => {
    const w = workspace(t)
    assert.equal((await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', w.secrets, '--out', w.out])).code, 0)
    const before = hashTree(w.out)
    const run = await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', w.secrets, '--out', w.out, '--json'])
    assert.equal(run.code, 3)
    const error = json(run.stdout).error as {code: string; field: string; suggestion: string}
    assert.equal(error.code, 'EP_OUTPUT_EXISTS')
    assert.equal(error.field, '--out')
    assert.match(error.suggestion, /--force/)
    assert.equal(hashTree(w.out), before)
  })

  test('--force refuses a directory edgeproxy did not write', async (t) => {
    const w = workspace(t)
    fs.mkdirSync(w.out)
    fs.writeFileSync(path.join(w.out, 'notes.txt'), 'mine')
    const run = await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', w.secrets, '--out', w.out, '--force', '--json'])
    assert.equal(run.code, 3)
    assert.equal((json(run.stdout).error as {code: string}).code, 'EP_OUTPUT_FOREIGN')
    assert.deepEqual(fs.readdirSync(w.out), ['notes.txt'])
  })

  test('a topology in JSON is accepted too', async (t) => {
    const w = workspace(t)
    const file = path.join(w.dir, 'topology.json')
    fs.writeFileSync(file, JSON.stringify(YAML.parse(fs.readFileSync(w.topology, 'utf8'))))
    const run = await runCli(['pop', 'generate-config', '--topology', file, '--secrets', w.secrets, '--out', w.out, ...PINNED_BIN])
    assert.equal(run.code, 0, run.stderr)
    assert.equal(hashTree(w.out), hashTree(EXPECTED), 'same files as from the YAML')
  })

  test('one POP only is a warning, not an error', async (t) => {
    const w = workspace(t)
    const file = path.join(w.dir, 'one.yaml')
    fs.writeFileSync(file, 'cluster: solo\npops:\n  - {name: sa, region: sa, public_address: 203.0.113.10, wireguard_address: 10.50.1.1}\n')
    const run = await runCli(['pop', 'generate-config', '--topology', file, '--out', w.out, '--json'])
    assert.equal(run.code, 0, run.stderr)
    const warnings = json(run.stdout).warnings as string[]
    assert.ok(warnings.some((m) => m.startsWith(`${file}: pops: lists one POP only`)), JSON.stringify(warnings))
    const toml = checkCorrosionToml(fs.readFileSync(path.join(w.out, 'sa/corrosion.toml'), 'utf8'))
    assert.deepEqual(toml.bootstrap, [])
    assert.equal(parseWgConf(fs.readFileSync(path.join(w.out, 'sa/wg0.conf'), 'utf8')).peers.length, 0)
  })

  test('without a terminal and without --topology it fails at once naming --topology', async (t) => {
    const w = workspace(t)
    const run = await runCli(['pop', 'generate-config', '--out', w.out, '--json'])
    assert.equal(run.code, 2)
    const error = json(run.stdout).error as {code: string; field: string}
    assert.equal(error.code, 'EP_MISSING_FLAG')
    assert.equal(error.field, '--topology')
    assert.equal(fs.existsSync(w.out), false)
  })
})

describe('pop generate-config refuses bad topologies before writing anything', () => {
  const base = fs.readFileSync(path.join(FIXTURE, 'topology.yaml'), 'utf8')
  const cases: Array<{name: string; edit: (text: string) => string; field: string; quote: string; code?: string}> = [
    {name: 'a WireGuard address that is not IPv4', edit: (s) => s.replace('wireguard_address: 10.50.3.1 }', 'wireguard_address: "10.50.3.1/33" }'), field: 'pops[2].wireguard_address', quote: '"10.50.3.1/33" is not an IPv4 address'},
    {name: 'a duplicate POP name', edit: (s) => s.replace('{ name: us,', '{ name: sa,'), field: 'pops[1].name', quote: '"sa"'},
    {name: 'overlapping WireGuard addresses', edit: (s) => s.replace('wireguard_address: 10.50.2.1', 'wireguard_address: 10.50.1.1'), field: 'pops[1].wireguard_address', quote: '"10.50.1.1" overlaps pops[0].wireguard_address'},
    {name: 'an unknown region', edit: (s) => s.replace('region: us,', 'region: mars,'), field: 'pops[1].region', quote: '"mars"'},
    {name: 'a bad port', edit: (s) => s.replace('proxy: 8080', 'proxy: 70000'), field: 'ports.proxy', quote: '70000'},
    {name: 'YAML that does not parse', edit: (s) => s.replace('pops:', 'pops: [oops'), field: '--topology', quote: 'not valid YAML', code: 'EP_TOPOLOGY_UNREADABLE'},
  ]
  for (const c of cases) {
    test(c.name, async (t) => {
      const w = workspace(t)
      fs.writeFileSync(w.topology, c.edit(base))
      assert.notEqual(c.edit(base), base, 'the edit applies')
      const run = await runCli(['pop', 'generate-config', '--topology', w.topology, '--secrets', path.join(w.dir, 'fresh.json'), '--out', w.out, '--json'])
      assert.equal(run.code, 3, run.stdout + run.stderr)
      const error = json(run.stdout).error as {code: string; field: string; message: string}
      assert.equal(error.code, c.code ?? 'EP_TOPOLOGY_INVALID')
      assert.equal(error.field, c.field)
      assert.ok(error.message.includes(w.topology), `names the file: ${error.message}`)
      assert.ok(error.message.includes(c.quote), `quotes the value: ${error.message}`)
      assert.equal(fs.existsSync(w.out), false, 'nothing written')
      assert.equal(fs.existsSync(path.join(w.dir, 'fresh.json')), false, 'no secrets made')
    })
  }
})
