// Prometheus in generated POP configs: edgeproxy.env binds the metrics listener to the POP's
// WireGuard address with a read-only token, firewall.sh opens that port on wg0 only, and the README
// carries a scrape config naming every POP, which the real promtool accepts. The env file is read
// back through the same resolver `edgeproxy start` uses.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, test} from 'node:test'

import {resolveStartConfig} from '../../../src/config/start-config.js'
import {parseSecretsJson, planPopConfigs, renderSecretsJson, resolveClusterSecrets} from '../../../src/generators/index.js'
import {loadTopologyFile} from '../../../src/topology/index.js'
import {parseEnvFile} from './config-checks.js'

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/pop-three')
const topology = loadTopologyFile(path.join(FIXTURE, 'topology.yaml')).topology
const secrets = parseSecretsJson(fs.readFileSync(path.join(FIXTURE, 'secrets.json'), 'utf8'), 'secrets.json')

/** The ```yaml block of a README, un-indented. */
function yamlBlock(readme: string): string {
  const m = /^( *)```yaml\n([\s\S]*?)^\1```$/m.exec(readme)
  assert.ok(m, 'the README has a yaml block')
  return m[2].replace(new RegExp(`^${m[1]}`, 'gm'), '')
}

describe('pop generate-config: Prometheus metrics', () => {
  const plan = planPopConfigs(topology, secrets)
  const file = (p: string) => plan.files.find((f) => f.path === p)!.content

  test("the metrics listener on the POP's WireGuard address with the read-only token, opened on wg0 only", () => {
    for (const pop of plan.pops) {
      const config = resolveStartConfig({}, parseEnvFile(file(`${pop.name}/edgeproxy.env`)))
      assert.deepEqual(config.metrics.listen, {host: pop.wireguardAddress, port: 9091})
      assert.equal(config.metrics.token, secrets.metricsToken, 'the metrics token, not the API token')
      assert.notEqual(config.metrics.token, config.api?.token)
      assert.equal(config.metrics.isInsecure, false)
      const fw = file(`${pop.name}/firewall.sh`)
      assert.match(fw, new RegExp(`^ufw allow in on wg0 from 10\\.50\\.0\\.0/16 to ${pop.wireguardAddress.replace(/\./g, '\\.')} port 9091 proto tcp `, 'm'))
      assert.doesNotMatch(fw, /^ufw allow 9091/m, 'never open to the internet')
      assert.ok(!file(`${pop.name}/README.md`).includes(secrets.metricsToken!), 'the README never holds the token')
      assert.ok(plan.secretValues.includes(secrets.metricsToken!), 'redacted in dry runs')
    }
  })

  test('every README has the same scrape config, naming every POP, and promtool accepts it', (t) => {
    const configs = plan.pops.map((pop) => yamlBlock(file(`${pop.name}/README.md`)))
    assert.equal(new Set(configs).size, 1, 'one scrape config for the cluster')
    const config = configs[0]
    for (const pop of plan.pops) {
      assert.match(config, new RegExp(`- targets: \\['${pop.wireguardAddress.replace(/\./g, '\\.')}:9091'\\]\\n\\s+labels: \\{pop: ${pop.name}, region: ${pop.region}\\}`))
    }
    const check = spawnSync('promtool', ['--version'], {encoding: 'utf8'})
    if (check.error) {
      t.skip('promtool is not installed (Debian package prometheus; .ci/run installs it)')
      return
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeproxy-prom-'))
    t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
    const tokenFile = path.join(dir, 'edgeproxy-metrics.token')
    fs.writeFileSync(tokenFile, secrets.metricsToken!, {mode: 0o600})
    const promYml = path.join(dir, 'prometheus.yml')
    fs.writeFileSync(promYml, config.replace('/etc/prometheus/edgeproxy-metrics.token', tokenFile))
    const result = spawnSync('promtool', ['check', 'config', promYml], {encoding: 'utf8'})
    assert.equal(result.status, 0, `promtool check config:\n${result.stdout}${result.stderr}`)
    // And a broken one fails, so the check is real.
    fs.writeFileSync(promYml, config.replace('credentials_file', 'credential_file'))
    assert.notEqual(spawnSync('promtool', ['check', 'config', promYml], {encoding: 'utf8'}).status, 0)
  })

  test('a secrets file from before metrics_token gets one; every other value is kept', () => {
    const {metricsToken, ...old} = secrets
    assert.ok(metricsToken)
    const resolution = resolveClusterSecrets(old, {cluster: old.cluster, popNames: topology.pops.map((p) => p.name)}, 'secrets.json')
    assert.deepEqual(resolution.created, ['metrics_token'])
    assert.equal(resolution.isChanged, true)
    assert.match(resolution.secrets.metricsToken!, /^[A-Za-z0-9_-]{43}$/)
    assert.equal(resolution.secrets.apiToken, old.apiToken)
    assert.deepEqual(resolution.secrets.wireguardPrivateKeys, old.wireguardPrivateKeys)
    const again = parseSecretsJson(renderSecretsJson(resolution.secrets), 'secrets.json')
    assert.equal(again.metricsToken, resolution.secrets.metricsToken)
    assert.throws(() => parseSecretsJson(renderSecretsJson(secrets).replace(metricsToken, 'short'), 's.json'), /"metrics_token" is not a token/)
  })

  test('ports.metrics is a topology key, and must differ from the other TCP ports', () => {
    const text = fs.readFileSync(path.join(FIXTURE, 'topology.yaml'), 'utf8')
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgeproxy-topo-'))
    try {
      const write = (body: string) => {
        const f = path.join(dir, 'topology.yaml')
        fs.writeFileSync(f, body)
        return f
      }
      const custom = loadTopologyFile(write(text.replace(/^ports: \{ /m, 'ports: { metrics: 9300, '))).topology
      assert.equal(custom.ports.metrics, 9300)
      assert.equal(planPopConfigs(custom, secrets).pops[0].host.edgeproxy.metrics!.listen.port, 9300)
      assert.throws(() => loadTopologyFile(write(text.replace(/^ports: \{ /m, 'ports: { metrics: 8081, '))), /ports\.metrics/)
    } finally {
      fs.rmSync(dir, {recursive: true, force: true})
    }
  })
})
