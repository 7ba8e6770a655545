// End to end: `edgeproxy pop generate-config` (bin/run.js) on a topology with an anycast section.
// Golden tree, modes, every bird.conf through the real `bird -p -c` with its includes where the POP
// would have them, and bad anycast settings refused before anything is written.
// UPDATE_GOLDEN=1 rewrites test/fixtures/pop-anycast/expected/ (the anycast files only) from the current output.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {readPasswords, renderBirdPasswords} from '../../src/anycast/passwords.js'
import {birdParse, birdUnavailableReason} from '../support/bird.js'
import {runCli, ROOT, tempDir} from '../support/proxy-process.js'
import {parseEnvFile} from '../unit/generators/config-checks.js'

const FIXTURE = path.join(ROOT, 'test/fixtures/pop-anycast')
const EXPECTED = path.join(FIXTURE, 'expected')
const README_SECTION = '\n## Anycast (BGP)\n'
const ANYCAST_FILES = ['anycast-gate.conf', 'anycast.env', 'bgp-passwords.env', 'bird.conf', 'edgeproxy-anycast-setup.service', 'edgeproxy-anycast.service', 'firewall-bgp.sh']

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

async function generate(t: {after: (fn: () => void) => void}, edit?: (text: string) => string) {
  const {dir, cleanup} = tempDir('edgeproxy-anycast-pops-')
  t.after(cleanup)
  const topology = path.join(dir, 'topology.yaml')
  const secrets = path.join(dir, 'secrets.json')
  const text = fs.readFileSync(path.join(FIXTURE, 'topology.yaml'), 'utf8')
  fs.writeFileSync(topology, edit ? edit(text) : text)
  fs.copyFileSync(path.join(FIXTURE, 'secrets.json'), secrets)
  fs.chmodSync(secrets, 0o600)
  const out = path.join(dir, 'out')
  const run = await runCli(['pop', 'generate-config', '--topology', topology, '--secrets', secrets, '--out', out, '--json'])
  return {dir, out, run, topology}
}

const skip = birdUnavailableReason()
if (skip) console.log(`# pop-generate-anycast: skipping the bird -p -c check: ${skip}`)

