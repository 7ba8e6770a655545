import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {
  DEFAULT_CORROSION_PATHS,
  DEFAULT_HOST_PATHS,
  GeneratorInputsError,
  planBootstrap,
  resolveBootstrapSettings,
  resolveClusterSecrets,
  type BootstrapInput,
} from '../../../src/generators/index.js'
import {checkCorrosionToml, parseEnvFile} from './config-checks.js'

const input: BootstrapInput = {
  cluster: 'edge',
  name: 'eu-1',
  region: 'eu',
  gossipAddr: '10.50.3.1:4001',
  bootstrap: '10.50.2.1:4001, 10.50.1.1:4001,10.50.2.1:4001',
  isPlaintext: false,
  tlsCert: '/etc/corrosion/tls/server_cert.pem',
  tlsKey: '/etc/corrosion/tls/server_key.pem',
  tlsCa: '/etc/corrosion/tls/ca_cert.pem',
  tlsClientCert: '/etc/corrosion/tls/client_cert.pem',
  tlsClientKey: '/etc/corrosion/tls/client_key.pem',
  apiAddr: '127.0.0.1:8090',
  ...DEFAULT_CORROSION_PATHS,
  configPath: DEFAULT_HOST_PATHS.corrosionConfig,
  listen: '0.0.0.0:8080',
  tlsListen: '0.0.0.0:8443',
  apiListen: '127.0.0.1:8081',
  privateInterface: 'wg0',
  corrosionBin: DEFAULT_HOST_PATHS.corrosionBin,
  edgeproxyBin: DEFAULT_HOST_PATHS.edgeproxyBin,
  envPath: DEFAULT_HOST_PATHS.edgeproxyEnv,
}

function refused(overrides: Partial<BootstrapInput>): GeneratorInputsError {
  try {
    resolveBootstrapSettings({...input, ...overrides})
  } catch (error) {
    assert.ok(error instanceof GeneratorInputsError, String(error))
    assert.equal(error.exitCode, 3)
    assert.equal(error.code, 'EP_GENERATE_INVALID')
    return error
  }
  assert.fail(`accepted ${JSON.stringify(overrides)}`)
}

