// End to end: a command's duration flag above its range is refused before anything runs, with
// EP_CONFIG_INVALID naming the value and the maximum (a Node timer given more than 2^31-1 ms fires
// after 1 ms: `status --watch 100000000` would sample in a tight loop).
import assert from 'node:assert/strict'
import {test} from 'node:test'

import {runCli} from '../support/proxy-process.js'

test('status --watch and heartbeat --every above their maximum exit 3 naming the value and the maximum', async () => {
  const cases: [string[], RegExp][] = [
    [['status', '--watch', '100000000', '--api-url', 'http://127.0.0.1:9'], /"100000000" is longer than the maximum of 1d/],
    [['backend', 'heartbeat', 'x', '--every', '25d', '--api-url', 'http://127.0.0.1:9'], /"25d" is longer than the maximum of 24d/],
  ]
  const results = await Promise.all(cases.map(([args]) => runCli([...args, '--json'])))
  for (const [i, r] of results.entries()) {
    const what = cases[i]![0].slice(0, 3).join(' ')
    assert.equal(r.code, 3, `${what}: ${r.stdout}${r.stderr}`)
    const error = JSON.parse(r.stdout).error
    assert.equal(error.code, 'EP_CONFIG_INVALID', what)
    assert.match(error.message, cases[i]![1], what)
  }
})
