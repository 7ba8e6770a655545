import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {
  loadTopologyFile,
  parseTopologyText,
  renderTopologyYaml,
  TOPOLOGY_EXAMPLE_YAML as EXAMPLE,
  TopologyInvalidError,
  TopologyUnreadableError,
  validateTopology,
} from '../../../src/topology/index.js'

const ISSUE_EXAMPLE = `cluster: edge
gossip: { port: 4001, security: plaintext }        # or tls
wireguard: { port: 51820, network: 10.50.0.0/16 }
ports: { proxy: 8080, tls: 8443, api: 8081, corrosion_api: 8090 }
pops:
  - { name: sa, region: sa, country: BR, public_address: 203.0.113.10, wireguard_address: 10.50.1.1 }
  - { name: us, region: us, public_address: 198.51.100.7, wireguard_address: 10.50.2.1 }
  - { name: eu, region: eu, country: DE, public_address: "2001:db8::20", wireguard_address: 10.50.3.1 }
`

function problems(text: string): Array<{path: string; message: string}> {
  try {
    parseTopologyText(text, 'topology.yaml')
  } catch (error) {
    assert.ok(error instanceof TopologyInvalidError, `expected TopologyInvalidError, got ${String(error)}`)
    assert.equal(error.code, 'EP_TOPOLOGY_INVALID')
    assert.equal(error.exitCode, 3)
    return [...error.problems]
  }
  assert.fail('the topology was accepted')
}

function minimal(pops: string, extra = ''): string {
  return `cluster: edge\n${extra}pops:\n${pops}`
}

const POP_A = '  - {name: a, region: sa, public_address: 203.0.113.1, wireguard_address: 10.50.1.1}\n'
const POP_B = '  - {name: b, region: us, public_address: 203.0.113.2, wireguard_address: 10.50.2.1}\n'

describe('parseTopologyText', () => {
  test("accepts the issue's example with its key names", () => {
    const {topology, warnings} = parseTopologyText(ISSUE_EXAMPLE, 'topology.yaml')
    assert.deepEqual(warnings, [])
    assert.equal(topology.cluster, 'edge')
    assert.deepEqual(topology.gossip.port, 4001)
    assert.equal(topology.gossip.security, 'plaintext')
    assert.equal(topology.wireguard.network.text, '10.50.0.0/16')
    assert.deepEqual(topology.ports, {proxy: 8080, tls: 8443, api: 8081, corrosionApi: 8090, metrics: 9091})
    assert.deepEqual(
      topology.pops.map((p) => [p.name, p.region, p.country, p.publicAddress, p.publicAddressKind, p.wireguardAddress]),
      [
        ['sa', 'sa', 'BR', '203.0.113.10', 'ipv4', '10.50.1.1'],
        ['us', 'us', undefined, '198.51.100.7', 'ipv4', '10.50.2.1'],
        ['eu', 'eu', 'DE', '2001:db8::20', 'ipv6', '10.50.3.1'],
      ],
    )
  })

  test('fills every documented default', () => {
    const {topology} = parseTopologyText(minimal(POP_A + POP_B), 'topology.yaml')
    assert.equal(topology.gossip.port, 4001)
    assert.equal(topology.gossip.security, 'plaintext')
    assert.deepEqual(topology.gossip.tls, {
      certFile: '/etc/corrosion/tls/server_cert.pem',
      keyFile: '/etc/corrosion/tls/server_key.pem',
      caFile: '/etc/corrosion/tls/ca_cert.pem',
      clientCertFile: '/etc/corrosion/tls/client_cert.pem',
      clientKeyFile: '/etc/corrosion/tls/client_key.pem',
    })
    assert.deepEqual(
      {...topology.wireguard, network: topology.wireguard.network.text},
      {port: 51820, network: '10.50.0.0/16', ipv6Network: 'auto', mtu: 1420, persistentKeepaliveSecs: 25, interface: 'wg0'},
    )
    assert.deepEqual(topology.ports, {proxy: 8080, tls: 8443, api: 8081, corrosionApi: 8090, metrics: 9091})
  })

  test('the documented full example parses, and a rendered topology parses back to the same model', () => {
    const {topology} = parseTopologyText(EXAMPLE, 'example.yaml')
    const again = parseTopologyText(renderTopologyYaml(topology), 'again.yaml').topology
    assert.deepEqual(again, topology)
  })

  test('wireguard.ipv6_network: auto (any case) or an explicit ULA /48, kept in canonical form', () => {
    assert.equal(parseTopologyText(minimal(POP_A, 'wireguard: {ipv6_network: AUTO}\n'), 't.yaml').topology.wireguard.ipv6Network, 'auto')
    const explicit = parseTopologyText(minimal(POP_A + POP_B, 'wireguard: {ipv6_network: "FD12:3456:789A:0000::/48"}\n'), 't.yaml').topology
    assert.deepEqual(explicit.wireguard.ipv6Network, {prefix: 'fd12:3456:789a::/48'})
    assert.match(renderTopologyYaml(explicit), /ipv6_network: fd12:3456:789a::\/48/)
    assert.deepEqual(parseTopologyText(renderTopologyYaml(explicit), 't.yaml').topology, explicit, 'rendered and parsed back')
  })

  test('JSON is accepted by file name', () => {
    const json = JSON.stringify({cluster: 'edge', pops: [{name: 'a', region: 'sa', public_address: '203.0.113.1', wireguard_address: '10.50.1.1'}]})
    assert.equal(parseTopologyText(json, 'topology.json').topology.pops[0]!.name, 'a')
    assert.throws(() => parseTopologyText('{"cluster": ', 'topology.json'), (e: unknown) => e instanceof TopologyUnreadableError && /not valid JSON/.test(e.message))
  })

  test('gossip tls, IPv6 in brackets, hostnames and case are normalised', () => {
    const {topology} = parseTopologyText(
      minimal(
        '  - {name: a, region: SA, country: br, public_address: "[2001:DB8:0:0::1]", wireguard_address: 10.50.1.1/32}\n' +
          '  - {name: b, region: us, public_address: Pop-B.Example.COM., wireguard_address: 10.50.2.1}\n',
        'gossip: {security: TLS, tls: {ca_file: /srv/ca.pem}}\n',
      ),
      't.yaml',
    )
    assert.equal(topology.gossip.security, 'tls')
    assert.equal(topology.gossip.tls.caFile, '/srv/ca.pem')
    assert.deepEqual(
      topology.pops.map((p) => [p.region, p.country, p.publicAddress, p.publicAddressKind, p.wireguardAddress]),
      [
        ['sa', 'BR', '2001:db8::1', 'ipv6', '10.50.1.1'],
        ['us', undefined, 'pop-b.example.com', 'hostname', '10.50.2.1'],
      ],
    )
  })
})

