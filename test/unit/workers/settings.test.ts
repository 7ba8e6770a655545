// EDGEPROXY_WORKERS: auto and numbers, refusals naming the variable, and which Node can share a
// listening address between threads.
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {resolveStartConfig} from '../../../src/config/start-config.js'
import {effectiveWorkers} from '../../../src/workers/control-plane.js'
import {createLogger} from '../../../src/log/logger.js'
import {AUTO_WORKERS_CAP, resolveWorkerCount, supportsReusePort} from '../../../src/workers/settings.js'

describe('EDGEPROXY_WORKERS', () => {
  test('auto is the CPUs available, capped; a number stays', () => {
    assert.equal(resolveWorkerCount('auto', 2), 2)
    assert.equal(resolveWorkerCount('auto', 1), 1)
    assert.equal(resolveWorkerCount('auto', 96), AUTO_WORKERS_CAP)
    assert.equal(resolveWorkerCount('3', 96), 3)
    assert.equal(resolveStartConfig({}, {EDGEPROXY_WORKERS: '4'}).workers, 4)
    assert.equal(resolveStartConfig({workers: 'AUTO'}, {}).workers, resolveWorkerCount('auto'))
  })

  test('0, -1, 2.5, 65 and "many" are refused naming the variable and the value', () => {
    for (const bad of ['0', '-1', '2.5', '65', 'many']) {
      assert.throws(
        () => resolveStartConfig({}, {EDGEPROXY_WORKERS: bad}),
        (error: Error & {code?: string}) => error.code === 'EP_CONFIG_INVALID' && error.message.includes(`EDGEPROXY_WORKERS=${JSON.stringify(bad)}`),
        bad,
      )
    }
  })

  test('reusePort listeners exist from Node 22.12 and 23.1 on', () => {
    for (const v of ['20.20.2', '22.11.0', '23.0.0']) assert.equal(supportsReusePort(v), false, v)
    for (const v of ['22.12.0', '23.1.0', '24.22.3', '25.0.0']) assert.equal(supportsReusePort(v), true, v)
  })

  test('on Node 20 start runs one worker and says why; per-client limits and the whole-proxy cap keep every worker', () => {
    const lines: string[] = []
    const logger = createLogger({format: 'json', write: (l) => lines.push(l)})
    const config = resolveStartConfig({}, {EDGEPROXY_WORKERS: '8'})
    assert.equal(effectiveWorkers(config, logger, '20.20.2'), 1)
    assert.match(lines[0], /"event":"workers_unsupported".*Node 20\.20\.2/)
    assert.equal(effectiveWorkers(config, logger, '24.1.0'), 8)
    // Per-client admission counts in one table in shared memory: it keeps every worker.
    const limited = resolveStartConfig({}, {EDGEPROXY_WORKERS: '8', EDGEPROXY_RATE_LIMIT_ENABLED: 'true', EDGEPROXY_MAX_CONNS_PER_IP: '5'})
    assert.equal(effectiveWorkers(limited, logger, '24.1.0'), 8)
    assert.equal(lines.length, 1, 'nothing more to say')
    // The whole-proxy cap is shared: it keeps every worker.
    assert.equal(effectiveWorkers(resolveStartConfig({}, {EDGEPROXY_WORKERS: '8', EDGEPROXY_MAX_CONNECTIONS: '100'}), logger, '24.1.0'), 8)
  })
})
