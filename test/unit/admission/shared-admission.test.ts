// Per-client admission over real threads sharing one client table, as the workers of a process do:
// a burst from one key admits exactly the bucket, the open-connection cap is exact, and a new key
// that several threads meet at once gets one entry (one bucket), not one per thread.
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, test} from 'node:test'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {Worker} from 'node:worker_threads'

import {Admission, type AdmissionConfig} from '../../../src/admission/admission.js'
import {createLogger} from '../../../src/log/logger.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const THREADS = 4

function config(extra: Partial<AdmissionConfig>): AdmissionConfig {
  return {maxConnsPerKey: 0, prefixes: {ipv4: 32, ipv6: 64}, exempt: '', isDryRun: false, maxEntries: 10_000, ...extra}
}

/**
 * Runs `body` in THREADS threads at once over the table of `admission` (the built code: run `npm
 * run build` first); each thread waits for the others before it starts, and returns a number.
 */
async function hammer(admission: Admission, body: string): Promise<number[]> {
  const url = (file: string) => JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/src', file)).href)
  const code = `
    const {workerData, parentPort} = require('node:worker_threads')
    Promise.all([import(${url('admission/admission.js')}), import(${url('log/logger.js')})]).then(([{Admission, REFUSED}, {createLogger}]) => {
      const a = new Admission(workerData.config, createLogger({format: 'json', write: () => {}}), undefined, workerData.buffer)
      const thread = workerData.thread
      const gate = new Int32Array(workerData.gate)
      Atomics.add(gate, 0, 1)
      while (Atomics.load(gate, 0) < ${THREADS}) {}
      let result = 0
      ${body}
      parentPort.postMessage(result)
    })`
  const gate = new SharedArrayBuffer(4)
  const runs = Array.from({length: THREADS}, (_, thread) => {
    const w = new Worker(code, {eval: true, workerData: {config: admission.config, buffer: admission.table.buffer, gate, thread}})
    return new Promise<number>((resolve, reject) => {
      w.once('message', resolve)
      w.once('error', reject)
    })
  })
  return Promise.all(runs)
}

const quiet = createLogger({format: 'json', write: () => {}})

describe('admission shared by four threads', () => {
  test('a burst of 80,000 connects from one key with burst 5,000: exactly 5,000 admitted over all threads', async () => {
    // One token an hour refills: the burst alone decides.
    const a = new Admission(config({rate: {perSecond: 1 / 3600, burst: 5000}}), quiet)
    const admitted = await hammer(a, `for (let i = 0; i < 20000; i++) if (a.admit('198.51.100.7') !== REFUSED) result++`)
    assert.equal(admitted.reduce((x, y) => x + y, 0), 5000, `per thread: ${admitted}`)
    assert.ok(a.describe('198.51.100.7').tokens! < 1)
    assert.equal(a.table.size, 1)
  })

  test('EDGEPROXY_MAX_CONNS_PER_IP=1000: exactly 1,000 open over all threads, and every release counts back', async () => {
    const a = new Admission(config({maxConnsPerKey: 1000}), quiet)
    const admitted = await hammer(a, `for (let i = 0; i < 20000; i++) if (a.admit('2001:db8:7::' + (i % 50).toString(16)) !== REFUSED) result++`)
    assert.equal(admitted.reduce((x, y) => x + y, 0), 1000, `per thread: ${admitted}`)
    assert.equal(a.describe('2001:db8:7::1').connections, 1000)
    // Open and close as fast as they can with a cap of 3: no thread ever sees a fourth.
    const b = new Admission(config({maxConnsPerKey: 3}), quiet)
    const peaks = await hammer(
      b,
      `for (let i = 0; i < 20000; i++) {
        const e = a.admit('203.0.113.9')
        if (e === REFUSED) continue
        result = Math.max(result, a.table.open(e))
        a.release(e)
      }`,
    )
    assert.ok(Math.max(...peaks) <= 3 && Math.max(...peaks) >= 1, `peaks ${peaks}`)
    assert.equal(b.describe('203.0.113.9').connections, 0, 'every release came back')
  })

  test('2,000 new keys met by every thread at once: one entry (one bucket) each', async () => {
    const a = new Admission(config({rate: {perSecond: 1 / 3600, burst: 1}}), quiet)
    // Each thread walks the keys from its own starting point, so several meet each new key together.
    const admitted = await hammer(a, `for (let i = 0; i < 2000; i++) { const k = (i + thread * 500) % 2000; if (a.admit('10.9.' + (k >> 8) + '.' + (k & 255)) !== REFUSED) result++ }`)
    assert.equal(admitted.reduce((x, y) => x + y, 0), 2000, `per thread: ${admitted}`)
    assert.equal(a.table.size, 2000)
  })
})
