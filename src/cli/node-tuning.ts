// The runtime settings of the proxy's data path, given to `edgeproxy start` however it is launched
// (`./bin/run.js`, `node bin/run.js`, npx, a Dockerfile's CMD ["node", …], BusyBox env): start checks
// its own process and, when they are missing, runs itself again once with them. It knows nothing of
// oclif or the engine (it runs before either is loaded). Measured with scripts/bench.ts:
// - MALLOC_TRIM_THRESHOLD_ (glibc): every socket read is a 64 KB buffer from malloc. With glibc's
//   default, a process can fall into a state where each free() hands the top of the heap back to the
//   kernel (brk) and the next read faults the pages back in: a third of bulk throughput, decided at
//   random per process. Keeping up to 32 MB of free heap removes that state. Ignored by other libcs.
//   It is read when the process starts, which is why this needs a new process, not a flag set later.
// - a V8 young generation of at most 2 MB keeps the short-lived read buffers in cache-warm memory
//   (V8 grows it to 16 MB under bulk traffic, which cost a quarter of the throughput; 1 MB is best
//   for bulk but costs new connections);
// - room in the old generation from the start, or the buffers that do get promoted trigger a full
//   mark-compact every few megabytes of traffic;
// - no memory reducer: a relay allocates few JS objects per megabyte, so V8 takes bulk traffic for
//   idleness, shrinks the heap and then frees read buffers in batches of hundreds of MB, which glibc
//   hands back to the kernel and faults in again (150,000 page faults per GB and a quarter of bulk
//   throughput, for minutes after every idle spell).

export const NODE_TUNING = {
  env: {MALLOC_TRIM_THRESHOLD_: '33554432'} as Record<string, string>,
  flags: ['--initial-old-space-size=64', '--max-semi-space-size=2', '--no-memory-reducer'],
}

/**
 * Set in the re-executed process (so it never loops): the PID of the process that ran it again (the
 * same PID after execve; the wrapper's on Node 20, which watchWrapper then follows).
 */
const MARKER = 'EDGEPROXY_NODE_TUNED'
/** How often a Node 20 child checks that its wrapper still lives (an unref'd timer; never per connection). */
const WRAPPER_CHECK_MS = 1000

/** Signals a supervisor sends that the proxy acts on (stop, reload); forwarded by the Node 20 wrapper. */
const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'] as const

/**
 * The settings this process lacks: a variable not set at all, or a flag whose name is neither in
 * node's own arguments nor in NODE_OPTIONS (a value the operator chose is kept, whatever it is).
 */
export function missingTuning(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].map((a) => a.split('=')[0]!.replaceAll('_', '-'))
  return [
    ...Object.keys(NODE_TUNING.env).filter((name) => env[name] === undefined),
    ...NODE_TUNING.flags.filter((flag) => !given.includes(flag.split('=')[0]!)),
  ]
}

/** Whether `edgeproxy start` should run itself again (EDGEPROXY_NODE_TUNING=0 turns this off). */
export function shouldReexec(argv: readonly string[], env: NodeJS.ProcessEnv, execArgv: readonly string[]): boolean {
  if (argv[0] !== 'start' || env[MARKER] !== undefined || env.EDGEPROXY_NODE_TUNING === '0') return false
  return missingTuning(execArgv, env).length > 0
}

/**
 * Runs this script again with the settings, and never returns. Where Node can replace the process
 * (process.execve, Node ≥ 22.15) the PID stays the same, which is what systemd's MAINPID and a
 * container's PID 1 expect. On older Node the new process is a child in its own process group (so a
 * terminal's Ctrl-C reaches it once, through this process), every stop and reload signal is passed on,
 * and this process exits as the child did.
 */
export function reexecWithTuning(): Promise<never> {
  const env: NodeJS.ProcessEnv = {...NODE_TUNING.env, ...process.env, [MARKER]: String(process.pid)}
  const given = new Set(process.execArgv.map((a) => a.split('=')[0]))
  const flags = NODE_TUNING.flags.filter((f) => !given.has(f.split('=')[0]!))
  const args = [...flags, ...process.execArgv, ...process.argv.slice(1)]
  const execve = (process as {execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never}).execve
  if (typeof execve === 'function') execve.call(process, process.execPath, [process.execPath, ...args], env)
  // Loaded here, not at the top: every CLI command imports this module first, and only this path spawns.
  const child = process.getBuiltinModule('node:child_process').spawn(process.execPath, args, {env, stdio: 'inherit', detached: true})
  for (const signal of FORWARDED) process.on(signal, () => child.kill(signal))
  return new Promise<never>(() => {
    child.on('error', (error) => {
      process.stderr.write(`edgeproxy: cannot run ${process.execPath} again with its runtime settings (${error.message}); set EDGEPROXY_NODE_TUNING=0 to run without them\n`)
      process.exit(1)
    })
    child.on('exit', (code, signal) => {
      if (signal === null) process.exit(code ?? 1)
      for (const s of FORWARDED) process.removeAllListeners(s)
      process.kill(process.pid, signal)
    })
  })
}

/**
 * In the child a Node 20 wrapper started: a wrapper killed with SIGKILL cannot pass the signal on, and
 * the proxy would live on as an orphan holding its ports (a supervisor that killed only the PID it
 * launched, a CI script's `kill -9`). Once the wrapper is gone, the proxy stops as on SIGTERM (it
 * drains). Nothing to do when the settings came by execve (same PID) or were there at launch.
 */
export function watchWrapper(env: NodeJS.ProcessEnv): void {
  const wrapper = Number(env[MARKER])
  if (!Number.isInteger(wrapper) || wrapper <= 1 || wrapper === process.pid || process.ppid !== wrapper) return
  const timer = setInterval(() => {
    if (process.ppid === wrapper) return
    clearInterval(timer)
    process.stderr.write(`edgeproxy: the process that started this one (PID ${wrapper}) is gone; stopping as on SIGTERM\n`)
    process.kill(process.pid, 'SIGTERM')
  }, WRAPPER_CHECK_MS)
  timer.unref()
}