describe('pop generate-config with an anycast section', () => {
  test('matches the golden anycast files; POPs with bgp get them, with their modes', async (t) => {
    const {out, run} = await generate(t)
    assert.equal(run.code, 0, run.stderr)
    // Only the anycast files and the README's anycast section are golden here: the rest of the
    // tree belongs to the other generators and their own golden test (pop-three).
    const all = readTree(out)
    const actual = new Map<string, string>()
    for (const [file, content] of all) {
      const [pop, name] = file.split('/')
      if (name && ANYCAST_FILES.includes(name)) actual.set(file, content)
      if (name === 'README.md' && content.includes(README_SECTION)) actual.set(`${pop}/README-anycast-section.md`, content.slice(content.indexOf(README_SECTION)))
    }
    if (process.env.UPDATE_GOLDEN === '1') {
      fs.rmSync(EXPECTED, {recursive: true, force: true})
      for (const [file, content] of actual) {
        fs.mkdirSync(path.dirname(path.join(EXPECTED, file)), {recursive: true})
        fs.writeFileSync(path.join(EXPECTED, file), content)
      }
    }
    const expected = readTree(EXPECTED)
    assert.deepEqual([...actual.keys()], [...expected.keys()], 'same files')
    for (const [file, content] of expected) assert.equal(actual.get(file), content, `${file} differs from the golden copy (UPDATE_GOLDEN=1 to accept)`)
    for (const pop of ['sa', 'us']) {
      for (const file of ANYCAST_FILES) {
        const mode = fs.statSync(path.join(out, pop, file)).mode & 0o777
        const wanted = file === 'bgp-passwords.env' ? 0o600 : file === 'firewall-bgp.sh' ? 0o755 : 0o644
        assert.equal(mode.toString(8), wanted.toString(8), `${pop}/${file}`)
      }
    }
    assert.deepEqual([...all.keys()].filter((f) => f.startsWith('eu/') && ANYCAST_FILES.includes(f.slice(3))), [], 'a POP without bgp gets no anycast files')
  })

  test('every bird.conf passes bird -p -c with its includes; the gate starts withdrawn', {skip}, async (t) => {
    const {dir, out, run} = await generate(t)
    assert.equal(run.code, 0, run.stderr)
    for (const pop of ['sa', 'us']) {
      const folder = path.join(out, pop)
      const env = parseEnvFile(fs.readFileSync(path.join(folder, 'anycast.env'), 'utf8'))
      assert.match(fs.readFileSync(path.join(folder, 'anycast-gate.conf'), 'utf8'), /^define EDGE_ANNOUNCE = false;$/m)
      const names = Object.keys(parseEnvFile(fs.readFileSync(path.join(folder, 'bgp-passwords.env'), 'utf8').replace(/=$/gm, '=x')))
      const passwords = path.join(dir, `${pop}-passwords.conf`)
      fs.writeFileSync(passwords, renderBirdPasswords(readPasswords(names, Object.fromEntries(names.map((n) => [n, `pw-${n}`])))))
      // The same file, with the two include paths of the POP pointed at copies here.
      const conf = path.join(dir, `${pop}-bird.conf`)
      const text = fs.readFileSync(path.join(folder, 'bird.conf'), 'utf8')
      assert.ok(text.includes(`include "${env.EDGEPROXY_ANYCAST_GATE_FILE}";`))
      assert.ok(text.includes(`include "${env.EDGEPROXY_ANYCAST_BIRD_PASSWORDS_FILE}";`))
      fs.writeFileSync(
        conf,
        text.replace(`"${env.EDGEPROXY_ANYCAST_GATE_FILE}"`, JSON.stringify(path.join(folder, 'anycast-gate.conf'))).replace(`"${env.EDGEPROXY_ANYCAST_BIRD_PASSWORDS_FILE}"`, JSON.stringify(passwords)),
      )
      const parsed = birdParse(conf)
      assert.equal(parsed.code, 0, `${pop}/bird.conf: ${parsed.output}`)
    }
  })

  test('units, env files and firewall agree with the topology', async (t) => {
    const {out, run} = await generate(t)
    assert.equal(run.code, 0, run.stderr)
    const read = (f: string) => fs.readFileSync(path.join(out, f), 'utf8')
    const env = parseEnvFile(read('us/anycast.env'))
    assert.equal(env.EDGEPROXY_ANYCAST_PROBE_ADDRS, '198.51.100.10:8080,[2001:db8:100::10]:8080')
    assert.equal(env.EDGEPROXY_ANYCAST_HEALTH_URL, 'http://10.50.2.1:8081/health')
    assert.deepEqual([env.EDGEPROXY_ANYCAST_INTERVAL_SECS, env.EDGEPROXY_ANYCAST_TIMEOUT_SECS, env.EDGEPROXY_ANYCAST_RISE, env.EDGEPROXY_ANYCAST_FALL, env.EDGEPROXY_ANYCAST_DRAIN_SECS], ['2', '1', '3', '2', '30'])
    assert.equal(parseEnvFile(read('us/edgeproxy.env')).EDGEPROXY_LISTEN_ADDR, '[::]:8080', 'an IPv6 anycast address needs the dual-stack listener')
    const watch = read('us/edgeproxy-anycast.service')
    assert.match(watch, /^ExecStart=\/usr\/local\/bin\/edgeproxy anycast watch$/m)
    assert.match(watch, /^ExecStopPost=\/usr\/local\/bin\/edgeproxy anycast withdraw$/m)
    assert.doesNotMatch(watch, /^(Requires|BindsTo|PartOf)=.*bird/m, 'stopping the watcher never stops BIRD')
    const setup = read('sa/edgeproxy-anycast-setup.service')
    assert.match(setup, /^ExecStart=\/usr\/sbin\/ip address replace 198\.51\.100\.10\/32 dev edge-anycast$/m)
    assert.match(setup, /^ExecStart=\/usr\/sbin\/ip address replace 2001:db8:100::10\/128 dev edge-anycast nodad$/m)
    assert.match(setup, /^ExecStart=\/usr\/local\/bin\/edgeproxy anycast prepare --password-env EDGEPROXY_BGP_PASSWORD$/m)
    assert.match(setup, /^RequiredBy=bird\.service$/m)
    assert.doesNotMatch(setup + watch, /ip (address|addr) (del|flush)|link del/, 'the addresses are never removed')
    const fw = read('us/firewall-bgp.sh')
    assert.deepEqual(
      fw.split('\n').filter((l) => l.startsWith('ufw allow')),
      [
        "ufw allow proto tcp from 192.0.2.1 to any port 179 comment 'BGP peer 192.0.2.1 AS20473'",
        "ufw allow proto tcp from 192.0.2.5 to any port 179 comment 'BGP peer 192.0.2.5 AS64600'",
        "ufw allow proto tcp from 2001:db8:ffff::1 to any port 179 comment 'BGP peer 2001:db8:ffff::1 AS20473'",
      ],
    )
    assert.doesNotMatch(read('us/firewall.sh'), /\b179\b/, 'BGP is never opened to everyone')
    assert.match(read('sa/README.md'), /## Anycast \(BGP\)/)
    assert.doesNotMatch(read('eu/README.md'), /Anycast/)
  })

  const bad: Array<{name: string; edit: (s: string) => string; field: string; quote: string}> = [
    {name: 'an IPv4-mapped prefix', edit: (s) => s.replace('"2001:db8:100::/48"', '"::ffff:198.51.100.0/120"'), field: 'anycast.announce[1]', quote: 'IPv4 prefix written as IPv6'},
    {name: 'an address outside the prefixes', edit: (s) => s.replace('addresses: [198.51.100.10,', 'addresses: [203.0.113.99,'), field: 'anycast.addresses[0]', quote: '"203.0.113.99" is outside every announced IPv4 prefix'},
    {name: 'a public peer without remove_private_as', edit: (s) => s.replace('asn: 20473, remove_private_as: true, password_env', 'asn: 20473, password_env'), field: 'pops[1].bgp.peers[0].asn', quote: '20473 is a public AS number'},
  ]
  for (const c of bad) {
    test(`refuses ${c.name}, naming the key, writing nothing`, async (t) => {
      const {out, run, topology} = await generate(t, c.edit)
      assert.equal(run.code, 3, run.stdout + run.stderr)
      const error = (JSON.parse(run.stdout) as {error: {code: string; field: string; message: string}}).error
      assert.equal(error.code, 'EP_TOPOLOGY_INVALID')
      assert.equal(error.field, c.field)
      assert.ok(error.message.includes(topology) && error.message.includes(c.quote), error.message)
      assert.equal(fs.existsSync(out), false)
    })
  }

  test('a prefix longer than /24 is a warning, and the files are written', async (t) => {
    const {run} = await generate(t, (s) => s.replace('announce: [198.51.100.0/24', 'announce: [198.51.100.0/25'))
    assert.equal(run.code, 0, run.stderr)
    const warnings = (JSON.parse(run.stdout) as {warnings: string[]}).warnings
    assert.ok(warnings.some((w) => w.includes('anycast.announce[0]: "198.51.100.0/25" is longer than /24')), JSON.stringify(warnings))
  })
})