describe('validation names the file and the key path of every problem', () => {
  const cases: Array<{name: string; text: string; path: string; message: RegExp}> = [
    {
      name: 'a WireGuard address with a bad prefix',
      text: minimal(POP_A + POP_B + '  - {name: c, region: eu, public_address: 203.0.113.3, wireguard_address: "10.50.3.1/33"}\n'),
      path: 'pops[2].wireguard_address',
      message: /^"10\.50\.3\.1\/33" is not an IPv4 address$/,
    },
    {name: 'a WireGuard network as address', text: minimal(POP_A + POP_B.replace('10.50.2.1', '10.50.2.1/24')), path: 'pops[1].wireguard_address', message: /is a network/},
    {name: 'an IPv6 WireGuard address', text: minimal(POP_A + POP_B.replace('10.50.2.1', '"fd00::1"')), path: 'pops[1].wireguard_address', message: /"fd00::1" is not an IPv4 address/},
    {name: 'a WireGuard address outside the network', text: minimal(POP_A + POP_B.replace('10.50.2.1', '10.51.2.1')), path: 'pops[1].wireguard_address', message: /outside wireguard\.network 10\.50\.0\.0\/16/},
    {name: 'the network address itself', text: minimal(POP_A + POP_B.replace('10.50.2.1', '10.50.0.0')), path: 'pops[1].wireguard_address', message: /network or broadcast/},
    {name: 'overlapping WireGuard addresses', text: minimal(POP_A + POP_B.replace('10.50.2.1', '10.50.1.1')), path: 'pops[1].wireguard_address', message: /overlaps pops\[0\]\.wireguard_address/},
    {name: 'a duplicate POP name', text: minimal(POP_A + POP_B.replace('name: b', 'name: a')), path: 'pops[1].name', message: /"a" is already pops\[0\]\.name/},
    {name: 'a duplicate public address', text: minimal(POP_A + POP_B.replace('203.0.113.2', '203.0.113.1')), path: 'pops[1].public_address', message: /already pops\[0\]\.public_address/},
    {
      name: 'the same IPv6 address written two ways',
      text: minimal(POP_A.replace('203.0.113.1', '"2001:db8::1"') + POP_B.replace('203.0.113.2', '"2001:db8:0::1"')),
      path: 'pops[1].public_address',
      message: /already/,
    },
    {name: 'a public address with a port', text: minimal(POP_A + POP_B.replace('203.0.113.2', '"203.0.113.2:51820"')), path: 'pops[1].public_address', message: /has a port/},
    {name: 'a public address inside the tunnel network', text: minimal(POP_A + POP_B.replace('203.0.113.2', '10.50.9.9')), path: 'pops[1].public_address', message: /inside wireguard\.network/},
    {name: 'a bad public address', text: minimal(POP_A + POP_B.replace('203.0.113.2', '203.0.113.300')), path: 'pops[1].public_address', message: /not an IPv4 address, an IPv6 address or a DNS name/},
    {name: 'an unknown region', text: minimal(POP_A.replace('region: sa', 'region: mars') + POP_B), path: 'pops[0].region', message: /"mars" is not a region; use one of sa, us, eu, ap/},
    {name: 'a bad country code', text: minimal(POP_A.replace('region: sa', 'region: sa, country: XX') + POP_B), path: 'pops[0].country', message: /"XX" is not an ISO 3166-1 alpha-2/},
    {name: 'UK is not ISO 3166', text: minimal(POP_A.replace('region: sa', 'region: eu, country: UK') + POP_B), path: 'pops[0].country', message: /"UK"/},
    {name: 'a port out of range', text: minimal(POP_A + POP_B, 'ports: {proxy: 70000}\n'), path: 'ports.proxy', message: /^70000 is out of range for a port \(1-65535\)$/},
    {name: 'a port that is a string', text: minimal(POP_A + POP_B, 'ports: {api: "8081"}\n'), path: 'ports.api', message: /"8081" is not a port/},
    {name: 'two TCP listeners on one port', text: minimal(POP_A + POP_B, 'ports: {api: 8080}\n'), path: 'ports.api', message: /8080 is already ports\.proxy/},
    {name: 'gossip and WireGuard on one UDP port', text: minimal(POP_A + POP_B, 'gossip: {port: 51820}\n'), path: 'gossip.port', message: /51820 is already wireguard\.port/},
    {name: 'a network with host bits', text: minimal(POP_A + POP_B, 'wireguard: {network: 10.50.1.0/16}\n'), path: 'wireguard.network', message: /host bits set; the network is 10\.50\.0\.0\/16/},
    {name: 'a network too small', text: minimal(POP_A + POP_B, 'wireguard: {network: 10.50.1.0/31}\n'), path: 'wireguard.network', message: /\/31/},
    {name: 'a 6PN network outside fd00::/8', text: minimal(POP_A + POP_B, 'wireguard: {ipv6_network: "2001:db8::/48"}\n'), path: 'wireguard.ipv6_network', message: /"2001:db8::\/48" is outside fd00::\/8 .*or auto/},
    {name: 'a 6PN network in fc00::/8', text: minimal(POP_A + POP_B, 'wireguard: {ipv6_network: "fc12:3456:789a::/48"}\n'), path: 'wireguard.ipv6_network', message: /fc00::\/8 is reserved by RFC 4193/},
    {name: 'a 6PN network that is not a /48', text: minimal(POP_A + POP_B, 'wireguard: {ipv6_network: "fd12:3456:789a::/56"}\n'), path: 'wireguard.ipv6_network', message: /is a \/56; 6PN needs exactly a \/48/},
    {name: 'a 6PN /48 with bits set past it', text: minimal(POP_A + POP_B, 'wireguard: {ipv6_network: "fd12:3456:789a:1::/48"}\n'), path: 'wireguard.ipv6_network', message: /bits set past \/48; the prefix is fd12:3456:789a::\/48/},
    {name: 'a 6PN network without a length', text: minimal(POP_A + POP_B, 'wireguard: {ipv6_network: "fd12:3456:789a::"}\n'), path: 'wireguard.ipv6_network', message: /not an address prefix in CIDR form/},
    {name: 'a 6PN network that is IPv4', text: minimal(POP_A + POP_B, 'wireguard: {ipv6_network: 10.60.0.0/16}\n'), path: 'wireguard.ipv6_network', message: /is an IPv4 prefix/},
    {
      name: 'a public address inside the 6PN network',
      text: minimal(POP_A + POP_B.replace('203.0.113.2', '"fd12:3456:789a:9::1"'), 'wireguard: {ipv6_network: "fd12:3456:789a::/48"}\n'),
      path: 'pops[1].public_address',
      message: /inside wireguard\.ipv6_network fd12:3456:789a::\/48/,
    },
    {name: 'an MTU below what QUIC needs', text: minimal(POP_A + POP_B, 'wireguard: {mtu: 1200}\n'), path: 'wireguard.mtu', message: /1200 is out of range/},
    {name: 'an unknown gossip security', text: minimal(POP_A + POP_B, 'gossip: {security: wireguard}\n'), path: 'gossip.security', message: /plaintext .* or tls/},
    {name: 'a typo in a key', text: minimal(POP_A + POP_B.replace('wireguard_address', 'wireguard_adress')), path: 'pops[1].wireguard_adress', message: /unknown key; did you mean "wireguard_address"\?/},
    {name: 'an unknown top-level key', text: minimal(POP_A + POP_B, 'cluser: x\n'), path: 'cluser', message: /did you mean "cluster"/},
    {name: 'a missing cluster', text: 'pops:\n' + POP_A, path: 'cluster', message: /is required/},
    {name: 'a bad cluster name', text: 'cluster: Edge_1\npops:\n' + POP_A, path: 'cluster', message: /"Edge_1" is not a valid name/},
    {name: 'a POP name that cannot be a folder', text: minimal(POP_A.replace('name: a', 'name: ../a')), path: 'pops[0].name', message: /not a valid name/},
    {name: 'no POPs', text: 'cluster: edge\npops: []\n', path: 'pops', message: /is empty/},
    {name: 'a POP that is not a mapping', text: 'cluster: edge\npops:\n  - sa\n', path: 'pops[0]', message: /must be a mapping/},
    {name: 'a missing public address', text: minimal('  - {name: a, region: sa, wireguard_address: 10.50.1.1}\n'), path: 'pops[0].public_address', message: /is required/},
  ]
  for (const c of cases) {
    test(c.name, () => {
      const found = problems(c.text)
      const hit = found.find((p) => p.path === c.path)
      assert.ok(hit, `a problem at ${c.path}; got ${JSON.stringify(found)}`)
      assert.match(hit.message, c.message)
    })
  }

  test('every problem is collected and listed one per line; the error names the file and the first key path', () => {
    const text = minimal(POP_A.replace('region: sa', 'region: mars') + POP_B.replace('10.50.2.1', '10.50.1.1'), 'ports: {proxy: 0}\n')
    let error: TopologyInvalidError | undefined
    try {
      parseTopologyText(text, 'edge/topology.yaml')
    } catch (e) {
      error = e as TopologyInvalidError
    }
    assert.ok(error instanceof TopologyInvalidError)
    assert.deepEqual(
      error.problems.map((p) => p.path),
      ['ports.proxy', 'pops[0].region', 'pops[1].wireguard_address'],
    )
    assert.equal(error.field, 'ports.proxy')
    const lines = error.message.split('\n')
    assert.equal(lines[0], 'edge/topology.yaml has 3 problems:')
    assert.match(lines[1]!, /^ {2}- ports\.proxy: 0 is out of range/)
    assert.match(lines[2]!, /^ {2}- pops\[0\]\.region: "mars"/)
    assert.match(lines[3]!, /^ {2}- pops\[1\]\.wireguard_address: /)
    assert.equal(error.toJSON().problems.length, 3)
    assert.equal(error.toJSON().file, 'edge/topology.yaml')
    assert.match(error.suggestion ?? '', /--topology/)
  })
})