describe('resolveBootstrapSettings', () => {
  test('sorts and de-duplicates the seeds; TLS unless plaintext', () => {
    const s = resolveBootstrapSettings(input)
    assert.deepEqual(s.bootstrap, ['10.50.1.1:4001', '10.50.2.1:4001'])
    assert.ok(s.tls)
    assert.deepEqual(s.warnings, [])
    assert.equal(resolveBootstrapSettings({...input, isPlaintext: true}).tls, undefined)
  })

  test('hostnames and DNS servers are allowed in seeds only', () => {
    const s = resolveBootstrapSettings({...input, bootstrap: 'corrosion.internal:4001@[fdaa::3]:53,[fd00::2]:4001'})
    assert.deepEqual(s.bootstrap, ['[fd00::2]:4001', 'corrosion.internal:4001@[fdaa::3]:53'])
  })

  const cases: Array<[Partial<BootstrapInput>, string, RegExp]> = [
    [{gossipAddr: 'pop.example:4001'}, '--gossip-addr', /hostname; Corrosion only accepts IP literals/],
    [{gossipAddr: '[::]:4001'}, '--gossip-addr', /unspecified/],
    [{gossipAddr: 'fd00::1:4001'}, '--gossip-addr', /brackets/],
    [{bootstrap: '10.50.3.1:4001'}, '--bootstrap', /own gossip address 10\.50\.3\.1:4001/],
    [{bootstrap: '10.50.1.1'}, '--bootstrap', /"10\.50\.1\.1"/],
    [{bootstrap: 'a@b@c'}, '--bootstrap', /more than one "@"/],
    [{region: 'EUROPE'}, '--region', /"EUROPE" is not a region/],
    [{country: 'UK'}, '--country', /"UK"/],
    [{apiAddr: 'localhost:8090'}, '--api-addr', /hostname/],
    [{maxMtu: '1199'}, '--max-mtu', /"1199"/],
    [{dbPath: 'state.db'}, '--db-path', /absolute path/],
    [{apiListen: '127.0.0.1:8090'}, '--api-addr', /port 8090, already taken by --api-listen/],
    [{name: 'Bad Name'}, '--name', /not a valid name/],
    [{privateInterface: 'a-very-long-interface-name'}, '--private-interface', /not an interface name/],
  ]
  for (const [overrides, flag, message] of cases) {
    test(`refuses ${JSON.stringify(overrides)} naming ${flag}`, () => {
      const error = refused(overrides)
      assert.equal(error.field, flag)
      assert.match(error.message, message)
      assert.match(error.suggestion ?? '', new RegExp(flag))
    })
  }

  test('every bad flag is listed, one per line, in one error', () => {
    const error = refused({region: 'mars', gossipAddr: 'pop.example:4001', bootstrap: '10.50.1.1,a@b@c', dbPath: 'state.db', listen: '0.0.0.0:8081', name: 'Bad Name', country: 'UK'})
    const lines = error.message.split('\n')
    assert.equal(lines[0], '8 problems with the flags:')
    assert.deepEqual(
      lines.slice(1).map((l) => l.match(/^ {2}- (--[a-z-]+) /)?.[1]),
      ['--name', '--region', '--country', '--gossip-addr', '--bootstrap', '--bootstrap', '--api-listen', '--db-path'],
    )
    assert.equal(error.field, '--name')
    assert.equal(error.toJSON().problems.length, 8)
    assert.match(error.suggestion ?? '', /^fix each one: --name .*; --region one of sa, us, eu, ap; /)
  })

  test('a non-loopback Corrosion API and an empty seed list are warnings', () => {
    const s = resolveBootstrapSettings({...input, apiAddr: '10.50.3.1:8090', bootstrap: ''})
    assert.equal(s.warnings.length, 2)
  })
})

describe('planBootstrap', () => {
  test('one host folder: agent config, env and units agree; no WireGuard file', () => {
    const settings = resolveBootstrapSettings({...input, isPlaintext: true, maxMtu: '1392'})
    const secrets = resolveClusterSecrets(undefined, {cluster: 'edge'}, 's.json').secrets
    const plan = planBootstrap(settings, secrets)
    assert.deepEqual(plan.files.map((f) => f.path), ['corrosion.toml', 'schema/backends.sql', 'edgeproxy.env', 'corrosion.service', 'edgeproxy.service', 'docker-compose.yml', 'firewall.sh', 'README.md'])
    const toml = checkCorrosionToml(plan.files[0]!.content)
    assert.equal(toml.isPlaintext, true)
    assert.equal(toml.maxMtu, 1392)
    assert.equal(toml.bearerToken, secrets.corrosionToken)
    const env = parseEnvFile(plan.files[2]!.content)
    assert.equal(env.EDGEPROXY_CORROSION_TOKEN, secrets.corrosionToken)
    assert.equal(env.EDGEPROXY_API_TOKEN, secrets.apiToken)
    assert.match(plan.files[3]!.content, /^Wants=wg-quick@wg0\.service$/m, 'waits for the tunnel without requiring it')
    assert.deepEqual(plan.secretValues.sort(), [secrets.apiToken, secrets.corrosionToken, secrets.corrosionToken].sort())
  })

  test('an unspecified API address is reached over loopback', () => {
    const settings = resolveBootstrapSettings({...input, apiAddr: '0.0.0.0:8090'})
    const plan = planBootstrap(settings, resolveClusterSecrets(undefined, {cluster: 'edge'}, 's').secrets)
    assert.equal(plan.host.edgeproxy.corrosionApiUrl, 'http://127.0.0.1:8090')
  })
})
