// planPopConfigs in-process: the same golden tree the e2e test checks through the CLI, determinism
// (input order, repeated runs), and what changes with gossip TLS, custom MTU and hostnames.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, test} from 'node:test'

import {checkAllowedIps, parseSecretsJson, planPopConfigs, renderHostFiles, resolveClusterSecrets} from '../../../src/generators/index.js'
import {findPrefixOverlaps, parsePrefix} from '../../../src/sixpn/index.js'
import {loadTopologyFile, parseTopologyText} from '../../../src/topology/index.js'
import {checkCorrosionToml, isConnected, parseWgConf} from './config-checks.js'

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/pop-three')
const topology = loadTopologyFile(path.join(FIXTURE, 'topology.yaml')).topology
const secrets = parseSecretsJson(fs.readFileSync(path.join(FIXTURE, 'secrets.json'), 'utf8'), 'secrets.json')

describe('planPopConfigs', () => {
  test('renders exactly the golden tree (manifest aside)', () => {
    const plan = planPopConfigs(topology, secrets)
    assert.equal(plan.files.length, 30)
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
        client: {cert_file: '/etc/corrosion/tls/client_cert.pem', key_file: '/etc/corrosion/tls/client_key.pem'},
      })
      // The comment says what is verified, both ways.
      assert.match(plan.files.find((f) => f.path === `${pop.name}/corrosion.toml`)!.content, /requires a client certificate that chains to ca_file/)
      assert.match(plan.files.find((f) => f.path === `${pop.name}/README.md`)!.content, /corrosion tls client generate --ca-key ca_key\.pem --ca-cert ca_cert\.pem/)
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
        ['resolved-internal.conf', '644'],
        ['README.md', '644'],
      ],
    )
  })
})

