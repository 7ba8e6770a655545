import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {fitWidths, renderTable} from '../../../src/cli/table.js'
import {closest} from '../../../src/cli/usage-error.js'
import {jsonKey, toJsonKeys} from '../../../src/json-keys.js'

describe('the JSON key rule', () => {
  test('camelCase becomes snake_case and the boolean prefix goes; other keys stay', () => {
    assert.deepEqual(
      ['isDryRun', 'rowCount', 'p99LagSecs', 'hasToken', 'lastSyncAtMs', 'soft_limit', 'id', 'README.md', 'schema/backends.sql', 'is', 'island'].map(jsonKey),
      ['dry_run', 'row_count', 'p99_lag_secs', 'token', 'last_sync_at_ms', 'soft_limit', 'id', 'README.md', 'schema/backends.sql', 'is', 'island'],
    )
  })

  test('nested objects and lists are converted, undefined dropped, toJSON honoured; a collision is a bug', () => {
    assert.deepEqual(toJsonKeys({outDir: 'x', files: [{byteCount: 1}], skip: undefined, when: new Date(0)}), {out_dir: 'x', files: [{byte_count: 1}], when: '1970-01-01T00:00:00.000Z'})
    assert.throws(() => toJsonKeys({isHealthy: true, healthy: false}), /two JSON keys map to "healthy"/)
  })
})

describe('tables', () => {
  test('fitting shortens the widest shrinkable column first and never a fixed one', () => {
    const columns = [{header: 'ID'}, {header: 'STATE', canShrink: false}, {header: 'ADDRESS'}]
    assert.deepEqual(fitWidths([30, 7, 20], columns, 100), {widths: [30, 7, 20], gap: 3})
    assert.deepEqual(fitWidths([30, 7, 20], columns, 40), {widths: [13, 7, 14], gap: 3})
    assert.deepEqual(fitWidths([30, 7, 20], columns, 20), {widths: [5, 7, 5], gap: 2}, 'two spaces when three do not fit')
  })

  test('plain rows in a pipe, fitted rows with … on a terminal; styles never move a column', () => {
    const rows = [['a-very-long-backend-id', {text: 'healthy', style: (t: string) => `<${t}>`}], ['b', 'draining']]
    assert.equal(renderTable(['ID', 'STATE'], rows, {isTty: false}), 'ID                       STATE\na-very-long-backend-id   <healthy>\nb                        draining')
    assert.equal(renderTable(['ID', {header: 'STATE', canShrink: false}], rows, {isTty: true, width: 20}).split('\n').map((l) => l.replace(/\u001b\[\d+m/g, '')).join('\n'), 'ID          STATE\na-very-l…   <healthy>\nb           draining')
  })
})

test('closest: typos and prefixes, nothing for a far word', () => {
  assert.equal(closest('lst', ['list', 'get', 'drain']), 'list')
  assert.equal(closest('set-wieght', ['set-weight', 'deregister']), 'set-weight')
  assert.equal(closest('dereg', ['set-weight', 'deregister']), 'deregister')
  assert.equal(closest('frobnicate', ['list', 'get']), undefined)
})
