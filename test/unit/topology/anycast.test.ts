import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {asnKind} from '../../../src/topology/anycast.js'
import {parseIpHost, parseIpPrefix, prefixContains, prefixCovers} from '../../../src/topology/ip-prefix.js'
import {parseTopologyText, renderTopologyYaml, TopologyInvalidError} from '../../../src/topology/index.js'

const ANYCAST = `anycast:
  asn: 65010
  addresses: [198.51.100.10, "2001:db8:100::10"]
  announce: [198.51.100.0/24, "2001:db8:100::/48"]
`
const PEERS_SA = `    bgp:
      router_id: 203.0.113.10
      peers:
        - { address: 169.254.169.254, asn: 64515, multihop: 2, password_env: EDGEPROXY_BGP_PASSWORD }
        - { address: "2001:19f0:ffff::1", asn: 64515, multihop: 2, password_env: EDGEPROXY_BGP_PASSWORD }
`
const PEERS_US = `    bgp:
      peers:
        - { address: 192.0.2.1, asn: 64600 }
        - { address: "2001:db8:ffff::1", asn: 64600, port: 1179 }
`

function yaml(options: {anycast?: string; sa?: string; us?: string} = {}): string {
  return [
    'cluster: edge',
    options.anycast ?? ANYCAST,
    'pops:',
    '  - name: sa',
    '    region: sa',
    '    public_address: 203.0.113.10',
    '    wireguard_address: 10.50.1.1',
    options.sa ?? PEERS_SA,
    '  - name: us',
    '    region: us',
    '    public_address: 198.51.100.7',
    '    wireguard_address: 10.50.2.1',
    options.us ?? PEERS_US,
  ].join('\n')
}

function problems(text: string): Array<{path: string; message: string}> {
  try {
    parseTopologyText(text, 'topology.yaml')
  } catch (error) {
    assert.ok(error instanceof TopologyInvalidError, String(error))
    return [...error.problems]
  }
  assert.fail('the topology was accepted')
}

function problemAt(text: string, path: string): string {
  const all = problems(text)
  const found = all.find((p) => p.path === path)
  assert.ok(found, `no problem at ${path}; got ${JSON.stringify(all)}`)
  return found.message
}

function warningsOf(text: string): string[] {
  return parseTopologyText(text, 'topology.yaml').warnings
}

