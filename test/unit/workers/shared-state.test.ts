// The workers' shared memory: counts that refuse at the hard limit over real threads, a crashed
// worker's counts given back, the shared affinity table (TTL, cap, first binding wins), and routers
// of two "workers" over one memory agreeing on limits, bindings and health as the control plane
// publishes it.
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, test} from 'node:test'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {Worker} from 'node:worker_threads'

import type {Backend} from '../../../src/balancer/backend.js'
import {ROUTING_TIERS, Router} from '../../../src/balancer/router.js'
import {SharedAffinity} from '../../../src/workers/shared-affinity.js'
import {layoutFor, SharedMemory} from '../../../src/workers/shared-memory.js'
import {ControlRouterState, WorkerRouterState, type OutcomeMessage, type TableMessage} from '../../../src/workers/shared-router-state.js'
import {makeBackend} from '../../support/backend-fixture.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

/** These tests' backends: the shared fixture with a soft limit of 10 and no hard limit unless given. */
function backend(id: string, extra: Partial<Backend> = {}): Backend {
  return makeBackend(id, {host: '127.0.0.1', weight: 1, softLimit: 10, hardLimit: 0, ...extra})
}

describe('SharedMemory', () => {
  test('tryCount over four threads at once: exactly hard_limit succeed', async () => {
    const memory = new SharedMemory(layoutFor(4, 1000))
    const url = pathToFileURL(path.join(ROOT, 'dist/src/workers/shared-memory.js')).href
    // Each thread tries 20,000 counts on slot 3 (hard limit 5,000) and reports its successes.
    const code = `
      const {workerData, parentPort} = require('node:worker_threads')
      import(${JSON.stringify(url)}).then(({SharedMemory}) => {
        const m = new SharedMemory(workerData.layout, workerData.buffer)
        let ok = 0
        for (let i = 0; i < 20000; i++) if (m.tryCount(3, 5000)) ok++
        parentPort.postMessage(ok)
      })`
    const runs = Array.from({length: 4}, () => {
      const w = new Worker(code, {eval: true, workerData: {layout: memory.layout, buffer: memory.buffer}})
      return new Promise<number>((resolve, reject) => {
        w.once('message', resolve)
        w.once('error', reject)
      })
    })
    const counts = await Promise.all(runs)
    assert.equal(counts.reduce((a, b) => a + b, 0), 5000)
    assert.equal(Atomics.load(memory.active, 3), 5000)
  })

  test("releaseWorker gives back what a dead worker held and frees its half-open trials", () => {
    const memory = new SharedMemory(layoutFor(2, 100))
    const slots = memory.layout.slots
    memory.active[5] = 7
    memory.held[1 * slots + 5] = 4
    memory.held[0 * slots + 5] = 3
    memory.trial[6] = 2 // worker 1 holds the trial of slot 6
    memory.trial[7] = 1 // worker 0 holds slot 7's
    assert.equal(memory.releaseWorker(1), 4)
    assert.equal(memory.active[5], 3)
    assert.equal(memory.held[slots + 5], 0)
    assert.deepEqual([memory.trial[6], memory.trial[7]], [0, 1])
  })
})

describe('SharedAffinity', () => {
  test('two workers over one memory see the same bindings; TTL and cap apply', () => {
    const memory = new SharedMemory(layoutFor(2, 4))
    let now = 1000
    const a = new SharedAffinity(memory, {ttlMs: 100, maxEntries: 4, now: () => now})
    const b = new SharedAffinity(memory, {ttlMs: 100, maxEntries: 4, now: () => now})
    const live = () => true
    assert.equal(a.set('10.0.0.1', 11, live), 11)
    assert.equal(b.get('10.0.0.1'), 11, 'the other worker finds the binding')
    // First binding wins unless forced (two workers binding one new client at once agree).
    assert.equal(b.set('10.0.0.1', 22, live), 11)
    assert.equal(b.set('10.0.0.1', 22, () => false), 22, 'a binding to a backend that left is replaced')
    assert.equal(a.set('10.0.0.1', 33, live, true), 33)
    now += 101
    assert.equal(a.get('10.0.0.1'), 0, 'expired after the TTL')
    for (let i = 0; i < 10; i++) a.set(`10.0.1.${i}`, 5, live)
    assert.equal(a.size, 4, 'capped at maxEntries')
    assert.equal(b.evicted, 6)
    now += 101
    assert.equal(b.sweep(), 4)
    assert.equal(a.size, 0)
  })
})

