// End to end: `edgeproxy corrosion bootstrap` as a child process. The agent config passes Corrosion's
// rules (TLS by default, plaintext on request), the token stays in 0600 files and out of the
// output, reruns are byte-identical, --dry-run writes nothing, and the files equal what
// `pop generate-config` writes for the same POP (one set of renderers).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {parse as parseToml} from 'smol-toml'
import YAML from 'yaml'

import {runCli, ROOT, tempDir} from '../support/proxy-process.js'
import {checkCorrosionToml, parseEnvFile} from '../unit/generators/config-checks.js'

const FIXTURE = path.join(ROOT, 'test/fixtures/pop-three')
const FILES = ['.edgeproxy-output.json', 'README.md', 'corrosion.service', 'corrosion.toml', 'docker-compose.yml', 'edgeproxy.env', 'edgeproxy.service', 'firewall.sh', 'schema/backends.sql', 'secrets.json']

function work(t: {after: (fn: () => void) => void}): {dir: string; out: string} {
  const {dir, cleanup} = tempDir('edgeproxy-bootstrap-')
  t.after(cleanup)
  return {dir, out: path.join(dir, 'corrosion')}
}

function json(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout) as Record<string, unknown>
}

function listFiles(dir: string, sub = ''): string[] {
  return fs
    .readdirSync(path.join(dir, sub), {withFileTypes: true})
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, `${sub}${e.name}/`) : [`${sub}${e.name}`]))
    .sort()
}

function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(listFiles(dir).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]))
}

const BASE = ['corrosion', 'bootstrap', '--name', 'eu-1', '--region', 'eu', '--gossip-addr', '10.50.3.1:4001']

/** BASE with `--flag value` pairs replaced or appended (oclif refuses a flag given twice). */
function withFlags(pairs: string[]): string[] {
  const args = [...BASE]
  for (let i = 0; i < pairs.length; i += 2) {
    const at = args.indexOf(pairs[i]!)
    if (at >= 0) args[at + 1] = pairs[i + 1]!
    else args.push(pairs[i]!, pairs[i + 1]!)
  }
  return args
}

