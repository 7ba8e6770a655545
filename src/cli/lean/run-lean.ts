// The lean path: the commands that make one call to a running proxy's API (backend list, get, drain,
// enable, disable, set-weight, deregister, heartbeat, register with every value given, check, route
// explain, status without --watch) and `version` run here without loading oclif, the engine, SQLite or undici, so they
// finish in about the time Node takes to start. Flags are read from oclif.manifest.json (the same
// definitions oclif uses), and the work is the same action functions the oclif commands call
// (src/cli/backend-actions.ts), with the same output and errors. Whenever this path is unsure
// (help, a --db or --corrosion-url, a prompt, a usage error) it returns false and oclif runs.
// A new API command joins by adding an entry to LEAN_COMMANDS.
import {readFileSync} from 'node:fs'
import path from 'node:path'

import type {ApiBackendClient} from '../../discovery/api-client.js'
import type {Io} from '../backend-actions.js'
import {parseArgv, type ManifestCommand, type ParsedArgv} from './parse-argv.js'

interface LeanContext {
  parsed: ParsedArgv
  flags: Record<string, string | undefined>
  io: Io
  /** The API client for --api-url / EDGEPROXY_API_URL and --token. */
  api: () => Promise<ApiBackendClient>
  root: string
}

interface LeanCommand {
  /** False: leave it to oclif (a store flag, a prompt, a loop). */
  canRun(flags: Record<string, string | boolean | undefined>): boolean
  run(context: LeanContext): Promise<object>
}

const throughApi = (flags: Record<string, unknown>) => flags.db === undefined && flags['corrosion-url'] === undefined
const actions = () => import('../backend-actions.js')
const stateChange = (kind: 'drain' | 'enable' | 'disable'): LeanCommand => ({
  canRun: throughApi,
  run: async (c) => (await actions()).changeState(await c.api(), c.parsed.args.id!, kind, c.io),
})

const LEAN_COMMANDS: Record<string, LeanCommand> = {
  'backend:list': {
    canRun: throughApi,
    run: async (c) => (await actions()).listBackends(await c.api(), {app: c.flags.app, region: c.flags.region, state: c.flags.state}, c.io),
  },
  'backend:get': {canRun: throughApi, run: async (c) => (await actions()).getBackend(await c.api(), c.parsed.args.id!, c.io)},
  'backend:drain': stateChange('drain'),
  'backend:enable': stateChange('enable'),
  'backend:disable': stateChange('disable'),
  'backend:set-weight': {canRun: throughApi, run: async (c) => (await actions()).setWeight(await c.api(), c.parsed.args.id!, c.parsed.args.weight!, c.io)},
  'backend:deregister': {canRun: throughApi, run: async (c) => (await actions()).deregisterBackend(await c.api(), c.parsed.args.id!, c.io)},
  'backend:heartbeat': {
    canRun: (flags) => throughApi(flags) && flags.every === undefined,
    run: async (c) => (await actions()).heartbeatOnce(await c.api(), c.parsed.args.id!, c.io),
  },
  'backend:register': {
    canRun: (flags) => throughApi(flags) && ['id', 'app', 'region', 'ip', 'port'].every((k) => flags[k] !== undefined),
    run: async (c) => (await actions()).registerBackend(await c.api(), c.flags as never, c.io),
  },
  'backend:check': {canRun: () => true, run: async (c) => (await actions()).checkBackend(await c.api(), c.parsed.args.id!, c.io)},
  'route:explain': {canRun: () => true, run: async (c) => (await actions()).explainRoute(await c.api(), c.parsed.args.ip!, c.io, c.flags.app)},
  // One sample; --watch (a loop) stays in oclif.
  status: {
    canRun: (flags) => flags.watch === undefined,
    run: async (c) => {
      const [{statusApiUrl, statusExitCode, summarise, takeSample}, {renderStatus}] = await Promise.all([import('../pop-status.js'), import('../status-view.js')])
      const url = statusApiUrl(c.flags['api-url'])
      const result = summarise(url, await takeSample(url, c.flags.token))
      c.io.log(renderStatus(result))
      process.exitCode = statusExitCode(result)
      return result
    },
  },
  version: {
    canRun: () => true,
    run: async (c) => {
      const pjson = JSON.parse(readFileSync(path.join(c.root, 'package.json'), 'utf8')) as {name: string; version: string}
      c.io.log(`${pjson.name}/${pjson.version} ${process.platform}-${process.arch} node-${process.version}`)
      return {version: pjson.version, node: process.versions.node, platform: process.platform, arch: process.arch}
    },
  },
}

/** The command id and the rest of argv, for the commands this path knows. */
function commandOf(argv: readonly string[]): {id: string; rest: string[]} | undefined {
  if (argv[0] === '--version' || argv[0] === '-v') return argv.length === 1 ? {id: 'version', rest: []} : undefined
  for (const words of [2, 1]) {
    const id = argv.slice(0, words).join(':')
    if (argv.length >= words && LEAN_COMMANDS[id] !== undefined) return {id, rest: argv.slice(words)}
  }
  return undefined
}

/** Runs argv on the lean path; false when oclif must run it instead (nothing has been printed then). */
export async function runLean(argv: readonly string[], root: string): Promise<boolean> {
  const found = commandOf(argv)
  if (found === undefined) return false
  let manifest: {commands: Record<string, ManifestCommand>}
  try {
    manifest = JSON.parse(readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8')) as typeof manifest
  } catch {
    return false
  }
  const entry = manifest.commands[found.id]
  const lean = LEAN_COMMANDS[found.id]!
  if (entry === undefined) return false
  const parsed = parseArgv(entry, found.rest, process.env)
  if (parsed === undefined || !lean.canRun(parsed.flags)) return false

  const isJson = entry.enableJsonFlag === true && (parsed.flags.json === true || process.env.EDGEPROXY_CONTENT_TYPE?.toLowerCase() === 'json')
  const [{printJson}, {describeError, printError}] = await Promise.all([import('../output.js'), import('../handle-errors.js')])
  const io: Io = {log: (text) => (isJson ? undefined : void process.stdout.write(text + '\n'))}
  const flags = Object.fromEntries(Object.entries(parsed.flags).filter((e): e is [string, string] => typeof e[1] === 'string'))
  const api = async () => {
    const [{ApiBackendClient}, {apiUrlOf}] = await Promise.all([import('../../discovery/api-client.js'), import('../api-url.js')])
    return new ApiBackendClient(apiUrlOf(flags['api-url'], parsed.typed.has('api-url') ? '--api-url' : 'EDGEPROXY_API_URL'), flags.token)
  }
  try {
    const result = await lean.run({parsed, flags, io, api, root})
    if (isJson) printJson(result)
  } catch (error) {
    const rendered = describeError(error)
    printError(rendered, {isJson, error})
    process.exitCode = rendered.exit
  }
  return true
}