/** A control plane and two worker routers over one memory, wired as the pool wires them (messages delivered at once). */
function plant(options: {circuit?: boolean; slots?: number; checks?: boolean} = {}) {
  const memory = new SharedMemory(layoutFor(2, 1000, options.slots))
  const noSlots: string[][] = []
  let now = 10_000
  const clock = () => now
  const circuit = options.circuit
    ? {failureThreshold: 1, failureWindowMs: 10_000, baseOpenMs: 1000, maxOpenMs: 10_000, jitterPercent: 0, successThreshold: 1, maxEjectionPercent: 100}
    : undefined
  const workers: {router: Router; state: WorkerRouterState}[] = []
  let control!: ControlRouterState
  const tables: TableMessage[] = []
  const deliver = (message: OutcomeMessage) => control.outcome(message)
  const checks = options.checks ? {rise: 1, fall: 3} : undefined
  const common = {localRegion: 'sa', bindingTtlMs: 60_000, bindingMaxEntries: 1000, failureCooldownMs: 5000, circuit, checks, monotonicNow: clock}
  const main = new Router({
    ...common,
    state: (health) =>
      (control = new ControlRouterState({
        memory,
        bindingTtlMs: 60_000,
        bindingMaxEntries: 1000,
        health,
        tiers: ROUTING_TIERS.length,
        now: clock,
        onNoSlots: (ids) => noSlots.push(ids),
        onTable: (t) => {
          tables.push(t)
          for (const w of workers) {
            w.state.setWords(t)
            w.router.setBackends(structuredClone(t.backends))
          }
        },
      })),
  })
  for (let i = 0; i < 2; i++) {
    let state!: WorkerRouterState
    const router = new Router({
      ...common,
      state: (health) =>
        (state = new WorkerRouterState({
          memory,
          worker: i,
          bindingTtlMs: 60_000,
          bindingMaxEntries: 1000,
          health,
          tiers: ROUTING_TIERS.length,
          cooldownMs: 5000,
          isCircuitOn: circuit !== undefined,
          post: deliver,
          now: clock,
        })),
    })
    workers.push({router, state})
  }
  return {memory, main, control, workers, tables, noSlots, advance: (ms: number) => (now += ms)}
}

