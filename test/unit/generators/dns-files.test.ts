// The internal DNS in generated POP configs: edgeproxy.env turns it on at the POP's 6PN ::3 (which
// wg0.conf puts on the interface so it can be bound), and a systemd-resolved drop-in sends the
// domain there. The env file is read back through the same resolver `edgeproxy start` uses.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, test} from 'node:test'

import {resolveStartConfig} from '../../../src/config/start-config.js'
import {parseSecretsJson, planPopConfigs} from '../../../src/generators/index.js'
import {loadTopologyFile} from '../../../src/topology/index.js'
import {parseEnvFile, parseWgConf} from './config-checks.js'

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/pop-three')
const topology = loadTopologyFile(path.join(FIXTURE, 'topology.yaml')).topology
const secrets = parseSecretsJson(fs.readFileSync(path.join(FIXTURE, 'secrets.json'), 'utf8'), 'secrets.json')

function resolvedDropin(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  let section = ''
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue
    const header = /^\[(\w+)\]$/.exec(line)
    if (header) section = header[1]
    else {
      const eq = line.indexOf('=')
      out[`${section}.${line.slice(0, eq)}`] = line.slice(eq + 1)
    }
  }
  return out
}

describe('pop generate-config: internal DNS', () => {
  test("6PN: DNS on loopback and the POP's ::3, which wg0's PostUp puts on lo; the drop-in routes ~internal there", () => {
    const plan = planPopConfigs(topology, secrets)
    const file = (p: string) => plan.files.find((f) => f.path === p)!.content
    for (const pop of plan.pops) {
      const dnsAddress = pop.host.sixpn!.dnsAddress
      const config = resolveStartConfig({}, parseEnvFile(file(`${pop.name}/edgeproxy.env`)))
      assert.deepEqual(config.dns, {
        listen: [
          {host: '127.0.0.1', port: 5353},
          {host: dnsAddress, port: 5353},
        ],
        domain: 'internal',
        ttlSecs: 5,
        negativeTtlSecs: 5,
        maxAnswers: 0,
      })
      // On lo, not wg0: the kernel then never picks ::3 as the source of the POP's own connections
      // through the tunnel (the 6PN lab checks that backends see them come from ::1).
      const wg = file(`${pop.name}/wg0.conf`)
      assert.ok(!parseWgConf(wg).interface.Address.includes(dnsAddress), 'not an address of wg0')
      assert.match(wg, new RegExp(`^PostUp = ip -6 address replace ${dnsAddress}/128 dev lo nodad$`, 'm'))
      assert.match(wg, new RegExp(`^PostDown = ip -6 address del ${dnsAddress}/128 dev lo \\|\\| true$`, 'm'))
      assert.deepEqual(resolvedDropin(file(`${pop.name}/resolved-internal.conf`)), {'Resolve.DNS': `[${dnsAddress}]:5353`, 'Resolve.Domains': '~internal'})
      assert.match(file(`${pop.name}/README.md`), /\/etc\/systemd\/resolved\.conf\.d\/edgeproxy-internal\.conf/)
      // The /64 rule already admits WireGuard peers to ::3; no IPv4 DNS port is opened.
      assert.doesNotMatch(file(`${pop.name}/firewall.sh`), /5353/)
    }
  })

  test('without a 6PN plan: DNS at the IPv4 WireGuard address, opened on wg0 only', () => {
    const plan = planPopConfigs(topology, {...secrets, sixpn: undefined})
    const file = (p: string) => plan.files.find((f) => f.path === p)!.content
    for (const pop of plan.pops) {
      const config = resolveStartConfig({}, parseEnvFile(file(`${pop.name}/edgeproxy.env`)))
      assert.deepEqual(config.dns?.listen, [
        {host: '127.0.0.1', port: 5353},
        {host: pop.wireguardAddress, port: 5353},
      ])
      assert.equal(resolvedDropin(file(`${pop.name}/resolved-internal.conf`))['Resolve.DNS'], `${pop.wireguardAddress}:5353`)
      const fw = file(`${pop.name}/firewall.sh`)
      for (const proto of ['udp', 'tcp']) {
        assert.match(fw, new RegExp(`^ufw allow in on wg0 from 10\\.50\\.0\\.0/16 to ${pop.wireguardAddress.replace(/\./g, '\\.')} port 5353 proto ${proto} `, 'm'))
      }
      assert.doesNotMatch(fw, /^ufw allow 5353/m, 'never open to the internet')
    }
  })
})
