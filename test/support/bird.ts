// Real BIRD 2 for tests: whether it can run here (with the reason when not), `bird -p -c` parse
// checks, and daemons on loopback with their own control sockets and pid files in a temp dir,
// read back through birdc. Never touches /etc/bird, /run/bird or privileged ports.
import {execFile, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'

const run = promisify(execFile)

/** Debian puts both in /usr/sbin, which a non-root PATH may lack. */
function binary(name: string, variable: string): string {
  return process.env[variable] ?? (fs.existsSync(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : name)
}

export const BIRD = binary('bird', 'BIRD_BIN')
export const BIRDC = binary('birdc', 'BIRDC_BIN')

let availability: string | undefined | null = null

/** undefined when `bird` and `birdc` run here; otherwise why not (the test prints it and skips). */
export function birdUnavailableReason(): string | undefined {
  if (availability !== null) return availability
  for (const bin of [BIRD, BIRDC]) {
    const r = spawnSync(bin, ['--version'], {encoding: 'utf8'})
    const text = `${r.stdout ?? ''}${r.stderr ?? ''}`
    if (r.error) return (availability = `${bin} cannot run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install Debian's bird2`)
    if (bin === BIRD && !/BIRD version 2\./.test(text)) return (availability = `${bin} --version says ${JSON.stringify(text.trim())}, not BIRD 2`)
  }
  return (availability = undefined)
}

/** `bird -p -c FILE`: exit code and BIRD's messages (file:line:col on errors). */
export function birdParse(file: string): {code: number; output: string} {
  const r = spawnSync(BIRD, ['-p', '-c', file], {encoding: 'utf8'})
  return {code: r.status ?? -1, output: `${r.stdout}${r.stderr}`.trim()}
}

/** birdc's answer. It exits 1 on BIRD's errors too ("Network not found"): their text is returned. */
export async function birdc(socket: string, ...args: string[]): Promise<string> {
  try {
    const {stdout} = await run(BIRDC, ['-s', socket, ...args], {timeout: 5000})
    return stdout
  } catch (error) {
    const stdout = (error as {stdout?: string}).stdout ?? ''
    if (stdout.includes('BIRD 2') && !stdout.includes('Unable to connect')) return stdout
    throw error
  }
}

export interface BirdDaemon {
  name: string
  socket: string
  config: string
  birdc(...args: string[]): Promise<string>
  stop(): Promise<void>
}

/** Starts `bird -c config -s dir/name.ctl -P dir/name.pid` (it daemonizes) and waits for its socket. */
export async function startBird(dir: string, name: string, config: string): Promise<BirdDaemon> {
  const socket = path.join(dir, `${name}.ctl`)
  const pidFile = path.join(dir, `${name}.pid`)
  await run(BIRD, ['-c', config, '-s', socket, '-P', pidFile], {timeout: 10_000})
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      await birdc(socket, 'show', 'status')
      break
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`bird ${name} did not answer on ${socket}: ${(error as Error).message}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim())
  return {
    name,
    socket,
    config,
    birdc: (...args: string[]) => birdc(socket, ...args),
    async stop() {
      try {
        process.kill(pid, 'SIGTERM')
      } catch {
        return
      }
      const until = Date.now() + 5000
      while (Date.now() < until) {
        try {
          process.kill(pid, 0)
        } catch {
          return
        }
        await new Promise((r) => setTimeout(r, 20))
      }
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone
      }
    },
  }
}

/** Polls `check` every `everyMs` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
