// Corrosion's admin Unix socket (corrosion-api.md §8.1): 4-byte big-endian length-prefixed JSON
// frames; send "Reload" or "Ping", read {"Log":…} frames until "Success" or {"Error":{"msg":…}}.
// Also runs `corrosion reload` when that binary is on PATH. It knows nothing about schemas.
import {execFile} from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {CorrosionAdminError, CorrosionReloadError} from './errors.js'

export const DEFAULT_ADMIN_SOCKET = '/var/run/corrosion/admin.sock'
const MAX_FRAME_BYTES = 100 * 1024 * 1024

export type AdminCommand = 'Reload' | 'Ping'

export interface AdminLog {
  level: string
  msg: string
}

export interface AdminResult {
  logs: AdminLog[]
}

/** One frame: the JSON text of `value` after its byte length as a u32 big-endian. */
export function encodeFrame(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8')
  const header = Buffer.alloc(4)
  header.writeUInt32BE(json.length, 0)
  return Buffer.concat([header, json])
}

/** Splits buffered bytes into complete frames; returns the frames and the unread rest. */
export function decodeFrames(buffer: Buffer): {frames: unknown[]; rest: Buffer} {
  const frames: unknown[] = []
  let offset = 0
  while (buffer.length - offset >= 4) {
    const length = buffer.readUInt32BE(offset)
    if (length > MAX_FRAME_BYTES) throw new CorrosionAdminError(`the Corrosion admin socket sent a ${length}-byte frame (limit ${MAX_FRAME_BYTES})`)
    if (buffer.length - offset - 4 < length) break
    const text = buffer.subarray(offset + 4, offset + 4 + length).toString('utf8')
    try {
      frames.push(JSON.parse(text))
    } catch {
      throw new CorrosionAdminError(`the Corrosion admin socket sent a frame that is not JSON: ${text.slice(0, 120)}`)
    }
    offset += 4 + length
  }
  return {frames, rest: buffer.subarray(offset)}
}

type Outcome = {kind: 'log'; log: AdminLog} | {kind: 'success'} | {kind: 'error'; msg: string} | {kind: 'other'}

function classify(frame: unknown): Outcome {
  if (frame === 'Success') return {kind: 'success'}
  if (typeof frame === 'object' && frame !== null) {
    const f = frame as {Log?: {level?: unknown; msg?: unknown}; Error?: {msg?: unknown}}
    // LogLevel is snake_case on the wire ("info", "warn"…), corro-admin/src/lib.rs.
    if (f.Log) return {kind: 'log', log: {level: String(f.Log.level ?? 'info'), msg: String(f.Log.msg ?? '')}}
    if (f.Error) return {kind: 'error', msg: String(f.Error.msg ?? '')}
  }
  return {kind: 'other'}
}

/**
 * Sends one command and reads until its final frame. `Error` → CorrosionReloadError with the
 * agent's text; a socket that is missing or refuses → CorrosionAdminError.
 */
export function adminCommand(socketPath: string, command: AdminCommand, options: {timeoutMs?: number} = {}): Promise<AdminResult> {
  const timeoutMs = options.timeoutMs ?? 60_000
  return new Promise((resolve, reject) => {
    const logs: AdminLog[] = []
    let buffer: Buffer = Buffer.alloc(0)
    let isSettled = false
    const socket = net.createConnection({path: socketPath})
    const settle = (error?: Error) => {
      if (isSettled) return
      isSettled = true
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve({logs})
    }
    const timer = setTimeout(
      () => settle(new CorrosionAdminError(`the Corrosion admin socket at ${socketPath} did not finish ${command} within ${timeoutMs} ms`)),
      timeoutMs,
    )
    socket.on('connect', () => socket.write(encodeFrame(command)))
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      let decoded
      try {
        decoded = decodeFrames(buffer)
      } catch (error) {
        settle(error as Error)
        return
      }
      buffer = decoded.rest
      for (const frame of decoded.frames) {
        const outcome = classify(frame)
        if (outcome.kind === 'log') logs.push(outcome.log)
        else if (outcome.kind === 'success') return settle()
        else if (outcome.kind === 'error') return settle(new CorrosionReloadError(outcome.msg))
      }
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      settle(
        new CorrosionAdminError(`cannot open the Corrosion admin socket at ${socketPath} (${error.code ?? error.message})`, {
          cause: error,
        }),
      )
    })
    socket.on('close', () => settle(new CorrosionAdminError(`the Corrosion admin socket at ${socketPath} closed before answering ${command}`)))
  })
}

