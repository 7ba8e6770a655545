// What the 6PN lab needs from the machine: commands run to completion, long-lived processes whose
// output lines can be awaited, network namespaces, and a teardown stack that undoes everything in
// reverse order (also on failure and on SIGINT/SIGTERM). Only processes and namespaces this run made
// are touched, each by its pid or its run-unique name.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import readline from 'node:readline'

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    super(`${command} exited ${result.code}: ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ')}`)
  }
}

/** Commands of run() still going: a teardown kills them first, so none writes after it. */
const inFlight = new Set<ChildProcess>()

/** Runs a command to completion; throws CommandError on a non-zero exit unless `allowFail`. */
export function run(cmd: string, args: readonly string[], options: {env?: NodeJS.ProcessEnv; input?: string; allowFail?: boolean; timeoutMs?: number} = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe']})
    inFlight.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', (error) => {
      clearTimeout(timer)
      inFlight.delete(child)
      reject(error)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      inFlight.delete(child)
      const result = {code, stdout, stderr}
      if (code !== 0 && !options.allowFail) reject(new CommandError(`${cmd} ${args.join(' ')}`, result))
      else resolve(result)
    })
    child.stdin.on('error', () => {}) // a command that exits without reading its input
    child.stdin.end(options.input ?? '')
  })
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], {stdio: 'ignore'}).status === 0
}

/** A long-lived child with its output kept as lines, so callers wait for a line instead of sleeping. */
export class Tracked {
  readonly lines: string[] = []
  readonly exited: Promise<number | null>
  private waiters: Array<{match: (line: string) => boolean; resolve: (line: string) => void}> = []

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue
      readline.createInterface({input: stream}).on('line', (line) => {
        this.lines.push(line)
        this.waiters = this.waiters.filter((w) => {
          if (!w.match(line)) return true
          w.resolve(line)
          return false
        })
      })
    }
    this.exited = once(child, 'close').then(([code]) => code as number | null)
  }

  get pid(): number {
    return this.child.pid!
  }

  get isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** The first output line (past or future) that matches; rejects on exit or after timeoutMs. */
  waitForLine(match: RegExp | ((line: string) => boolean), timeoutMs = 15_000): Promise<string> {
    const test = typeof match === 'function' ? match : (line: string) => match.test(line)
    const past = this.lines.find(test)
    if (past !== undefined) return Promise.resolve(past)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no line matching ${String(match)} within ${timeoutMs} ms; last output:\n${this.lines.slice(-15).join('\n')}`)), timeoutMs)
      const waiter = {
        match: test,
        resolve: (line: string) => {
          clearTimeout(timer)
          resolve(line)
        },
      }
      this.waiters.push(waiter)
      void this.exited.then((code) => {
        if (!this.waiters.includes(waiter)) return
        clearTimeout(timer)
        reject(new Error(`${this.name} exited (${code}) before printing a line matching ${String(match)}; last output:\n${this.lines.slice(-15).join('\n')}`))
      })
    })
  }

  /** SIGTERM, then SIGKILL if it has not exited after graceMs. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.isRunning) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => {
      if (this.isRunning) this.child.kill('SIGKILL')
    }, graceMs)
    await this.exited
    clearTimeout(timer)
  }
}

/**
 * Undo actions, run last-in first-out; every one runs even if an earlier one fails. Once run()
 * has been called (a failure, a signal), push() refuses new resources: whatever is still being set
 * up fails at its next step instead of outliving the teardown.
 */
export class Teardown {
  private readonly steps: Array<{what: string; undo: () => Promise<void> | void}> = []
  private readonly failures: string[] = []
  private running?: Promise<void>
  isClosing = false

  push(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({what, undo})
    if (this.isClosing) {
      void this.run()
      throw new Error(`the lab is being torn down; not starting ${what}`)
    }
  }

  /** Runs every step (concurrent calls share one pass); returns all failures so far (never throws). */
  async run(): Promise<string[]> {
    this.isClosing = true
    while (this.running) await this.running
    const pending = [...inFlight]
    for (const child of pending) child.kill('SIGKILL')
    await Promise.all(pending.map((child) => (child.exitCode === null && child.signalCode === null ? once(child, 'close') : undefined)))
    if (this.steps.length > 0) {
      this.running = (async () => {
        while (this.steps.length > 0) {
          const step = this.steps.pop()!
          if (process.env.LAB_DEBUG) process.stderr.write(`teardown: ${step.what}\n`)
          try {
            await step.undo()
          } catch (error) {
            this.failures.push(`${step.what}: ${(error as Error).message}`)
          }
        }
      })()
      await this.running
      this.running = undefined
    }
    return [...this.failures]
  }
}

/** Starts a process and registers its stop with the teardown before anything can fail. */
export function startTracked(
  teardown: Teardown,
  name: string,
  cmd: string,
  args: readonly string[],
  options: {env?: NodeJS.ProcessEnv; cwd?: string; log?: (line: string) => void} = {},
): Tracked {
  if (teardown.isClosing) throw new Error(`the lab is being torn down; not starting ${name}`)
  const child = spawn(cmd, args, {env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe']})
  options.log?.(`started ${name} (pid ${child.pid})`)
  const tracked = new Tracked(name, child)
  child.on('error', () => {})
  child.stdin?.on('error', () => {})
  teardown.push(`stop ${name} (pid ${child.pid})`, () => tracked.stop())
  return tracked
}

export async function netnsList(): Promise<string[]> {
  const {stdout} = await run('ip', ['netns', 'list'])
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean)
}
