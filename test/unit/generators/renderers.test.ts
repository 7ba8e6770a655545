// Individual renderers on hand-made models: what they refuse, and details the golden files do not
// vary (TLS vs plaintext, unmanaged directories, low ports, unsafe env values).
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {
  renderCorrosionAgentToml,
  renderCorrosionService,
  renderEdgeproxyEnv,
  renderEdgeproxyService,
  renderFirewallScript,
  type CorrosionAgentModel,
  type HostModel,
} from '../../../src/generators/index.js'
import {checkCorrosionToml} from './config-checks.js'

const agent: CorrosionAgentModel = {
  dbPath: '/data/corrosion/state.db',
  schemaDir: '/etc/corrosion/schema',
  gossipAddr: {host: 'fd00::1', port: 4001},
  bootstrap: ['[fd00::2]:4001', 'seed.example:4001@[fd00::53]:53'],
  bootstrapNote: 'seeds',
  transport: {plaintext: false, tls: {certFile: '/tls/cert.pem', keyFile: '/tls/key.pem', caFile: '/tls/ca.pem', clientCertFile: '/tls/client.pem', clientKeyFile: '/tls/client-key.pem'}},
  apiAddr: {host: '::1', port: 8090},
  bearerToken: 'token-with-"quote-and\\backslash',
  adminPath: '/run/corrosion/admin.sock',
}

function host(overrides: Partial<HostModel> = {}): HostModel {
  return {
    cluster: 'edge',
    name: 'x',
    region: 'eu',
    generator: 'test',
    corrosion: agent,
    edgeproxy: {
      listen: {host: '0.0.0.0', port: 80},
      tlsListen: {host: '0.0.0.0', port: 443},
      apiListen: {host: '127.0.0.1', port: 8081},
      apiToken: 'api-token-0123456789',
      corrosionApiUrl: 'http://[::1]:8090',
      corrosionToken: 'corrosion-token-0123456789',
    },
    paths: {corrosionConfig: '/etc/corrosion/config.toml', corrosionBin: '/opt/corrosion', edgeproxyBin: '/opt/edgeproxy', edgeproxyEnv: '/etc/edgeproxy/edgeproxy.env'},
    firewall: {publicTcp: [], publicUdp: [], privateInterface: 'eth1', privateTcp: [{port: 9, comment: "it's"}], privateUdp: []},
    bootstrapPeerNames: [],
    shutdownTimeoutSecs: 10,
    ...overrides,
  }
}

describe('renderCorrosionAgentToml', () => {
  test('IPv6 literals in brackets, TLS block, escaped strings; valid per §9', () => {
    const text = renderCorrosionAgentToml(agent, ['header'])
    const facts = checkCorrosionToml(text)
    assert.equal(facts.gossipAddr, '[fd00::1]:4001')
    assert.equal(facts.apiAddr, '[::1]:8090')
    assert.equal(facts.bearerToken, agent.bearerToken, 'escaping round-trips')
    assert.deepEqual(facts.bootstrap, agent.bootstrap)
    assert.equal(facts.maxMtu, undefined, 'no max_mtu unless the model has one')
    assert.match(text, /^# header\n/)
  })

  test('refuses models Corrosion would refuse', () => {
    assert.throws(() => renderCorrosionAgentToml({...agent, gossipAddr: {host: 'pop.example', port: 4001}}, []), /IP literal/)
    assert.throws(() => renderCorrosionAgentToml({...agent, apiAddr: {host: 'localhost', port: 8090}}, []), /IP literal/)
    assert.throws(() => renderCorrosionAgentToml({...agent, bootstrap: ['[fd00::1]:4001']}, []), /lists the agent itself/)
    assert.throws(() => renderCorrosionAgentToml({...agent, maxMtu: {value: 1199, explanation: []}}, []), /below 1200/)
  })
})

describe('systemd units', () => {
  test('directories outside /var/lib and /run become ReadWritePaths; a low port gets CAP_NET_BIND_SERVICE', () => {
    const corrosion = renderCorrosionService(host(), [])
    assert.match(corrosion, /^ReadWritePaths=\/data\/corrosion$/m)
    assert.match(corrosion, /^RuntimeDirectory=corrosion$/m)
    assert.match(corrosion, /^ExecStart=\/opt\/corrosion --config \/etc\/corrosion\/config\.toml agent$/m)
    assert.doesNotMatch(corrosion, /wg-quick/, 'no tunnel unit when the model has none')
    const withTunnel = renderCorrosionService(host({tunnelUnit: {name: 'wg-quick@wg1.service', isRequired: false}}), [])
    assert.match(withTunnel, /^Wants=wg-quick@wg1\.service$/m)
    assert.match(withTunnel, /^After=network-online\.target wg-quick@wg1\.service$/m)
    const edgeproxy = renderEdgeproxyService(host(), [])
    assert.match(edgeproxy, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m)
    assert.match(edgeproxy, /^TimeoutStopSec=15$/m)
    assert.match(edgeproxy, /^Requires=corrosion\.service$/m)
  })
})

describe('renderEdgeproxyEnv', () => {
  test('refuses a value that would need quoting rather than writing it wrong', () => {
    assert.throws(() => renderEdgeproxyEnv(host({edgeproxy: {...host().edgeproxy, apiToken: 'has space'}}), []), /EDGEPROXY_API_TOKEN .* unquoted/)
    assert.throws(() => renderEdgeproxyEnv(host({edgeproxy: {...host().edgeproxy, corrosionToken: 'a$b-0123456789'}}), []), /EDGEPROXY_CORROSION_TOKEN/)
    assert.match(renderEdgeproxyEnv(host(), []), /^EDGEPROXY_CORROSION_API_URL=http:\/\/\[::1\]:8090$/m)
  })
})

describe('renderFirewallScript', () => {
  test('without a source network the private rules take any source on the interface; comments are shell-quoted', () => {
    const script = renderFirewallScript(host().firewall, [])
    assert.match(script, /^ufw allow in on eth1 to any port 9 proto tcp comment 'it'\\''s'$/m)
    assert.match(script, /^ufw --force enable$/m)
    assert.match(script, /^ufw limit "\$SSH_PORT\/tcp"/m, 'ssh stays reachable')
  })
})
