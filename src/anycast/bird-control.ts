// Talks to a running BIRD through birdc: `configure` after a gate change, and what `anycast status`
// shows (`show protocols`, `show route export <peer> all`). birdc runs with execFile and a fixed
// argument list (never a shell), in verbose mode so every reply line carries BIRD's numeric code.
// The reply parsers are pure and exported for tests.
import {execFile} from 'node:child_process'

import {BirdRefusedError, BirdUnavailableError} from './errors.js'
import type {BirdSettings} from './settings.js'

export interface BirdReply {
  code: number
  text: string
}

export interface BirdProtocol {
  name: string
  proto: string
  table: string
  state: string
  since: string
  info: string
}

export interface ExportedRoute {
  prefix: string
  asPath: string
  communities: string[]
}

/**
 * birdc -v output → one reply per line. A line is `NNNN-text` (more follows), `NNNN text` (last),
 * or five spaces and text (the previous code continues).
 */
export function parseBirdReplies(output: string): BirdReply[] {
  const replies: BirdReply[] = []
  let code = 0
  for (const line of output.split('\n')) {
    const m = /^(\d{4})[ -](.*)$/.exec(line)
    if (m) {
      code = Number(m[1])
      replies.push({code, text: m[2]!})
    } else if (line.startsWith('     ')) replies.push({code, text: line.slice(5)})
  }
  return replies
}

/** BIRD's error replies are 8xxx (run-time) and 9xxx (parse). */
function firstError(replies: readonly BirdReply[]): BirdReply | undefined {
  return replies.find((r) => r.code >= 8000)
}

/** `show protocols` rows (code 1002). */
export function parseProtocols(replies: readonly BirdReply[]): BirdProtocol[] {
  return replies
    .filter((r) => r.code === 1002 && r.text.trim() !== '')
    .map((r) => {
      const [name = '', proto = '', table = '', state = '', since = '', ...info] = r.text.trim().split(/\s+/)
      return {name, proto, table, state, since, info: info.join(' ')}
    })
}

/** `show route export <peer> all`: prefixes with the path and communities BIRD sends. */
export function parseExportedRoutes(replies: readonly BirdReply[]): ExportedRoute[] {
  const routes: ExportedRoute[] = []
  for (const r of replies) {
    const route = /^(\S+\/\d+)\s/.exec(r.text)
    if (route && r.code === 1007) {
      routes.push({prefix: route[1]!, asPath: '', communities: []})
      continue
    }
    const last = routes.at(-1)
    if (!last) continue
    const path = /^\s*BGP\.as_path:\s*(.*)$/.exec(r.text)
    if (path) last.asPath = path[1]!.trim()
    const community = /^\s*BGP\.community:\s*(.*)$/.exec(r.text)
    if (community) last.communities = [...community[1]!.matchAll(/\((\d+),(\d+)\)/g)].map((c) => `${c[1]}:${c[2]}`)
  }
  return routes
}

export type Exec = (file: string, args: readonly string[], options: {timeout: number}) => Promise<{stdout: string; stderr: string; code: number}>

const defaultExec: Exec = (file, args, options) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], {timeout: options.timeout, encoding: 'utf8', maxBuffer: 8 * 1024 * 1024}, (error, stdout, stderr) => {
      if (error && (error as {killed?: boolean}).killed) reject(new Error(`birdc did not answer within ${options.timeout} ms`))
      else if (error && typeof (error as NodeJS.ErrnoException).code === 'string') reject(error)
      else resolve({stdout, stderr, code: error ? Number((error as {code?: number}).code ?? 1) : 0})
    })
  })

export class BirdControl {
  constructor(
    private readonly settings: BirdSettings,
    private readonly exec: Exec = defaultExec,
  ) {}

  get socket(): string {
    return this.settings.socket
  }

  /** Runs `birdc -v -s SOCKET args…`; throws when birdc cannot run, BIRD cannot be reached or refuses. */
  async command(...args: string[]): Promise<BirdReply[]> {
    let result: {stdout: string; stderr: string; code: number}
    try {
      result = await this.exec(this.settings.birdc, ['-v', '-s', this.settings.socket, ...args], {timeout: this.settings.timeoutMs})
    } catch (error) {
      const e = error as NodeJS.ErrnoException
      const reason = e.code === 'ENOENT' ? `${this.settings.birdc} is not installed (apt-get install bird2)` : e.code === 'EACCES' ? `${this.settings.birdc} is not executable` : e.message
      throw new BirdUnavailableError(this.settings.socket, reason, {cause: error})
    }
    const replies = parseBirdReplies(result.stdout)
    const error = firstError(replies)
    if (error) throw new BirdRefusedError(args.join(' '), error.text.trim())
    if (result.code !== 0 || !replies.some((r) => r.code === 1)) {
      const said = `${result.stderr}${result.stdout}`.trim().split('\n')[0] ?? ''
      throw new BirdUnavailableError(this.settings.socket, said || `birdc exited with code ${result.code}`)
    }
    return replies
  }

  /** `birdc configure`: BIRD re-reads bird.conf and its includes; sessions stay up. */
  async configure(): Promise<string> {
    const replies = await this.command('configure')
    return replies.filter((r) => r.code >= 2 && r.code < 100).map((r) => r.text.trim()).at(-1) ?? 'configured'
  }

  async protocols(): Promise<BirdProtocol[]> {
    return parseProtocols(await this.command('show', 'protocols'))
  }

  async exportedRoutes(protocol: string): Promise<ExportedRoute[]> {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(protocol)) throw new Error(`not a BIRD protocol name: ${protocol}`)
    try {
      return parseExportedRoutes(await this.command('show', 'route', 'export', protocol, 'all'))
    } catch (error) {
      // "No valid tables": the session's channel is down, so nothing is exported.
      if (error instanceof BirdRefusedError && /No valid tables/.test(error.message)) return []
      throw error
    }
  }
}