describe('planPopConfigs: 6PN', () => {
  const fileOf = (plan: ReturnType<typeof planPopConfigs>, file: string) => plan.files.find((f) => f.path === file)!.content
  const subnetOf = (plan: ReturnType<typeof planPopConfigs>) => new Map(plan.pops.map((p) => [p.name, p.sixpn!.subnet]))

  test("dual-stack mesh: ::1/128 on the interface, each peer's /32 and /64, no AllowedIPs overlap; env, README and firewall agree", () => {
    const plan = planPopConfigs(topology, secrets)
    assert.deepEqual([...subnetOf(plan)], [
      ['eu', 'fd57:a312:81a3:1::/64'],
      ['sa', 'fd57:a312:81a3:2::/64'],
      ['us', 'fd57:a312:81a3:3::/64'],
    ])
    for (const pop of plan.pops) {
      const s = pop.sixpn!
      assert.deepEqual([s.wireguardAddress, s.dnsAddress], [s.subnet.replace('::/64', '::1'), s.subnet.replace('::/64', '::3')])
      const wg = parseWgConf(fileOf(plan, `${pop.name}/wg0.conf`))
      assert.deepEqual(wg.interface.Address!.split(', '), [`${pop.wireguardAddress}/16`, `${s.wireguardAddress}/128`])
      const allowed = wg.peers.flatMap((p) => p.AllowedIPs!.split(', '))
      for (const other of plan.pops.filter((p) => p !== pop)) {
        const peer = wg.peers.find((p) => p.PublicKey === other.wireguardPublicKey)!
        assert.deepEqual(peer.AllowedIPs!.split(', '), [`${other.wireguardAddress}/32`, other.sixpn!.subnet])
      }
      const prefixes = [...allowed, s.subnet].map((cidr) => ({cidr, prefix: parsePrefix(cidr)}))
      assert.deepEqual(findPrefixOverlaps(prefixes), [], `${pop.name}: AllowedIPs and its own /64 are disjoint`)
      assert.equal(checkCorrosionToml(fileOf(plan, `${pop.name}/corrosion.toml`)).maxMtu, 1392, 'gossip stays on IPv4: 1420 - 20 - 8')
      assert.match(fileOf(plan, `${pop.name}/edgeproxy.env`), new RegExp(`^# 6PN: this POP's /64 is ${s.subnet} \\(id ${s.popId}\\)`, 'm'))
      assert.ok(fileOf(plan, `${pop.name}/edgeproxy.env`).includes(`${s.dnsAddress} (internal DNS)`))
      assert.ok(fileOf(plan, `${pop.name}/README.md`).includes(`edgeproxy pop address --pop ${pop.name} --app myapp --instance 1`))
      assert.match(fileOf(plan, `${pop.name}/firewall.sh`), new RegExp(`^ufw allow in on wg0 from fd57:a312:81a3::/48 to ${s.subnet} comment`, 'm'))
      assert.match(fileOf(plan, `${pop.name}/firewall.sh`), new RegExp(`^ufw route allow in on wg0 from fd57:a312:81a3::/48 to ${s.subnet} comment`, 'm'))
    }
  })

  test('adding and removing POPs leaves every other POP its 6PN addresses', () => {
    const text = fs.readFileSync(path.join(FIXTURE, 'topology.yaml'), 'utf8')
    const before = subnetOf(planPopConfigs(topology, secrets))
    const grown = parseTopologyText(text + '  - { name: ap, region: ap, public_address: 192.0.2.40, wireguard_address: 10.50.4.1 }\n', 't.yaml').topology
    const grownSecrets = resolveClusterSecrets(secrets, {cluster: 'edge', popNames: grown.pops.map((p) => p.name), sixpn: grown.wireguard.ipv6Network}, 's.json')
    assert.deepEqual(grownSecrets.created.sort(), ['pop_ids.ap', 'wireguard_private_keys.ap'])
    const after = subnetOf(planPopConfigs(grown, grownSecrets.secrets))
    for (const [pop, subnet] of before) assert.equal(after.get(pop), subnet, pop)
    assert.equal(after.get('ap'), 'fd57:a312:81a3:4::/64', 'ap sorts first but takes the next free id')

    const shrunk = parseTopologyText(text.replace(/^.*name: sa,.*\n/m, ''), 't.yaml').topology
    const shrunkSecrets = resolveClusterSecrets(grownSecrets.secrets, {cluster: 'edge', popNames: shrunk.pops.map((p) => p.name), sixpn: 'auto'}, 's.json')
    assert.deepEqual(shrunkSecrets.created, [])
    assert.deepEqual(shrunkSecrets.secrets.sixpn!.popIds, {ap: 4, eu: 1, sa: 2, us: 3}, "sa's id stays reserved")
    const afterRemoval = subnetOf(planPopConfigs(shrunk, shrunkSecrets.secrets))
    assert.deepEqual([...afterRemoval], [
      ['eu', 'fd57:a312:81a3:1::/64'],
      ['us', 'fd57:a312:81a3:3::/64'],
    ])
  })

  test('checkAllowedIps refuses overlapping AllowedIPs, naming both sides', () => {
    const host = planPopConfigs(topology, secrets).pops.find((p) => p.name === 'sa')!.host
    const wg = host.wireguard!
    assert.doesNotThrow(() => checkAllowedIps('sa', wg, host.sixpn!.subnet))
    const peers = [wg.peers[0]!, {...wg.peers[1]!, allowedIpv6: 'fd57:a312:81a3::/56'}]
    assert.throws(
      () => checkAllowedIps('sa', {...wg, peers}, host.sixpn!.subnet),
      (e: any) => e.code === 'EP_GENERATE_INVALID' && e.exitCode === 3 && /AllowedIPs fd57:a312:81a3::\/56 of peer us overlaps fd57:a312:81a3:2::\/64 of sa's own 6PN subnet/.test(e.message),
    )
    assert.throws(() => checkAllowedIps('sa', {...wg, peers: [wg.peers[0]!, {...wg.peers[1]!, allowedIp: wg.peers[0]!.allowedIp}]}), /10\.50\.3\.1\/32 of peer us overlaps 10\.50\.3\.1\/32 of peer eu/)
  })
})