/** `Reload`: the agent re-reads the schema paths it was started with. */
export function reloadSchema(socketPath: string, options: {timeoutMs?: number} = {}): Promise<AdminResult> {
  return adminCommand(socketPath, 'Reload', options)
}

export function pingAdmin(socketPath: string, options: {timeoutMs?: number} = {}): Promise<AdminResult> {
  return adminCommand(socketPath, 'Ping', options)
}

/** The first executable `corrosion` on PATH, or undefined. */
export function findCorrosionBinary(envPath: string | undefined = process.env.PATH): string | undefined {
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const candidate = path.join(dir, 'corrosion')
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

export interface CliReloadOptions {
  binary: string
  /** Passed as the global `--admin-path`; without it the binary reads /etc/corrosion/config.toml. */
  adminPath?: string
  configPath?: string
  timeoutMs?: number
}

const RELOAD_PREFIX = 'Failed to reload schema: '
const NO_ADMIN_RESPONSE = "Failed to get response from Corrosion's admin!"

function lastLine(text: string): string | undefined {
  return text
    .split('\n')
    .map((l) => l.replace(/\u001b\[[0-9;]*m/g, '').trim())
    .filter((l) => l !== '')
    .at(-1)
}

/**
 * What a failed `corrosion reload` said. The binary logs through tracing on stdout and, on error,
 * prints the error's Display on stderr and exits 1 (corrosion/src/main.rs `eprintln!("{e}")`): at
 * HEAD `Failed to reload schema: <agent msg>` (command/reload.rs), at v1.0.0 the bare agent msg, and
 * a bare io error (`No such file or directory (os error 2)`) when the admin socket cannot be opened.
 */
export function classifyReloadFailure(stderr: string, stdout = ''): {kind: 'refused' | 'unreachable'; message: string} {
  const line = (lastLine(stderr) ?? lastLine(stdout) ?? '').replace(/^Error:\s*/, '')
  const message = line.startsWith(RELOAD_PREFIX) ? line.slice(RELOAD_PREFIX.length) : line
  if (message === '' || message === NO_ADMIN_RESPONSE || /\(os error \d+\)$/.test(message)) return {kind: 'unreachable', message: message || 'no output'}
  return {kind: 'refused', message}
}

/**
 * Runs `corrosion [--config C] [--admin-path P] reload`. Exit 1 with the agent's refusal →
 * CorrosionReloadError with the agent's text; a socket it cannot open → CorrosionAdminError.
 */
export function runCorrosionReload(options: CliReloadOptions): Promise<{output: string}> {
  const args: string[] = []
  if (options.configPath) args.push('--config', options.configPath)
  if (options.adminPath) args.push('--admin-path', options.adminPath)
  args.push('reload')
  return new Promise((resolve, reject) => {
    execFile(options.binary, args, {timeout: options.timeoutMs ?? 60_000, env: {...process.env, NO_COLOR: '1'}}, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`
      if (!error) return resolve({output})
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'EACCES') {
        reject(new CorrosionAdminError(`cannot run ${options.binary} (${code})`, {cause: error}))
        return
      }
      const failure = classifyReloadFailure(stderr, stdout)
      if (failure.kind === 'unreachable') {
        reject(new CorrosionAdminError(`${options.binary} reload could not reach the agent's admin socket: ${failure.message}`, {cause: error}))
        return
      }
      reject(new CorrosionReloadError(failure.message))
    })
  })
}
