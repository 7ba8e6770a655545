// Runs the real CLI (`bin/run.js`, the built dist/) as a child process for end-to-end tests, with
// JSON logs parsed into events so tests wait on what the proxy says instead of sleeping.
import {spawn, type ChildProcess} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {NODE_TUNING} from '../../src/cli/node-tuning.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(ROOT, 'bin/run.js')

export interface LogEvent {
  ts: string
  level: string
  event: string
  msg: string
  [field: string]: unknown
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Environment without the caller's EDGEPROXY_* / DEBUG settings, so tests are hermetic. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('EDGEPROXY_') || k === 'DEBUG' || k === 'NODE_OPTIONS') continue
    env[k] = v
  }
  env.NO_COLOR = '1'
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v
  return env
}

export function tempDir(prefix = 'edgeproxy-test-'): {dir: string; cleanup: () => void} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  return {dir, cleanup: () => fs.rmSync(dir, {recursive: true, force: true})}
}

/** A user and group a child process runs as. */
export interface RunAs {
  uid: number
  gid: number
}

/**
 * `nobody` when the tests run as root (CI, containers), undefined otherwise: file permission tests
 * need a process that permissions apply to, and root ignores them.
 */
export function unprivilegedUser(): RunAs | undefined {
  return process.getuid?.() === 0 ? {uid: 65534, gid: 65534} : undefined
}

/** Runs the CLI to completion. */
export function runCli(args: string[], options: {env?: Record<string, string | undefined>; cwd?: string; input?: string; timeoutMs?: number; user?: RunAs} = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const env = cleanEnv(options.user ? {HOME: os.tmpdir(), ...options.env} : options.env)
    const child = spawn(process.execPath, [BIN, ...args], {cwd: options.cwd ?? ROOT, env, ...options.user})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`edgeproxy ${args.join(' ')} did not finish in ${options.timeoutMs ?? 30_000} ms\n${stderr}`))
    }, options.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({code, signal, stdout, stderr})
    })
    child.stdin.end(options.input ?? '')
  })
}

export class ProxyProcess {
  readonly events: LogEvent[] = []
  readonly exited: Promise<Exit>
  stderr = ''
  stdout = ''
  tcpPort = 0
  tlsPort = 0
  private waiters: {match: (e: LogEvent) => boolean; resolve: (e: LogEvent) => void}[] = []

  constructor(readonly child: ChildProcess) {
    let partial = ''
    child.stdout!.on('data', (c: Buffer) => (this.stdout += c))
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      this.stderr += text
      partial += text
      let nl: number
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl)
        partial = partial.slice(nl + 1)
        if (!line.startsWith('{')) continue
        let event: LogEvent
        try {
          event = JSON.parse(line) as LogEvent
        } catch {
          continue
        }
        this.events.push(event)
        this.waiters = this.waiters.filter((w) => {
          if (!w.match(event)) return true
          w.resolve(event)
          return false
        })
      }
    })
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => resolve({code, signal, stdout: this.stdout, stderr: this.stderr}))
    })
  }

  /** The first event (past or future) named `event` that satisfies `predicate`. */
  waitFor(event: string, predicate: (e: LogEvent) => boolean = () => true, timeoutMs = 10_000): Promise<LogEvent> {
    const match = (e: LogEvent) => e.event === event && predicate(e)
    const past = this.events.find(match)
    if (past) return Promise.resolve(past)
    return this.next(event, predicate, timeoutMs)
  }

  /** The next event named `event` logged after this call. */
  next(event: string, predicate: (e: LogEvent) => boolean = () => true, timeoutMs = 10_000): Promise<LogEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${event}" event within ${timeoutMs} ms; stderr:\n${this.stderr.slice(-4000)}`)),
        timeoutMs,
      )
      const waiter = {
        match: (e: LogEvent) => e.event === event && predicate(e),
        resolve: (e: LogEvent) => {
          clearTimeout(timer)
          resolve(e)
        },
      }
      this.waiters.push(waiter)
      void this.exited.then(() => {
        if (!this.waiters.includes(waiter)) return
        clearTimeout(timer)
        reject(new Error(`edgeproxy exited before "${event}"; stderr:\n${this.stderr.slice(-4000)}`))
      })
    })
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
    return this.exited
  }
}

export interface StartProxyOptions {
  env?: Record<string, string | undefined>
  args?: string[]
  cwd?: string
  /** Wait for the `started` event (default true). */
  waitStarted?: boolean
  /** How long to wait for it (default 15 s). */
  startTimeoutMs?: number
  /** Run the proxy as this user (see unprivilegedUser). */
  user?: RunAs
}

function portOf(address: unknown): number {
  const text = String(address)
  return Number(text.slice(text.lastIndexOf(':') + 1))
}

/**
 * node's arguments and environment for `bin/run.js start` with the runtime settings it would
 * otherwise run itself again with (src/cli/node-tuning.ts), so the spawned PID is the proxy's own
 * (SIGSTOP, SIGKILL and /proc reach the proxy, not a Node 20 wrapper).
 */
export function startArgs(args: readonly string[] = []): string[] {
  return [...NODE_TUNING.flags, BIN, 'start', ...args]
}
export const TUNING_ENV: Record<string, string> = NODE_TUNING.env

/** Spawns `bin/run.js start` with JSON logs on loopback port 0 (unless overridden). */
export async function startProxy(options: StartProxyOptions = {}): Promise<ProxyProcess> {
  // Each POP its own Corrosion state file (the default, relative to the working directory, would be
  // shared by every test), removed when the process exits; a test that restarts a POP passes its own.
  const stateDir = options.env && 'EDGEPROXY_CORROSION_STATE_FILE' in options.env ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'edgeproxy-state-'))
  const env = cleanEnv({
    ...TUNING_ENV,
    EDGEPROXY_LISTEN_ADDR: '127.0.0.1:0',
    EDGEPROXY_API_LISTEN_ADDR: '127.0.0.1:0',
    EDGEPROXY_LOG_FORMAT: 'json',
    // oclif reads its data directory under HOME, which another user's HOME would refuse.
    ...(options.user ? {HOME: os.tmpdir()} : {}),
    ...(stateDir ? {EDGEPROXY_CORROSION_STATE_FILE: path.join(stateDir, 'routing-state.json')} : {}),
    ...options.env,
  })
  const child = spawn(process.execPath, startArgs(options.args), {cwd: options.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], ...options.user})
  if (stateDir) child.once('exit', () => fs.rmSync(stateDir, {recursive: true, force: true}))
  const proxy = new ProxyProcess(child)
  if (options.waitStarted === false) return proxy
  let started: LogEvent
  try {
    started = await proxy.waitFor('started', () => true, options.startTimeoutMs ?? 15_000)
  } catch (error) {
    await proxy.stop('SIGKILL')
    throw error
  }
  proxy.tcpPort = portOf(started.listen)
  if (started.tls) proxy.tlsPort = portOf(started.tls)
  return proxy
}
