// The 6PN lab (scripts/sixpn-lab.ts) run for real: the generated three-POP deployment in network
// namespaces with userspace WireGuard, the emulator agents replicating over the mesh, edgeproxy per
// POP. Needs root, ip netns and wireguard-go; without them each test says why it skips. It also
// checks the lab leaves nothing behind, after a full run and after a failure on purpose.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {netnsList} from '../../scripts/lab/host.js'
import {labPrerequisites, type LabReport} from '../../scripts/sixpn-lab.js'
import {parseIpv6, parsePrefix, prefixContains} from '../../src/sixpn/index.js'
import {ROOT} from '../support/proxy-process.js'

const LAB = path.join(ROOT, 'scripts/sixpn-lab.ts')
const missing = await labPrerequisites()
const skip = missing.length > 0 ? `the 6PN lab cannot run here: ${missing.join('; ')}` : false

function runLab(args: string[], timeoutMs = 110_000): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', LAB, ...args], {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    // SIGINT lets the lab tear down what it made before it goes.
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr})
    })
  })
}

function uniquePrefix(): string {
  return `ept${randomBytes(3).toString('hex')}`
}

/** Nothing of the run is left: namespaces, the work directory, any process it started (by pid, from its log). */
async function assertNothingLeft(prefix: string, stderr: string): Promise<void> {
  const pids = [...stderr.matchAll(/^started (.+) \(pid (\d+)\)$/gm)].map((m) => ({name: m[1]!, pid: m[2]!}))
  assert.ok(pids.length > 0, 'the lab logs the processes it starts')
  for (const {name, pid} of pids) {
    const state = fs.existsSync(`/proc/${pid}/stat`) ? fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] : undefined
    assert.ok(state === undefined || state === 'Z', `${name} (pid ${pid}) is still running`)
  }
  assert.deepEqual((await netnsList()).filter((n) => n.startsWith(`${prefix}-`)), [], 'no namespace of this run is left')
  assert.deepEqual(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`edgeproxy-lab-${prefix}-`)), [], 'the work directory is removed')
}

describe('6PN lab: the generated deployment brought up in network namespaces', () => {
  test('clients at every other POP reach a backend on its POP\'s 6PN address across the mesh; one POP\'s wg0 down removes only its backends', {skip}, async (t) => {
    const prefix = uniquePrefix()
    const run = await runLab(['--json', '--prefix', prefix])
    assert.equal(run.code, 0, `the lab failed:\n${run.stderr}`)
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as LabReport
    await assertNothingLeft(prefix, run.stderr)
    assert.deepEqual(report.teardown, {failures: [], leftoverNamespaces: []})

    // The plan: a fresh ULA /48, one /64 per POP, ::1 inside it.
    const network = parsePrefix(report.network)
    assert.equal(network.length, 48)
    assert.equal(network.address >> 120n, 0xfdn)
    assert.deepEqual(report.pops.map((p) => p.name), ['sa', 'us', 'eu'])
    for (const pop of report.pops) {
      assert.ok(prefixContains(network, 6, parseIpv6(pop.wireguardAddress)!), `${pop.wireguardAddress} in ${report.network}`)
      assert.equal(pop.wireguardAddress, pop.subnet.replace('::/64', '::1'))
    }

    // wg show: a handshake between every ordered pair.
    assert.equal(report.handshakes.length, 6)
    for (const h of report.handshakes) assert.ok(h.ageSecs >= 0, `${h.pop} has a handshake with ${h.peer}`)

    // Proxied across the mesh over IPv6: the backend (bound to its 6PN address only) saw each
    // connection come from the proxying POP's 6PN ::1.
    const [first, second] = report.backends
    assert.equal(first!.pop, 'sa')
    assert.ok(prefixContains(parsePrefix(report.pops[0]!.subnet), 6, parseIpv6(first!.address)!), 'the backend address is in sa\'s /64')
    assert.deepEqual(report.proxied.map((p) => `${p.from}:${p.via}`).sort(), ['client:eu', 'client:us', 'pop:eu', 'pop:us'])
    for (const p of report.proxied) {
      assert.equal(p.backend, first!.id)
      assert.equal(p.seenFrom, p.expectedFrom, `through ${p.via}: seen from ${p.via}'s 6PN address`)
      assert.equal(parseIpv6(p.seenFrom) !== undefined, true, 'an IPv6 source')
    }
    // Internal DNS over 6PN: every other POP got the backend's address from sa's ::3 and dialled it.
    assert.deepEqual(report.dns.map((d) => d.from).sort(), ['eu', 'us'])
    for (const d of report.dns) {
      assert.equal(d.server, `[${report.pops[0]!.subnet.replace('::/64', '::3')}]:5353`)
      assert.deepEqual(d.addresses, [first!.address])
      assert.equal(d.dialled, first!.id)
    }
    assert.deepEqual(first!.routable.map((r) => r.pop), ['eu', 'us'])
    for (const r of first!.routable) {
      assert.ok(Number.isFinite(r.routableMs) && r.firstProxiedMs !== undefined && r.firstProxiedMs >= 0, JSON.stringify(r))
    }

    // sa's wg0 down: sa's backend gone from us and eu; us's backend still reachable from eu; clients
    // at us and eu now end on us's backend.
    assert.equal(report.isolation.stopped, 'sa')
    assert.deepEqual(report.isolation.unreachable.map((u) => u.from).sort(), ['eu', 'us'])
    assert.deepEqual(report.isolation.stillReachable.map((s) => `${s.from}→${s.to}`), ['eu→us'])
    assert.deepEqual(report.isolation.proxiedAfter.map((p) => [p.via, p.backend]).sort(), [
      ['eu', second!.id],
      ['us', second!.id],
    ])

    t.diagnostic(
      `register → routable elsewhere: ${report.backends
        .map((b) => `${b.id}: ${b.routable.map((r) => `${r.pop} ${r.routableMs} ms${r.firstProxiedMs === undefined ? '' : ` (first proxied ${r.firstProxiedMs} ms)`}`).join(', ')}`)
        .join('; ')}; lab ${(report.durationMs / 1000).toFixed(1)} s`,
    )
  })

  test('a run that fails midway still tears everything down', {skip}, async () => {
    const prefix = uniquePrefix()
    const run = await runLab(['--prefix', prefix, '--fail-after', 'pops'])
    assert.equal(run.code, 1, run.stderr)
    assert.match(run.stderr, /--fail-after pops: stopping on purpose/)
    assert.match(run.stderr, /teardown: stopping processes, deleting namespaces/)
    assert.match(run.stderr, /started sa edgeproxy \(pid \d+\)/, 'it failed with every kind of process running')
    await assertNothingLeft(prefix, run.stderr)
  })
})
