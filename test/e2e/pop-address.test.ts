// End to end: `edgeproxy pop address` as a child process against the plan `pop generate-config`
// stored, checked against the wg0.conf files the same run wrote.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {appHash16} from '../../src/sixpn/index.js'
import {runCli, ROOT, tempDir} from '../support/proxy-process.js'
import {parseWgConf} from '../unit/generators/config-checks.js'

const FIXTURE = path.join(ROOT, 'test/fixtures/pop-three')

function json(stdout: string): any {
  return JSON.parse(stdout)
}

describe('pop address', () => {
  test("derives the addresses wg0.conf carries, and a backend's inside the POP's /64", async (t) => {
    const {dir, cleanup} = tempDir('edgeproxy-address-')
    t.after(cleanup)
    const out = path.join(dir, 'pops')
    const gen = await runCli(['pop', 'generate-config', '--topology', path.join(FIXTURE, 'topology.yaml'), '--out', out, '--json'])
    assert.equal(gen.code, 0, gen.stderr)
    const secrets = path.join(out, 'secrets.json')
    const network = json(fs.readFileSync(secrets, 'utf8')).ipv6_network as string
    assert.match(network, /^fd[0-9a-f]{2}:[0-9a-f:]+::\/48$/, 'a fresh RFC 4193 /48')

    const sa = await runCli(['pop', 'address', '--pop', 'sa', '--secrets', secrets, '--json'])
    assert.equal(sa.code, 0, sa.stderr)
    const r = json(sa.stdout)
    assert.equal(r.pop_id, 2, 'eu 1, sa 2, us 3: first fit in name order')
    assert.equal(r.network, network)
    assert.equal(r.subnet, `${network.slice(0, -5)}:2::/64`.replace(':::', '::'))
    const wg = parseWgConf(fs.readFileSync(path.join(out, 'sa/wg0.conf'), 'utf8'))
    assert.equal(wg.interface.Address, `10.50.1.1/16, ${r.wireguard_address}/128`)
    assert.equal(r.address, r.wireguard_address)
    assert.equal(r.dns_address, r.wireguard_address.replace(/::1$/, '::3'))
    const peerOfSa = parseWgConf(fs.readFileSync(path.join(out, 'us/wg0.conf'), 'utf8')).peers.find((p) => p.AllowedIPs!.startsWith('10.50.1.1/32'))!
    assert.equal(peerOfSa.AllowedIPs, `10.50.1.1/32, ${r.subnet}`, "us routes sa's /64 to sa")

    const backend = await runCli(['pop', 'address', '--pop', 'sa', '--app', 'web', '--instance', '7', '--secrets', secrets, '--json'])
    assert.equal(backend.code, 0, backend.stderr)
    const b = json(backend.stdout)
    assert.equal(b.address, `${r.subnet.replace('::/64', '')}:${appHash16('web').toString(16)}::7`)
    assert.deepEqual(b.backend, {app: 'web', app_hash: appHash16('web').toString(16).padStart(4, '0'), instance: 7})

    const human = await runCli(['pop', 'address', '--pop', 'sa', '--app', 'web', '--instance', '7', '--secrets', secrets])
    assert.equal(human.code, 0)
    assert.match(human.stdout, new RegExp(`^  backend    ${b.address.replace(/\./g, '\\.')}  \\(app web`, 'm'))

    const rerun = await runCli(['pop', 'generate-config', '--topology', path.join(FIXTURE, 'topology.yaml'), '--out', out, '--force', '--json'])
    assert.equal(rerun.code, 0)
    const again = await runCli(['pop', 'address', '--pop', 'sa', '--app', 'web', '--instance', '7', '--secrets', secrets, '--json'])
    assert.equal(json(again.stdout).address, b.address, 'stable across regenerations')
  })

  test('errors: unknown POP, bad instance, no secrets file, a file from before 6PN, a missing --pop', async (t) => {
    const {dir, cleanup} = tempDir('edgeproxy-address-')
    t.after(cleanup)
    const secrets = path.join(dir, 'secrets.json')
    fs.copyFileSync(path.join(FIXTURE, 'secrets.json'), secrets)
    const fail = async (args: string[], exit: number, code: string, field: string | undefined, message: RegExp) => {
      const run = await runCli(['pop', 'address', ...args, '--json'])
      assert.equal(run.code, exit, run.stdout + run.stderr)
      const error = json(run.stdout).error
      assert.equal(error.code, code)
      if (field) assert.equal(error.field, field)
      assert.match(error.message, message)
      assert.ok(error.suggestion || exit === 2)
    }
    await fail(['--pop', 'ap', '--secrets', secrets], 3, 'EP_ADDRESS_INVALID', '--pop', /POP "ap" has no 6PN id .*known: eu, sa, us/)
    await fail(['--pop', 'sa', '--app', 'web', '--instance', 'x', '--secrets', secrets], 3, 'EP_ADDRESS_INVALID', '--instance', /instance "x"/)
    await fail(['--pop', 'sa', '--app', 'web', '--secrets', secrets], 3, 'EP_ADDRESS_INVALID', '--instance', /both --app and --instance/)
    await fail(['--pop', 'sa', '--secrets', path.join(dir, 'none.json')], 3, 'EP_SECRETS_INVALID', '--secrets', /does not exist/)
    const old = json(fs.readFileSync(secrets, 'utf8'))
    delete old.ipv6_network
    delete old.pop_ids
    fs.writeFileSync(path.join(dir, 'old.json'), JSON.stringify(old))
    await fail(['--pop', 'sa', '--secrets', path.join(dir, 'old.json')], 3, 'EP_SECRETS_INVALID', '--secrets', /no 6PN plan yet/)
    await fail(['--secrets', secrets], 2, 'EP_USAGE', undefined, /required flag pop/)
  })
})