describe('routers of two workers over one memory', () => {
  test('the hard limit and the load factor count both workers; releases count back', () => {
    const p = plant()
    p.main.setBackends([backend('a', {hardLimit: 3}), backend('b', {hardLimit: 3})])
    const [w0, w1] = p.workers
    const picks = []
    for (let i = 0; i < 8; i++) picks.push((i % 2 === 0 ? w0 : w1).router.acquire(`10.0.0.${i}`, null))
    const got = picks.filter((x) => x !== null)
    assert.equal(got.length, 6, 'two backends of hard limit 3, whichever worker asks')
    assert.deepEqual([p.main.activeConnections('a'), p.main.activeConnections('b')], [3, 3])
    // Round-robin over both workers: the pick order is shared, so picks alternate a, b.
    assert.deepEqual(got.slice(0, 4).map((x) => x!.backend.id), ['a', 'b', 'a', 'b'])
    w1.router.release(got[0]!.backend)
    assert.equal(p.main.activeConnections('a'), 2)
    assert.notEqual(w0.router.acquire('10.0.0.99', null), null)
  })

  test("a client's binding made by one worker is followed by the other", () => {
    const p = plant()
    p.main.setBackends([backend('a'), backend('b')])
    const [w0, w1] = p.workers
    const first = w0.router.acquire('192.0.2.7', null)!
    for (let i = 0; i < 5; i++) {
      const again = w1.router.acquire('192.0.2.7', null)!
      assert.equal(again.backend.id, first.backend.id)
      assert.equal(again.isAffinity, true)
    }
    assert.equal(p.main.affinity.peek('192.0.2.7'), first.backend.id, 'the API sees it too')
  })

  test('a failed connect on one worker opens the circuit for both; half-open admits one trial over both', () => {
    const p = plant({circuit: true})
    p.main.setBackends([backend('a'), backend('b')])
    const [w0, w1] = p.workers
    const pick = w0.router.acquire('10.0.0.1', null)!
    assert.equal(pick.backend.id, 'a')
    w0.router.release(pick.backend)
    w0.router.markFailed(pick.backend, 'ECONNREFUSED')
    assert.equal(p.main.routingState(p.main.get('a')!), 'circuit_open')
    // Worker 1 never saw the failure, yet it leaves a out.
    for (let i = 0; i < 3; i++) assert.equal(w1.router.acquire(`10.0.1.${i}`, null)!.backend.id, 'b')
    p.advance(1001)
    p.control.publish()
    const trial = w1.router.acquire('10.0.2.1', null, new Set(['b']))
    assert.equal(trial?.backend.id, 'a', 'one trial after the open time')
    assert.equal(w0.router.acquire('10.0.2.2', null, new Set(['b'])), null, 'no second trial from the other worker')
    w1.router.markConnected(trial!.backend)
    assert.equal(p.main.routingState(p.main.get('a')!), 'up', 'the trial closed the circuit')
    assert.equal(w0.router.acquire('10.0.2.3', null, new Set(['b']))?.backend.id, 'a')
  })

  test('a failed connect cools the backend down on every worker at once (circuit breaker off)', () => {
    const p = plant()
    p.main.setBackends([backend('a', {weight: 10}), backend('b')])
    const [w0, w1] = p.workers
    const pick = w0.router.acquire('10.0.0.1', null)!
    assert.equal(pick.backend.id, 'a')
    w0.router.release(pick.backend)
    w0.router.markFailed(pick.backend, 'timeout')
    assert.equal(w1.router.acquire('10.0.0.2', null)!.backend.id, 'b')
    assert.equal(p.main.routingState(p.main.get('a')!), 'cooling_down')
    p.advance(5001)
    assert.equal(w1.router.acquire('10.0.0.3', null)!.backend.id, 'a')
  })

  test('a backend that leaves keeps its slot until its connections end and a quarantine passes; a new one gets a fresh slot', () => {
    const p = plant()
    p.main.setBackends([backend('a')])
    const held = p.workers[0].router.acquire('10.0.0.1', null)!
    p.main.setBackends([backend('b')])
    const wordA = p.tables[0].words[0]
    const wordB = p.tables[1].words[0]
    assert.notEqual(wordA & 0xffff, wordB & 0xffff, 'b does not reuse a’s slot while a is held')
    p.workers[0].router.release(held.backend)
    assert.equal(p.memory.active[(wordA & 0xffff) - 1], 0)
  })

  test('a table larger than the backend slots: the backends left out are reported and routed by nobody, until slots free up', () => {
    const p = plant({slots: 4})
    const ids = ['a', 'b', 'c', 'd', 'e', 'f']
    p.main.setBackends(ids.map((id) => backend(id)))
    assert.deepEqual(p.noSlots, [['e', 'f']], 'reported once for the table')
    assert.equal(p.control.unslotted, 2)
    assert.equal(p.main.routingState(p.main.get('e')!), 'down', 'the control plane (DNS, /health, the API) agrees with the workers')
    const picked = new Set<string>()
    for (let i = 0; i < 40; i++) {
      const pick = p.workers[i % 2].router.acquire(`10.1.0.${i}`, null)!
      picked.add(pick.backend.id)
      p.workers[i % 2].router.release(pick.backend)
    }
    assert.deepEqual([...picked].sort(), ['a', 'b', 'c', 'd'])
    // a and b leave; their slots are quarantined for 5 s (a worker may still route on the old table), then e and f get them.
    p.main.setBackends(['c', 'd', 'e', 'f'].map((id) => backend(id)))
    assert.equal(p.control.unslotted, 2)
    p.control.publish()
    assert.equal(p.control.unslotted, 2, 'not before the quarantine ends')
    p.advance(5001)
    // The control plane's 100 ms publish hands the freed slots out; no table change is needed.
    p.control.publish()
    assert.equal(p.control.unslotted, 0)
    assert.equal(p.noSlots.length, 2)
    assert.equal(p.workers[0].router.acquire('10.1.1.1', null, new Set(['c', 'd', 'f']))?.backend.id, 'e', 'a worker routes e now')
    assert.equal(p.main.routingState(p.main.get('e')!), 'up')
  })

  test('a passing active check ends a cooldown for every worker at once, not only on the control plane', () => {
    const p = plant({checks: true})
    p.main.setBackends([backend('a', {weight: 10}), backend('b')])
    const health = p.main.health
    health.track('a', {type: 'tcp', host: '127.0.0.1', port: 9000, path: '', sni: ''})
    const [w0, w1] = p.workers
    const pick = w0.router.acquire('10.0.0.1', null)!
    assert.equal(pick.backend.id, 'a')
    w0.router.release(pick.backend)
    w0.router.markFailed(pick.backend, 'ECONNREFUSED')
    assert.equal(w1.router.acquire('10.0.0.2', null)!.backend.id, 'b', 'cooling down on every worker')
    p.advance(1000)
    health.recordCheck('a', {isPass: true, latencyMs: 1, error: null, atMs: 0})
    assert.equal(p.main.routingState(p.main.get('a')!), 'up')
    assert.equal(w1.router.acquire('10.0.0.3', null)!.backend.id, 'a', 'the workers route it again before the cooldown would have ended')
  })

  test("a failure that reaches the control plane after a passing check (a message in flight) does not start the cooldown again", () => {
    const p = plant({checks: true})
    p.main.setBackends([backend('a', {weight: 10}), backend('b')])
    p.main.health.track('a', {type: 'tcp', host: '127.0.0.1', port: 9000, path: '', sni: ''})
    const wordA = p.tables[0].words[0]
    const s = (wordA & 0xffff) - 1
    // A worker saw the failure at 10,000 and cooled the slot; its message is still on the way when the check passes at 10,500.
    p.memory.coolingUntil[s] = 10_000 + 5000
    p.advance(500)
    p.main.health.recordCheck('a', {isPass: true, latencyMs: 1, error: null, atMs: 0})
    assert.equal(p.memory.coolingUntil[s], 0)
    p.control.outcome({type: 'outcome', kind: 'failed', word: wordA, id: 'a', why: 'ECONNREFUSED', isTrial: false, atMs: 10_000})
    assert.equal(p.memory.coolingUntil[s], 0)
    assert.equal(p.main.routingState(p.main.get('a')!), 'up')
    // A failure after the pass cools it down as usual.
    p.control.outcome({type: 'outcome', kind: 'failed', word: wordA, id: 'a', why: 'ECONNREFUSED', isTrial: false, atMs: 10_600})
    assert.equal(p.main.routingState(p.main.get('a')!), 'cooling_down')
    assert.ok(p.memory.coolingUntil[s] > 10_500)
  })
})

