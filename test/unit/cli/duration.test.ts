import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {durationFlagMs, formatDurationMs, MAX_DURATION_MS, parseDurationMs} from '../../../src/cli/duration.js'
import type {ConfigError} from '../../../src/errors.js'
import {MAX_TIMER_MS} from '../../../src/config/settings.js'

describe('durations', () => {
  test('units ms, s, m, h, d, combinations and plain seconds', () => {
    const cases: [string, number][] = [
      ['500ms', 500],
      ['15s', 15_000],
      ['1m30s', 90_000],
      ['2h', 7_200_000],
      ['1d', 86_400_000],
      ['1d12h', 129_600_000],
      ['2.5', 2500],
      [' 10 ', 10_000],
      ['24d', MAX_DURATION_MS],
    ]
    for (const [text, ms] of cases) assert.equal(parseDurationMs(text), ms, text)
  })

  test('nothing above the maximum (24d by default, below the 2^31-1 ms a Node timer takes), named in the error', () => {
    assert.ok(MAX_DURATION_MS <= MAX_TIMER_MS)
    for (const text of ['25d', '24d1ms', '100000000', '3000000000ms', '9'.repeat(400)]) {
      assert.throws(() => parseDurationMs(text), /longer than the maximum of 24d/, text)
    }
    assert.throws(() => parseDurationMs('2m', {maxMs: 60_000}), /maximum of 1m/)
    assert.equal(parseDurationMs('1m', {maxMs: 60_000}), 60_000)
  })

  test('anything else is refused with an example', () => {
    for (const text of ['', 'soon', '15 s', '1w', '-5s', '1e3', 'Infinity', '5s5']) assert.throws(() => parseDurationMs(text), /not a duration such as/, text)
  })

  test('formatDurationMs spells the maximum the way it is typed', () => {
    assert.equal(formatDurationMs(MAX_DURATION_MS), '24d')
    assert.equal(formatDurationMs(90_500), '1m30s500ms')
    assert.equal(formatDurationMs(0), '0s')
  })
})

describe('duration flags', () => {
  test('durationFlagMs: EP_CONFIG_INVALID naming the flag, the value and the bound it broke', () => {
    assert.equal(durationFlagMs('--every', '15s', {minMs: 100, example: '15s'}), 15_000)
    const refused = (text: string, pattern: RegExp) =>
      assert.throws(() => durationFlagMs('--watch', text, {minMs: 1000, maxMs: 86_400_000, example: '5s'}), (e: ConfigError) => {
        assert.equal(e.code, 'EP_CONFIG_INVALID')
        assert.match(e.message, pattern)
        assert.match(e.suggestion ?? '', /from 1s to 1d, such as --watch 5s/)
        return true
      })
    refused('100000000', /^invalid --watch: "100000000" is longer than the maximum of 1d$/)
    refused('500ms', /^invalid --watch: "500ms" is shorter than the minimum of 1s$/)
    refused('often', /^invalid --watch: "often" is not a duration/)
  })
})
