// An unexpected error's stack is printed under EDGEPROXY_DEBUG only: DEBUG belongs to other tools
// (DEBUG=express:*) and to oclif's own tracing.
import assert from 'node:assert/strict'
import {test} from 'node:test'

import {describeError, wantsStack} from '../../../src/cli/handle-errors.js'

test('EDGEPROXY_DEBUG, not DEBUG, asks for the stack of an unexpected error', () => {
  assert.equal(wantsStack({DEBUG: '1'}), false)
  assert.equal(wantsStack({DEBUG: '*'}), false)
  for (const v of ['1', 'true', 'yes']) assert.equal(wantsStack({EDGEPROXY_DEBUG: v}), true, v)
  for (const v of ['', '0', 'false', ' FALSE ']) assert.equal(wantsStack({EDGEPROXY_DEBUG: v}), false, JSON.stringify(v))
  assert.match(describeError(new Error('boom')).suggestion!, /EDGEPROXY_DEBUG=1/)
})
