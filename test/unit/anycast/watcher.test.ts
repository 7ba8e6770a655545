// The watcher's ticks with a fake clock and a scripted probe, on real gate files: the gate is
// rewritten and BIRD told only on a change, a failed reconfigure is retried, the maintenance file
// drains then withdraws, a gate reset behind its back is repaired, and stop() withdraws.
// (The live test with two BIRD daemons is test/e2e/anycast-bird.test.ts.)
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {BirdUnavailableError} from '../../../src/anycast/errors.js'
import {GateFiles} from '../../../src/anycast/gate-files.js'
import {parseGateFile, renderGateFile} from '../../../src/anycast/gate.js'
import type {ProbeReport} from '../../../src/anycast/probes.js'
import {AnycastWatcher} from '../../../src/anycast/watcher.js'
import {createLogger} from '../../../src/log/logger.js'
import {tempDir} from '../../support/proxy-process.js'

function setup(t: {after: (fn: () => void) => void}) {
  const {dir, cleanup} = tempDir('edgeproxy-watcher-')
  t.after(cleanup)
  const files = new GateFiles({gateFile: path.join(dir, 'gate.conf'), maintenanceFile: path.join(dir, 'disabled'), statusFile: path.join(dir, 'status.json')})
  fs.writeFileSync(files.files.gateFile, renderGateFile('withdrawn'))
  let nowMs = 1_000_000
  let isOk = false
  let isBirdDown = false
  const configured: string[] = []
  const logs: Array<Record<string, unknown>> = []
  const watcher = new AnycastWatcher({
    files,
    bird: {
      configure: async () => {
        const phase = parseGateFile(fs.readFileSync(files.files.gateFile, 'utf8'))!
        if (isBirdDown) throw new BirdUnavailableError('/run/bird/bird.ctl', 'No such file or directory')
        configured.push(phase)
        return 'Reconfigured'
      },
    },
    probe: async (): Promise<ProbeReport> => ({isOk, atMs: nowMs, probes: [], ...(isOk ? {} : {reason: 'listener 127.0.0.1:8080: ECONNREFUSED'})}),
    check: {intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2},
    logger: createLogger({format: 'json', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>)}),
    now: () => nowMs,
  })
  return {
    dir,
    files,
    watcher,
    configured,
    logs,
    gate: () => parseGateFile(fs.readFileSync(files.files.gateFile, 'utf8')),
    setOk: (v: boolean) => (isOk = v),
    setBirdDown: (v: boolean) => (isBirdDown = v),
    advance: (ms: number) => (nowMs += ms),
    now: () => nowMs,
  }
}