describe('topology anycast section', () => {
  test('parses the documented example with every default filled in', () => {
    const {topology, warnings} = parseTopologyText(yaml(), 'topology.yaml')
    assert.deepEqual(warnings, [])
    const a = topology.anycast!
    assert.equal(a.asn, 65010)
    assert.deepEqual(a.addresses, [
      {family: 4, address: '198.51.100.10'},
      {family: 6, address: '2001:db8:100::10'},
    ])
    assert.deepEqual(a.announce.map((p) => p.text), ['198.51.100.0/24', '2001:db8:100::/48'])
    assert.deepEqual(a.check, {intervalMs: 2000, timeoutMs: 1000, rise: 3, fall: 2})
    assert.equal(a.drainSecs, 30)
    assert.equal(a.interface, 'edge-anycast')
    const [sa, us] = topology.pops
    assert.deepEqual(sa!.bgp, {
      routerId: '203.0.113.10',
      peers: [
        {address: '169.254.169.254', family: 4, asn: 64515, port: 179, multihop: 2, passwordEnv: 'EDGEPROXY_BGP_PASSWORD', removesPrivateAs: false},
        {address: '2001:19f0:ffff::1', family: 6, asn: 64515, port: 179, multihop: 2, passwordEnv: 'EDGEPROXY_BGP_PASSWORD', removesPrivateAs: false},
      ],
    })
    assert.equal(us!.bgp!.routerId, '198.51.100.7', "router_id defaults to the POP's public IPv4 address")
    assert.equal(us!.bgp!.peers[1]!.port, 1179)
  })

  test('durations take 2s, 500ms or plain seconds', () => {
    const {topology} = parseTopologyText(yaml({anycast: ANYCAST + '  check: { interval: 500ms, timeout: 0.2, rise: 1, fall: 5 }\n  drain_secs: 0\n'}), 't.yaml')
    assert.deepEqual(topology.anycast!.check, {intervalMs: 500, timeoutMs: 200, rise: 1, fall: 5})
    assert.equal(topology.anycast!.drainSecs, 0)
  })

  test('round-trips through the YAML the wizard writes', () => {
    const {topology} = parseTopologyText(yaml({anycast: ANYCAST + '  check: { interval: 500ms, timeout: 200ms }\n'}), 't.yaml')
    const again = parseTopologyText(renderTopologyYaml(topology), 'again.yaml').topology
    assert.deepEqual(again, topology)
  })

  test('a topology without the section has no anycast and no bgp', () => {
    const text = yaml().replace(/^anycast:[\s\S]*?(?=^pops:)/m, '').replace(/^ {4}bgp:[\s\S]*?(?=^ {2}- name|$(?![\s\S]))/gm, '')
    const {topology, warnings} = parseTopologyText(text, 't.yaml')
    assert.equal(topology.anycast, undefined)
    assert.deepEqual(topology.pops.map((p) => p.bgp), [undefined, undefined])
    assert.deepEqual(warnings, [])
  })

  describe('refuses, naming the key', () => {
    test('a prefix written in the wrong family (IPv4-mapped IPv6)', () => {
      const text = yaml({anycast: ANYCAST.replace('"2001:db8:100::/48"', '"::ffff:198.51.100.0/120"')})
      assert.match(problemAt(text, 'anycast.announce[1]'), /IPv4 prefix written as IPv6/)
    })

    test('a router ID that is not IPv4', () => {
      assert.match(problemAt(yaml({sa: PEERS_SA.replace('router_id: 203.0.113.10', 'router_id: "2001:db8::1"')}), 'pops[0].bgp.router_id'), /not an IPv4 address/)
    })

    test('an IPv6-only POP without router_id', () => {
      const text = yaml().replace('public_address: 198.51.100.7', 'public_address: "2001:db8::7"')
      assert.match(problemAt(text, 'pops[1].bgp.router_id'), /is required when public_address is not IPv4/)
    })

    test('an IPv6 prefix no POP has an IPv6 peer for', () => {
      const text = yaml({
        sa: PEERS_SA.replace(/^.*2001:19f0.*\n/m, ''),
        us: PEERS_US.replace(/^.*2001:db8:ffff.*\n/m, ''),
      })
      assert.match(problemAt(text, 'anycast.announce[1]'), /"2001:db8:100::\/48" is IPv6 but no POP has an IPv6 BGP peer/)
    })

    test('an address outside the announced prefixes', () => {
      const text = yaml({anycast: ANYCAST.replace('198.51.100.10,', '198.51.101.10,')})
      assert.match(problemAt(text, 'anycast.addresses[0]'), /"198\.51\.101\.10" is outside every announced IPv4 prefix \(198\.51\.100\.0\/24\)/)
    })

    test('an address of a family nothing is announced in', () => {
      const text = yaml({anycast: ANYCAST.replace(', "2001:db8:100::/48"', '')})
      assert.match(problemAt(text, 'anycast.addresses[1]'), /is IPv6 but anycast.announce has no IPv6 prefix/)
    })

    test('host bits in a prefix, quoting the network', () => {
      assert.match(problemAt(yaml({anycast: ANYCAST.replace('198.51.100.0/24', '198.51.100.10/24')}), 'anycast.announce[0]'), /host bits set; the prefix is 198\.51\.100\.0\/24/)
    })

    test('a default route', () => {
      assert.match(problemAt(yaml({anycast: ANYCAST.replace('198.51.100.0/24', '0.0.0.0/0')}), 'anycast.announce[0]'), /default route/)
    })

    test('a private anycast ASN towards a public peer that does not strip it', () => {
      const text = yaml({us: PEERS_US.replace('asn: 64600 }', 'asn: 20473 }')})
      assert.match(problemAt(text, 'pops[1].bgp.peers[0].asn'), /20473 is a public AS number but anycast\.asn 65010 is private.*remove_private_as: true/)
      const accepted = parseTopologyText(text.replace('asn: 20473 }', 'asn: 20473, remove_private_as: true }'), 't.yaml')
      assert.equal(accepted.topology.pops[1]!.bgp!.peers[0]!.removesPrivateAs, true)
    })

    test('a public anycast ASN towards a private peer is fine (a cloud route server)', () => {
      const {warnings} = parseTopologyText(yaml({anycast: ANYCAST.replace('asn: 65010', 'asn: 20473')}), 't.yaml')
      assert.deepEqual(warnings, [])
    })

    test('a peer in our own AS (iBGP)', () => {
      assert.match(problemAt(yaml({us: PEERS_US.replace('asn: 64600 }', 'asn: 65010 }')}), 'pops[1].bgp.peers[0].asn'), /iBGP/)
    })

    test('reserved AS numbers', () => {
      for (const reserved of [23456, 65535, 4294967295, 70000]) {
        assert.match(problemAt(yaml({anycast: ANYCAST.replace('asn: 65010', `asn: ${reserved}`)}), 'anycast.asn'), /reserved AS number/)
      }
    })

    test('a timeout not shorter than the interval', () => {
      assert.match(problemAt(yaml({anycast: ANYCAST + '  check: { interval: 1s, timeout: 1s }\n'}), 'anycast.check.timeout'), /not shorter than anycast\.check\.interval/)
    })

    test('a bgp section without the anycast section', () => {
      const text = yaml({anycast: ''})
      assert.match(problemAt(text, 'pops[0].bgp'), /needs the top-level anycast section/)
    })

    test('an anycast section no POP announces', () => {
      assert.match(problemAt(yaml({sa: '', us: ''}), 'anycast'), /no POP has a bgp section/)
    })

    test('unknown keys, with a suggestion', () => {
      assert.match(problemAt(yaml({anycast: ANYCAST + '  drain_sec: 5\n'}), 'anycast.drain_sec'), /did you mean "drain_secs"/)
      assert.match(problemAt(yaml({us: PEERS_US.replace('port: 1179', 'prot: 1179')}), 'pops[1].bgp.peers[1].prot'), /did you mean "port"/)
    })

    test('a link-local IPv6 peer', () => {
      assert.match(problemAt(yaml({us: PEERS_US.replace('"2001:db8:ffff::1"', '"fe80::1"')}), 'pops[1].bgp.peers[1].address'), /link-local/)
    })

    test('a password variable that is not a variable name, and duplicate peers', () => {
      assert.match(problemAt(yaml({sa: PEERS_SA.replace('password_env: EDGEPROXY_BGP_PASSWORD }', 'password_env: "hunter2!" }')}), 'pops[0].bgp.peers[0].password_env'), /not an environment variable name/)
      assert.match(problemAt(yaml({us: PEERS_US.replace('192.0.2.1', '"2001:db8:ffff::1"')}), 'pops[1].bgp.peers[1].address'), /already pops\[1\]\.bgp\.peers\[0\]/)
    })
  })

  describe('warns', () => {
    test('about prefixes longer than /24 or /48 (transit drops them)', () => {
      const text = yaml({anycast: ANYCAST.replace('198.51.100.0/24', '198.51.100.0/25').replace('2001:db8:100::/48', '2001:db8:100::/64')})
      const warnings = warningsOf(text)
      assert.ok(warnings.some((w) => w.startsWith('topology.yaml: anycast.announce[0]: "198.51.100.0/25" is longer than /24')), JSON.stringify(warnings))
      assert.ok(warnings.some((w) => w.startsWith('topology.yaml: anycast.announce[1]: "2001:db8:100::/64" is longer than /48')), JSON.stringify(warnings))
    })

    test('about a POP without a peer of an announced family, and a POP without bgp', () => {
      const warnings = warningsOf(yaml({us: PEERS_US.replace(/^.*2001:db8:ffff.*\n/m, '')}))
      assert.ok(warnings.some((w) => w.includes('pops[1].bgp.peers: has no IPv6 peer, so 2001:db8:100::/48 is not announced from this POP')), JSON.stringify(warnings))
      const none = warningsOf(yaml({us: ''}))
      assert.ok(none.some((w) => w.includes('pops[1]: has no bgp section')), JSON.stringify(none))
    })

    test('about documentation AS numbers', () => {
      assert.ok(warningsOf(yaml({us: PEERS_US.replace(/asn: 64600/g, 'asn: 64500')})).some((w) => w.includes('pops[1].bgp.peers[0].asn: 64500 is a documentation AS number')))
    })
  })
})

