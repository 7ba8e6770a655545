// `backend heartbeat --every` as a sidecar left running: it warns when its interval is too long for
// the lease, ends with a clear error when the backend no longer exists, and with --register brings
// it back (a deregister, or a store that lost it). Real proxy, real CLI processes.
import assert from 'node:assert/strict'
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process'
import {once} from 'node:events'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {BIN, cleanEnv, runCli, startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'

/** A running `backend heartbeat …` whose stderr can be awaited line by line. */
function sidecar(args: string[], env: Record<string, string>): {child: ChildProcessWithoutNullStreams; seen: (pattern: RegExp | ((text: string) => boolean)) => Promise<void>; output: () => string} {
  const child = spawn(process.execPath, [BIN, 'backend', 'heartbeat', ...args], {env: cleanEnv(env)})
  let text = ''
  const waiters: Array<{matches: (text: string) => boolean; resolve: () => void}> = []
  child.stderr.on('data', (c: Buffer) => {
    text += c
    for (const w of [...waiters]) if (w.matches(text)) (waiters.splice(waiters.indexOf(w), 1), w.resolve())
  })
  child.stdout.on('data', (c: Buffer) => (text += c))
  const seen = (pattern: RegExp | ((text: string) => boolean)) =>
    new Promise<void>((resolve, reject) => {
      const matches = typeof pattern === 'function' ? pattern : (t: string) => pattern.test(t)
      if (matches(text)) return resolve()
      waiters.push({matches, resolve})
      child.once('exit', () => setImmediate(() => (matches(text) ? resolve() : reject(new Error(`exited before ${String(pattern)}:\n${text}`)))))
    })
  return {child, seen, output: () => text}
}

describe('the heartbeat sidecar', () => {
  const tmp = tempDir('edgeproxy-heartbeat-')
  let proxy: ProxyProcess
  let env: Record<string, string>
  const register = ['--app', 'web', '--region', 'sa', '--ip', '127.0.0.1', '--port', '9']

  before(async () => {
    proxy = await startProxy({env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'), EDGEPROXY_HEARTBEAT_TTL_SECS: '3'}})
    env = {EDGEPROXY_API_URL: `http://${String(proxy.events.find((e) => e.event === 'started')!.api)}`}
  })
  after(async () => {
    await proxy?.stop()
    tmp.cleanup()
  })

  test('register prints the lease and that heartbeats must follow', async () => {
    const r = await runCli(['backend', 'register', '--id', 'hb-1', ...register], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Lease: 3s\. Heartbeats must follow: .* edgeproxy backend heartbeat hb-1 --every 1s$/m)
    assert.equal(JSON.parse((await runCli(['backend', 'register', '--id', 'hb-1', ...register, '--json'], {env})).stdout).lease_secs, 3)
  })

  test('an interval over a third of the lease is warned about; a short one is not', async (t) => {
    const slow = sidecar(['hb-1', '--every', '2s'], env)
    t.after(() => slow.child.kill('SIGKILL'))
    await slow.seen(/heartbeat hb-1 ok/)
    await slow.seen(/warning: --every 2s is more than a third of the 3s lease, .*; use --every 1s or less/)
    slow.child.kill('SIGTERM')
    const quick = sidecar(['hb-1', '--every', '500ms'], env)
    t.after(() => quick.child.kill('SIGKILL'))
    await quick.seen(/heartbeat hb-1 ok/)
    quick.child.kill('SIGTERM')
    await once(quick.child, 'exit')
    assert.doesNotMatch(quick.output(), /warning/)
  })

  test('a deregistered backend ends the loop with a clear error (exit 3), not endless retries', async () => {
    assert.equal((await runCli(['backend', 'register', '--id', 'hb-2', ...register], {env})).code, 0)
    const s = sidecar(['hb-2', '--every', '200ms'], env)
    await s.seen(/heartbeat hb-2 ok/)
    assert.equal((await runCli(['backend', 'deregister', 'hb-2'], {env})).code, 0)
    const [code] = (await once(s.child, 'exit')) as [number]
    assert.equal(code, 3, s.output())
    assert.match(s.output(), /heartbeat hb-2 stopped: no backend with id "hb-2" .*pass --register/)
    assert.match(s.output(), /^Code: EP_BACKEND_NOT_FOUND$/m)
    assert.doesNotMatch(s.output(), /failing/)
  })

  test('with --register the sidecar registers it again after a deregister, and keeps beating', async (t) => {
    const s = sidecar(['hb-3', '--every', '200ms', '--register', ...register], env)
    t.after(() => s.child.kill('SIGKILL'))
    await s.seen(/heartbeat hb-3: it was gone from .*; registered it again/)
    assert.equal(JSON.parse((await runCli(['backend', 'get', 'hb-3', '--json'], {env})).stdout).backend.state, 'healthy')
    // Counted before the deregister: the sidecar can beat, find it gone and register it again before
    // the deregister's own CLI process has exited (on a busy machine), and counting after would then
    // wait for a second re-registration that never comes.
    const times = (text: string) => text.split('registered it again').length - 1
    const before = times(s.output())
    assert.equal((await runCli(['backend', 'deregister', 'hb-3'], {env})).code, 0)
    await s.seen((text) => times(text) > before)
    assert.equal(JSON.parse((await runCli(['backend', 'get', 'hb-3', '--json'], {env})).stdout).backend.state, 'healthy')
    s.child.kill('SIGTERM')
    assert.equal(((await once(s.child, 'exit')) as [number])[0], 0)
  })

  test('--register needs the register flags, and only goes with --every', async () => {
    const missing = await runCli(['backend', 'heartbeat', 'x', '--every', '1s', '--register', '--app', 'web'], {env})
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /missing --region and --ip and --port \(--register needs the values to register with\)/)
    const alone = await runCli(['backend', 'heartbeat', 'x', '--register'], {env})
    assert.equal(alone.code, 2)
    assert.match(alone.stderr, /Code: EP_USAGE/)
  })
})