describe('anycast watcher ticks', () => {
  test('announces after rise good probes, withdraws after fall bad ones, telling BIRD once per change', async (t) => {
    const w = setup(t)
    const phases: string[] = []
    for (const ok of [false, true, true, true, true, false, false, false]) {
      w.setOk(ok)
      const r = await w.watcher.tick()
      phases.push(`${r.phase}${r.isChanged ? '*' : ''}`)
      w.advance(1000)
    }
    assert.deepEqual(phases, ['withdrawn', 'withdrawn', 'announced*', 'announced', 'announced', 'announced', 'withdrawn*', 'withdrawn'])
    assert.deepEqual(w.configured, ['announced', 'withdrawn'], 'birdc configure only on a change')
    assert.deepEqual(w.logs.filter((l) => l.event === 'gate').map((l) => l.phase), ['announced', 'withdrawn'])
    const status = w.files.readStatus()!
    assert.equal(status.phase, 'withdrawn')
    assert.equal(status.isUp, false)
    assert.equal(status.lastProbe?.reason, 'listener 127.0.0.1:8080: ECONNREFUSED')
  })

  test('the gate file is not touched while nothing changes', async (t) => {
    const w = setup(t)
    w.setOk(true)
    await w.watcher.tick()
    await w.watcher.tick()
    const before = fs.statSync(w.files.files.gateFile)
    for (let i = 0; i < 5; i++) await w.watcher.tick()
    const after = fs.statSync(w.files.files.gateFile)
    assert.equal(after.ino, before.ino, 'not replaced')
    assert.equal(after.mtimeMs, before.mtimeMs)
  })

  test('a reconfigure BIRD did not take is retried on every tick until it does', async (t) => {
    const w = setup(t)
    w.setOk(true)
    w.setBirdDown(true)
    await w.watcher.tick()
    const r = await w.watcher.tick()
    assert.equal(r.isChanged, true)
    assert.equal(r.isConfigured, false)
    assert.equal((await w.watcher.tick()).isConfigured, false)
    assert.equal(w.files.readStatus()!.bird.isReachable, false)
    w.setBirdDown(false)
    const retried = await w.watcher.tick()
    assert.equal(retried.isChanged, false)
    assert.equal(retried.isConfigured, true)
    assert.deepEqual(w.configured, ['announced'])
    assert.equal(w.logs.filter((l) => l.event === 'bird' && l.level === 'error').length, 1, 'the outage is logged once')
  })

  test('a gate reset behind its back (BIRD restarted) is rewritten on the next tick', async (t) => {
    const w = setup(t)
    w.setOk(true)
    await w.watcher.tick()
    await w.watcher.tick()
    assert.equal(w.gate(), 'announced')
    fs.writeFileSync(w.files.files.gateFile, renderGateFile('withdrawn'))
    const r = await w.watcher.tick()
    assert.equal(r.isChanged, true)
    assert.equal(w.gate(), 'announced')
    assert.deepEqual(w.configured, ['announced', 'announced'])
  })

  test('a drain in the maintenance file tags until its deadline, then withdraws and stays withdrawn', async (t) => {
    const w = setup(t)
    w.setOk(true)
    await w.watcher.tick()
    await w.watcher.tick()
    w.files.writeMaintenance({reason: 'drain', sinceMs: w.now(), drainUntilMs: w.now() + 3000})
    assert.equal((await w.watcher.tick()).phase, 'draining')
    w.advance(2999)
    assert.equal((await w.watcher.tick()).phase, 'draining')
    w.advance(1)
    assert.equal((await w.watcher.tick()).phase, 'withdrawn')
    w.advance(60_000)
    assert.equal((await w.watcher.tick()).phase, 'withdrawn')
    assert.deepEqual(w.configured, ['announced', 'draining', 'withdrawn'])
    w.files.removeMaintenance()
    assert.equal((await w.watcher.tick()).phase, 'announced', 'resume: announced at once, the POP was up all along')
  })

  test('a hand-made maintenance file (touch) keeps it withdrawn', async (t) => {
    const w = setup(t)
    fs.writeFileSync(w.files.files.maintenanceFile, '')
    w.setOk(true)
    for (let i = 0; i < 4; i++) assert.equal((await w.watcher.tick()).phase, 'withdrawn')
    assert.deepEqual(w.configured, [])
  })

  test('stop() withdraws and removes the status file', async (t) => {
    const w = setup(t)
    w.setOk(true)
    await w.watcher.tick()
    await w.watcher.tick()
    const stopped = await w.watcher.stop()
    assert.deepEqual(stopped, {phase: 'withdrawn', isConfigured: true})
    assert.equal(w.gate(), 'withdrawn')
    assert.equal(fs.existsSync(w.files.files.statusFile), false)
  })

  test('run() probes on the jittered interval until stop()', async (t) => {
    const {dir, cleanup} = tempDir('edgeproxy-watcher-')
    t.after(cleanup)
    const files = new GateFiles({gateFile: path.join(dir, 'gate.conf'), maintenanceFile: path.join(dir, 'disabled'), statusFile: path.join(dir, 'status.json')})
    const waits: number[] = []
    let probes = 0
    let release: () => void = () => {}
    const enough = new Promise<void>((r) => (release = r))
    const watcher = new AnycastWatcher({
      files,
      bird: {configure: async () => 'Reconfigured'},
      probe: async () => {
        if (++probes === 4) release()
        return {isOk: true, atMs: 0, probes: []}
      },
      check: {intervalMs: 1000, timeoutMs: 500, rise: 1, fall: 1},
      logger: createLogger({write: () => {}}),
      now: () => 0,
      random: () => 0.5,
      sleep: async (ms) => {
        waits.push(ms)
      },
    })
    const running = watcher.run()
    await enough
    await watcher.stop()
    await running
    assert.ok(waits.length >= 3)
    assert.ok(waits.every((ms) => ms === 950), `waits ${waits.join(',')}`)
  })
})
