// End to end: `edgeproxy start` runs with the data path's runtime settings (src/cli/node-tuning.ts)
// however it is launched: the shebang, `node bin/run.js`, BusyBox env (as in a small container
// image), and keeps a value the operator chose. Read from the proxy's own /proc entry (the PID its
// "started" line names), and stop and reload signals sent to the launched PID reach it.
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {after, describe, test} from 'node:test'

import {NODE_TUNING} from '../../src/cli/node-tuning.js'
import {BIN, cleanEnv, ProxyProcess, tempDir} from '../support/proxy-process.js'

const hasProc = fs.existsSync('/proc/self/cmdline')
const hasBusybox = spawnSync('sh', ['-c', 'command -v busybox']).status === 0

/** Resolves once no process has `pid` (polled: it is not this test's child). */
async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL')
      throw new Error(`the proxy (PID ${pid}) still runs ${timeoutMs} ms after its wrapper was killed`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Seen {
  argv: string[]
  env: Map<string, string>
  pid: number
  launchedPid: number
}

describe('start: runtime settings in every launch mode', {skip: hasProc ? false : 'needs /proc (Linux)'}, () => {
  const tmp = tempDir('edgeproxy-tuning-')
  after(tmp.cleanup)
  let n = 0

  /** Starts the proxy with `command`, reads its process, sends SIGHUP then SIGTERM to the launched PID. */
  async function launch(command: string, args: string[], extraEnv: Record<string, string> = {}): Promise<Seen> {
    const env = cleanEnv({
      EDGEPROXY_LISTEN_ADDR: '127.0.0.1:0',
      EDGEPROXY_API_ENABLED: 'false',
      EDGEPROXY_LOG_FORMAT: 'json',
      EDGEPROXY_DB_PATH: path.join(tmp.dir, `routing-${n++}.db`),
      MALLOC_TRIM_THRESHOLD_: undefined,
    })
    delete env.MALLOC_TRIM_THRESHOLD_ // this test's own environment may hold it
    Object.assign(env, extraEnv)
    const proxy = new ProxyProcess(spawn(command, args, {env, stdio: ['ignore', 'pipe', 'pipe']}))
    try {
      const started = await proxy.waitFor('started', () => true, 30_000) // two Node start-ups on a busy machine
      const pid = Number(started.pid)
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
      const seenEnv = new Map(
        fs
          .readFileSync(`/proc/${pid}/environ`, 'utf8')
          .split('\0')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]),
      )
      proxy.child.kill('SIGHUP')
      await proxy.waitFor('reloaded')
      const exit = await proxy.stop('SIGTERM')
      assert.equal(exit.code, 0, `a clean exit after SIGTERM to the launched PID:\n${proxy.stderr}`)
      assert.ok(proxy.events.some((e) => e.event === 'shutdown_complete'))
      assert.equal(proxy.events.filter((e) => e.event === 'started').length, 1, 'one proxy started')
      return {argv, env: seenEnv, pid, launchedPid: proxy.child.pid!}
    } finally {
      await proxy.stop('SIGKILL')
    }
  }

  function assertTuned(seen: Seen, how: string): void {
    for (const flag of NODE_TUNING.flags) assert.ok(seen.argv.includes(flag), `${how}: ${flag} in ${seen.argv.join(' ')}`)
    assert.equal(seen.env.get('MALLOC_TRIM_THRESHOLD_'), NODE_TUNING.env.MALLOC_TRIM_THRESHOLD_, `${how}: MALLOC_TRIM_THRESHOLD_`)
    // Node ≥ 22.15 replaces the process (same PID, as systemd and a container's PID 1 expect).
    if (typeof (process as {execve?: unknown}).execve === 'function') assert.equal(seen.pid, seen.launchedPid, `${how}: the same PID`)
  }

  test('the shebang: no -S (BusyBox env has none), the settings by running itself again', async () => {
    assert.equal(fs.readFileSync(BIN, 'utf8').split('\n')[0], '#!/usr/bin/env node')
    assertTuned(await launch(BIN, ['start']), './bin/run.js start')
  })

  test('node bin/run.js start (npx, a Dockerfile CMD ["node", …])', async () => {
    assertTuned(await launch(process.execPath, [BIN, 'start']), 'node bin/run.js start')
  })

  test('BusyBox env', {skip: hasBusybox ? false : 'busybox is not installed'}, async () => {
    assertTuned(await launch('busybox', ['env', process.execPath, BIN, 'start']), 'busybox env node bin/run.js start')
  })

  const hasExecve = typeof (process as {execve?: unknown}).execve === 'function'
  test(
    'a wrapper killed with SIGKILL leaves no orphan: the proxy it started stops as on SIGTERM',
    {skip: hasExecve ? `Node ${process.version} replaces the process (execve): there is no wrapper to kill` : false},
    async () => {
      const env = cleanEnv({EDGEPROXY_LISTEN_ADDR: '127.0.0.1:0', EDGEPROXY_API_ENABLED: 'false', EDGEPROXY_LOG_FORMAT: 'json', EDGEPROXY_DB_PATH: path.join(tmp.dir, `routing-${n++}.db`)})
      delete env.MALLOC_TRIM_THRESHOLD_
      const proxy = new ProxyProcess(spawn(process.execPath, [BIN, 'start'], {env, stdio: ['ignore', 'pipe', 'pipe']}))
      let pid = 0
      try {
        const started = await proxy.waitFor('started', () => true, 30_000)
        pid = Number(started.pid)
        assert.notEqual(pid, proxy.child.pid, 'a child runs the proxy on this Node')
        proxy.child.kill('SIGKILL')
        // The child's stderr stays open to this test (it inherited the pipe): its shutdown shows there.
        await proxy.waitFor('shutdown_complete', () => true, 30_000)
        await waitForExit(pid, 30_000)
        assert.match(proxy.stderr, /the process that started this one \(PID \d+\) is gone/)
      } finally {
        // An orphan would hold the test's pipes open (and stop() waits for them to close).
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL')
          } catch {
            // already gone, as it should be
          }
        }
        await proxy.stop('SIGKILL')
      }
    },
  )

  test("an operator's own value is kept; EDGEPROXY_NODE_TUNING=0 runs as launched", async () => {
    const own = await launch(process.execPath, ['--max-semi-space-size=4', BIN, 'start'], {MALLOC_TRIM_THRESHOLD_: '1000'})
    assert.ok(own.argv.includes('--max-semi-space-size=4') && !own.argv.includes('--max-semi-space-size=2'), own.argv.join(' '))
    assert.ok(own.argv.includes('--no-memory-reducer'))
    assert.equal(own.env.get('MALLOC_TRIM_THRESHOLD_'), '1000')

    const off = await launch(process.execPath, [BIN, 'start'], {EDGEPROXY_NODE_TUNING: '0'})
    assert.equal(off.pid, off.launchedPid)
    assert.deepEqual(off.argv.filter((a) => a.startsWith('--')), [])
    assert.equal(off.env.get('MALLOC_TRIM_THRESHOLD_'), undefined)
  })
})
