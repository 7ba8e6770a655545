// The status screen's number formatting, done by hand (toLocaleString's first call loads ICU's number
// formatting: about a tenth of the command's run time): it must print what en-US formatting prints.
import assert from 'node:assert/strict'
import {test} from 'node:test'

import {count} from '../../../src/cli/status-view.js'

test('count groups thousands as en-US formatting does, negatives and decimals included', () => {
  const values = [0, 7, 999, 1000, 1001, 12_345, 999_999, 1_000_000, 1_234_567_890, 2 ** 53 - 1, -1, -1234, -1_000_000, 4.2, 1234.5, 0.25, 98765.43]
  for (const n of values) assert.equal(count(n), n.toLocaleString('en-US', {maximumFractionDigits: 20}), String(n))
})
