import assert from 'node:assert/strict'
import {test} from 'node:test'

import {closeAll, startAll, type Service} from '../../../src/server/service.js'

function recorder(log: string[], name: string, failStart = false): Service {
  return {
    name,
    async start() {
      if (failStart) throw new Error(`${name} cannot start`)
      log.push(`start ${name}`)
    },
    close() {
      log.push(`close ${name}`)
    },
  }
}

test('startAll starts in order; a failure closes the started ones in reverse and rethrows', async () => {
  const log: string[] = []
  await assert.rejects(startAll([recorder(log, 'a'), recorder(log, 'b'), recorder(log, 'c', true), recorder(log, 'd')]), /c cannot start/)
  assert.deepEqual(log, ['start a', 'start b', 'close b', 'close a'])
})

test('closeAll closes in reverse order and carries on past a failing close', async () => {
  const log: string[] = []
  const failing: Service = {name: 'x', start: async () => {}, close: () => { throw new Error('boom') }}
  await closeAll([recorder(log, 'a'), failing, recorder(log, 'b')])
  assert.deepEqual(log, ['close b', 'close a'])
})