describe('IP prefixes', () => {
  test('canonical text, containment and coverage', () => {
    assert.deepEqual(parseIpPrefix('2001:DB8:100:0::/48'), {family: 6, address: '2001:db8:100::', length: 48, text: '2001:db8:100::/48'})
    const v4 = parseIpPrefix('198.51.100.0/24')
    assert.equal(prefixContains(v4, '198.51.100.255'), true)
    assert.equal(prefixContains(v4, '198.51.101.0'), false)
    assert.equal(prefixContains(v4, '2001:db8::1'), false)
    const v6 = parseIpPrefix('2001:db8:100::/47')
    assert.equal(prefixContains(v6, '2001:db8:101:ffff::1'), true)
    assert.equal(prefixContains(v6, '2001:db8:102::1'), false)
    assert.equal(prefixCovers(parseIpPrefix('10.0.0.0/8'), parseIpPrefix('10.1.0.0/16')), true)
    assert.equal(prefixCovers(parseIpPrefix('10.1.0.0/16'), parseIpPrefix('10.0.0.0/8')), false)
    assert.equal(prefixContains(parseIpPrefix('192.0.2.128/25'), '192.0.2.200'), true)
    assert.equal(prefixContains(parseIpPrefix('192.0.2.128/25'), '192.0.2.100'), false)
  })

  test('refuses what BGP cannot announce', () => {
    assert.throws(() => parseIpPrefix('198.51.100.0'), /no prefix length/)
    assert.throws(() => parseIpPrefix('198.51.100.0/33'), /invalid prefix length/)
    assert.throws(() => parseIpPrefix('2001:db8::1/48'), /host bits set; the prefix is 2001:db8::\/48/)
    assert.throws(() => parseIpHost('198.51.100.0/24'), /is a network/)
    assert.deepEqual(parseIpHost('198.51.100.1/32'), {family: 4, address: '198.51.100.1'})
    assert.throws(() => parseIpHost('::ffff:198.51.100.1'), /IPv4 address written as IPv6/)
  })

  test('AS number kinds', () => {
    assert.deepEqual([64512, 65534, 4200000000, 20473, 64496, 0, 23456].map(asnKind), ['private', 'private', 'private', 'public', 'documentation', 'reserved', 'reserved'])
  })
})