describe('warnings', () => {
  test('one POP only', () => {
    const {warnings} = parseTopologyText(minimal(POP_A), 'topology.yaml')
    assert.deepEqual(warnings, ['topology.yaml: pops: lists one POP only: nothing to replicate to, and the WireGuard mesh has no peers'])
  })

  test('a country of another region, and tls settings with plaintext gossip', () => {
    const {warnings} = parseTopologyText(minimal(POP_A.replace('region: sa', 'region: sa, country: DE') + POP_B, 'gossip: {tls: {ca_file: /x.pem}}\n'), 't.yaml')
    assert.deepEqual(warnings, ['t.yaml: gossip.tls: is ignored because gossip.security is plaintext', 't.yaml: pops[0].country: "DE" belongs to region eu, but this POP\'s region is sa'])
  })
})

describe('loadTopologyFile', () => {
  test('reads a file, and names it when it is missing or not YAML', (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topology-'))
    t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
    const good = path.join(dir, 'good.yaml')
    fs.writeFileSync(good, ISSUE_EXAMPLE)
    assert.equal(loadTopologyFile(good).topology.pops.length, 3)

    const missing = path.join(dir, 'missing.yaml')
    assert.throws(() => loadTopologyFile(missing), (e: unknown) => e instanceof TopologyUnreadableError && e.code === 'EP_TOPOLOGY_UNREADABLE' && e.message === `${missing}: no such file`)
    const broken = path.join(dir, 'broken.yaml')
    fs.writeFileSync(broken, 'cluster: edge\ncluster: again\n')
    assert.throws(() => loadTopologyFile(broken), (e: unknown) => e instanceof TopologyUnreadableError && e.message.startsWith(`${broken}: is not valid YAML`))
    const empty = path.join(dir, 'empty.yaml')
    fs.writeFileSync(empty, '\n')
    assert.throws(() => loadTopologyFile(empty), /is empty/)
  })

  test('validateTopology refuses a document that is not a mapping', () => {
    assert.throws(() => validateTopology(['a'], 'x.yaml'), (e: unknown) => e instanceof TopologyInvalidError && /x\.yaml: must be a mapping/.test(e.message))
  })
})
