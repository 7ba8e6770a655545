// planPopConfigs in-process: the same golden tree the e2e test checks through the CLI, determinism
// (input order, repeated runs), and what changes with gossip TLS, custom MTU and hostnames.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, test} from 'node:test'

import {parseSecretsJson, planPopConfigs, renderHostFiles, resolveClusterSecrets} from '../../../src/generators/index.js'
import {loadTopologyFile, parseTopologyText} from '../../../src/topology/index.js'
import {checkCorrosionToml, isConnected, parseWgConf} from './config-checks.js'

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/pop-three')
const topology = loadTopologyFile(path.join(FIXTURE, 'topology.yaml')).topology
const secrets = parseSecretsJson(fs.readFileSync(path.join(FIXTURE, 'secrets.json'), 'utf8'), 'secrets.json')

describe('planPopConfigs', () => {
  test('renders exactly the golden tree (manifest aside)', () => {
    const plan = planPopConfigs(topology, secrets)
    assert.equal(plan.files.length, 27)
    for (const file of plan.files) {
      assert.equal(file.content, fs.readFileSync(path.join(FIXTURE, 'expected', file.path), 'utf8'), file.path)
    }
  })

  test('does not depend on the order of the POPs in the file, and repeats byte for byte', () => {
    const reversed = {...topology, pops: [...topology.pops].reverse()}
    const a = planPopConfigs(topology, secrets).files
    const b = planPopConfigs(reversed, secrets).files
    const c = planPopConfigs(topology, secrets).files
    assert.deepEqual(b, a)
    assert.deepEqual(c, a)
  })

  test('gossip TLS: plaintext off, a [gossip.tls] block with the cluster CA, mounted in compose', () => {
    const tls = parseTopologyText(fs.readFileSync(path.join(FIXTURE, 'topology.yaml'), 'utf8').replace('security: plaintext', 'security: tls'), 't.yaml').topology
    const plan = planPopConfigs(tls, secrets)
    for (const pop of plan.pops) {
      const toml = checkCorrosionToml(plan.files.find((f) => f.path === `${pop.name}/corrosion.toml`)!.content)
      assert.equal(toml.isPlaintext, false)
      assert.deepEqual(JSON.parse(JSON.stringify((toml.raw.gossip as {tls: unknown}).tls)), {
        cert_file: '/etc/corrosion/tls/server_cert.pem',
        key_file: '/etc/corrosion/tls/server_key.pem',
        ca_file: '/etc/corrosion/tls/ca_cert.pem',
        insecure: false,
      })
      assert.match(plan.files.find((f) => f.path === `${pop.name}/docker-compose.yml`)!.content, /"\/etc\/corrosion\/tls:\/etc\/corrosion\/tls:ro"/)
      assert.match(plan.files.find((f) => f.path === `${pop.name}/README.md`)!.content, /corrosion tls server generate 10\.50\.\d\.1/)
    }
  })

  test('a custom WireGuard MTU moves max_mtu with it; hostnames become endpoints', () => {
    const text = `cluster: c
wireguard: {mtu: 1280, network: 172.16.0.0/24, port: 443, persistent_keepalive: 0, interface: wgedge}
pops:
  - {name: a, region: ap, public_address: a.example.net, wireguard_address: 172.16.0.1}
  - {name: b, region: ap, public_address: 192.0.2.2, wireguard_address: 172.16.0.2}
  - {name: c, region: us, public_address: 192.0.2.3, wireguard_address: 172.16.0.3}
  - {name: d, region: eu, public_address: 192.0.2.4, wireguard_address: 172.16.0.4}
  - {name: e, region: sa, public_address: 192.0.2.5, wireguard_address: 172.16.0.5}
`
    const t2 = parseTopologyText(text, 't.yaml').topology
    const s2 = resolveClusterSecrets(undefined, {cluster: 'c', popNames: t2.pops.map((p) => p.name)}, 's.json').secrets
    const plan = planPopConfigs(t2, s2)
    const edges = new Map<string, string[]>()
    const byAddr = new Map(t2.pops.map((p) => [`${p.wireguardAddress}:4001`, p.name]))
    for (const pop of plan.pops) {
      const toml = checkCorrosionToml(plan.files.find((f) => f.path === `${pop.name}/corrosion.toml`)!.content)
      assert.equal(toml.maxMtu, 1252, '1280 - 20 - 8')
      assert.equal(toml.bootstrap.length, 2, 'two seeds from 4 POPs up')
      edges.set(pop.name, toml.bootstrap.map((b) => byAddr.get(b)!))
      assert.ok(plan.files.some((f) => f.path === `${pop.name}/wgedge.conf`), 'the tunnel file is named after its interface')
      const wg = parseWgConf(plan.files.find((f) => f.path === `${pop.name}/wgedge.conf`)!.content)
      assert.equal(wg.interface.MTU, '1280')
      assert.equal(wg.interface.Address.endsWith('/24'), true)
      for (const peer of wg.peers) assert.equal(peer.PersistentKeepalive, undefined, 'keepalive 0 leaves it out')
      if (pop.name !== 'a') assert.ok(wg.peers.some((p) => p.Endpoint === 'a.example.net:443'))
      assert.match(plan.files.find((f) => f.path === `${pop.name}/corrosion.service`)!.content, /^Requires=wg-quick@wgedge\.service$/m)
      assert.match(plan.files.find((f) => f.path === `${pop.name}/firewall.sh`)!.content, /^ufw allow 443\/udp /m)
    }
    assert.ok(isConnected(edges))
  })

  test('the README, units and compose file carry no secret; the TOML, env and wg files do', () => {
    const plan = planPopConfigs(topology, secrets)
    const all = [secrets.corrosionToken, secrets.apiToken, ...Object.values(secrets.wireguardPrivateKeys)]
    for (const file of plan.files) {
      const holds = all.filter((s) => file.content.includes(s))
      if (/(corrosion\.toml|edgeproxy\.env|wg0\.conf)$/.test(file.path)) {
        assert.ok(holds.length > 0, `${file.path} holds its secrets`)
        assert.equal(file.mode, 0o600, `${file.path} is 0600`)
      } else assert.deepEqual(holds, [], `${file.path} holds no secret`)
    }
    assert.ok(all.every((s) => plan.secretValues.includes(s)))
  })

  test('renderHostFiles: the file list of one host', () => {
    const plan = planPopConfigs(topology, secrets)
    assert.deepEqual(
      renderHostFiles(plan.pops[0]!.host).map((f) => [f.path, f.mode.toString(8)]),
      [
        ['corrosion.toml', '600'],
        ['schema/backends.sql', '644'],
        ['edgeproxy.env', '600'],
        ['corrosion.service', '644'],
        ['edgeproxy.service', '644'],
        ['docker-compose.yml', '644'],
        ['firewall.sh', '755'],
        ['wg0.conf', '600'],
        ['README.md', '644'],
      ],
    )
  })
})