describe('corrosion bootstrap', () => {
  test('writes a TLS agent config, schema, units, env, compose and firewall; the token only in 0600 files', async (t) => {
    const w = work(t)
    const run = await runCli([...BASE, '--bootstrap', '10.50.1.1:4001,seed.internal:4001', '--out', w.out, '--json'])
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(listFiles(w.out), FILES)
    const result = json(run.stdout)
    assert.equal(result.gossip_security, 'tls')
    assert.equal(result.corrosion_token, undefined, 'no token in the output unless --show-token')

    const toml = checkCorrosionToml(fs.readFileSync(path.join(w.out, 'corrosion.toml'), 'utf8'))
    assert.equal(toml.isPlaintext, false)
    assert.equal(toml.gossipAddr, '10.50.3.1:4001')
    assert.deepEqual(toml.bootstrap, ['10.50.1.1:4001', 'seed.internal:4001'])
    assert.equal(toml.apiAddr, '127.0.0.1:8090', 'loopback by default')
    assert.equal(toml.maxMtu, undefined, 'autodetect unless --max-mtu')
    const tls = (toml.raw.gossip as {tls: Record<string, unknown>}).tls
    assert.equal(tls.ca_file, '/etc/corrosion/tls/ca_cert.pem')
    assert.equal(tls.insecure, false)
    assert.deepEqual({...(tls.client as object)}, {cert_file: '/etc/corrosion/tls/client_cert.pem', key_file: '/etc/corrosion/tls/client_key.pem'}, 'mutual TLS')

    const secrets = JSON.parse(fs.readFileSync(path.join(w.out, 'secrets.json'), 'utf8')) as {corrosion_token: string; api_token: string}
    assert.equal(toml.bearerToken, secrets.corrosion_token)
    const env = parseEnvFile(fs.readFileSync(path.join(w.out, 'edgeproxy.env'), 'utf8'))
    assert.equal(env.EDGEPROXY_CORROSION_ENABLED, 'true')
    assert.equal(env.EDGEPROXY_CORROSION_API_URL, 'http://127.0.0.1:8090')
    assert.equal(env.EDGEPROXY_CORROSION_TOKEN, secrets.corrosion_token)
    assert.equal(env.EDGEPROXY_REGION, 'eu')
    for (const file of ['secrets.json', 'corrosion.toml', 'edgeproxy.env']) {
      assert.equal((fs.statSync(path.join(w.out, file)).mode & 0o777).toString(8), '600', `${file} is 0600`)
    }
    for (const token of [secrets.corrosion_token, secrets.api_token]) assert.ok(!run.stdout.includes(token) && !run.stderr.includes(token), 'tokens never printed')

    assert.match(fs.readFileSync(path.join(w.out, 'edgeproxy.service'), 'utf8'), /^Requires=corrosion\.service$/m)
    const fw = fs.readFileSync(path.join(w.out, 'firewall.sh'), 'utf8')
    assert.match(fw, /^ufw allow in on wg0 to 10\.50\.3\.1 port 4001 proto udp /m, 'gossip is UDP, private interface only')
    assert.doesNotMatch(fw, /^ufw allow 4001/m)
    assert.doesNotMatch(fw, /8090/, 'no rule for the loopback-only Corrosion API')
    const compose = YAML.parse(fs.readFileSync(path.join(w.out, 'docker-compose.yml'), 'utf8')) as {services: Record<string, Record<string, unknown>>}
    assert.ok((compose.services.corrosion!.volumes as string[]).includes('/etc/corrosion/tls:/etc/corrosion/tls:ro'), 'TLS files mounted')
    assert.equal(compose.services.edgeproxy!.network_mode, 'host')
    // The image's entrypoint script would rewrite the mounted config: the binary is the entrypoint.
    assert.deepEqual(compose.services.corrosion!.entrypoint, ['corrosion', '--config', '/etc/corrosion/config.toml', 'agent'])
    assert.equal(compose.services.corrosion!.command, undefined)
    assert.ok((compose.services.edgeproxy!.volumes as string[]).includes('/var/lib/edgeproxy:/var/lib/edgeproxy'), 'the saved routing table outlives the container')
    assert.equal(env.EDGEPROXY_CORROSION_STATE_FILE, '/var/lib/edgeproxy/routing-state.json')
  })

  test('--plaintext, --max-mtu and --show-token', async (t) => {
    const w = work(t)
    const run = await runCli([...BASE, '--plaintext', '--max-mtu', '1392', '--show-token', '--out', w.out])
    assert.equal(run.code, 0, run.stderr)
    const toml = checkCorrosionToml(fs.readFileSync(path.join(w.out, 'corrosion.toml'), 'utf8'))
    assert.equal(toml.isPlaintext, true)
    assert.equal(toml.maxMtu, 1392)
    assert.deepEqual(toml.bootstrap, [])
    assert.ok(run.stdout.includes(`Corrosion bearer token: ${toml.bearerToken}`), 'printed when asked')
    assert.match(run.stderr, /no --bootstrap given/)
  })

  test('a rerun with --force keeps the token and every byte; without --force it fails naming --force', async (t) => {
    const w = work(t)
    assert.equal((await runCli([...BASE, '--out', w.out])).code, 0)
    const before = snapshot(w.out)
    const refused = await runCli([...BASE, '--out', w.out, '--json'])
    assert.equal(refused.code, 3)
    const error = json(refused.stdout).error as {code: string; suggestion: string}
    assert.equal(error.code, 'EP_OUTPUT_EXISTS')
    assert.match(error.suggestion, /--force/)
    const again = await runCli([...BASE, '--out', w.out, '--force', '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual((json(again.stdout).secrets as {created: string[]}).created, [])
    assert.deepEqual(snapshot(w.out), before)
  })

  test('--dry-run prints the files with secrets redacted and writes nothing', async (t) => {
    const w = work(t)
    const run = await runCli([...BASE, '--out', w.out, '--dry-run', '--token', 'a-token-given-by-flag-0123456789'])
    assert.equal(run.code, 0, run.stderr)
    assert.equal(fs.existsSync(w.out), false)
    assert.match(run.stdout, /==> corrosion\.toml <==/)
    assert.match(run.stdout, /bearer-token = "<redacted>"/)
    assert.ok(!run.stdout.includes('a-token-given-by-flag-0123456789'))
    const asJson = await runCli([...BASE, '--out', w.out, '--dry-run', '--json'])
    const preview = json(asJson.stdout).preview as Record<string, string>
    assert.ok(preview['corrosion.toml']!.includes('bearer-token = "<redacted>"'))
    assert.equal(fs.existsSync(w.out), false)
  })

  test('without a terminal, missing required values fail at once naming the flags', async (t) => {
    const w = work(t)
    const run = await runCli(['corrosion', 'bootstrap', '--name', 'x', '--out', w.out, '--json'])
    assert.equal(run.code, 2)
    const error = json(run.stdout).error as {code: string; field: string; message: string}
    assert.equal(error.code, 'EP_MISSING_FLAG')
    assert.equal(error.field, '--region')
    assert.match(error.message, /--region and --gossip-addr/)
    assert.equal(fs.existsSync(w.out), false)
  })

  const bad: Array<{args: string[]; field: string; quote: string}> = [
    {args: ['--bootstrap', '10.50.1.1:4001,10.50.3.1:4001'], field: '--bootstrap', quote: '10.50.3.1:4001'},
    {args: ['--gossip-addr', 'pop.example.com:4001'], field: '--gossip-addr', quote: 'pop.example.com:4001'},
    {args: ['--gossip-addr', '0.0.0.0:4001'], field: '--gossip-addr', quote: '0.0.0.0:4001'},
    {args: ['--max-mtu', '1100'], field: '--max-mtu', quote: '1100'},
    {args: ['--region', 'mars'], field: '--region', quote: 'mars'},
    {args: ['--token', 'short'], field: '--token', quote: '--token'},
  ]
  for (const c of bad) {
    test(`refuses ${c.args.join(' ')} naming ${c.field}`, async (t) => {
      const w = work(t)
      const run = await runCli([...withFlags(c.args), '--out', w.out, '--json'])
      assert.equal(run.code, 3, run.stdout + run.stderr)
      const error = json(run.stdout).error as {field: string; message: string}
      assert.equal(error.field, c.field)
      assert.ok(error.message.includes(c.quote), error.message)
      assert.equal(fs.existsSync(w.out), false)
    })
  }

  test('writes the same agent config, env and units as pop generate-config for the same POP', async (t) => {
    const w = work(t)
    const secrets = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'secrets.json'), 'utf8')) as {corrosion_token: string; api_token: string}
    const run = await runCli(
      [
        'corrosion', 'bootstrap', '--out', w.out, '--cluster', 'edge', '--name', 'sa', '--region', 'sa', '--country', 'BR',
        '--gossip-addr', '10.50.1.1:4001', '--bootstrap', '10.50.2.1:4001', '--plaintext', '--max-mtu', '1392',
        '--api-listen', '10.50.1.1:8081', '--token', secrets.corrosion_token, '--api-token', secrets.api_token,
      ],
    )
    assert.equal(run.code, 0, run.stderr)
    const pop = path.join(FIXTURE, 'expected/sa')
    const mine = (f: string) => fs.readFileSync(path.join(w.out, f), 'utf8')
    const theirs = (f: string) => fs.readFileSync(path.join(pop, f), 'utf8')
    assert.deepEqual(parseToml(mine('corrosion.toml')), parseToml(theirs('corrosion.toml')), 'same agent config, comments aside')
    // Internal DNS and the Prometheus listener are pop generate-config's alone: DNS listens on the POP's
    // 6PN ::3, which bootstrap has no plan for, and the metrics token and scrape config are per cluster.
    const withoutDns = (env: Record<string, string>) => Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('EDGEPROXY_DNS_') && !k.startsWith('EDGEPROXY_METRICS_')))
    assert.deepEqual(parseEnvFile(mine('edgeproxy.env')), withoutDns(parseEnvFile(theirs('edgeproxy.env'))))
    assert.equal(mine('schema/backends.sql'), theirs('schema/backends.sql'))
    const body = (text: string) => text.replace(/^#.*\n/gm, '')
    assert.equal(body(mine('edgeproxy.service')), body(theirs('edgeproxy.service')))
  })
})
