import {Args, Flags} from '@oclif/core'

import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import {parseDurationMs} from '../../src/cli/duration.js'
import {runHeartbeatLoop} from '../../src/cli/heartbeat-loop.js'
import {ConfigError, type BackendJson} from '../../src/index.js'

export default class BackendHeartbeat extends BackendCommand {
  static override summary = "Renew a backend's lease once, or keep renewing it with --every (a sidecar)"
  static override description =
    'The proxy writes a renewal only when less than two thirds of the lease is left, so heartbeating often is cheap. With --every the command runs until SIGINT or SIGTERM, survives API restarts with exponential backoff, and logs to stderr: the first success, every failure, and the recovery.'
  static override examples = [
    '<%= config.bin %> backend heartbeat sa-node-1',
    {description: 'As a sidecar next to the backend (systemd, a container)', command: '<%= config.bin %> backend heartbeat sa-node-1 --every 15s'},
  ]
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Backend id', required: true})}
  static override flags = {
    every: Flags.string({summary: 'Keep heartbeating at this interval (15s, 1m, 500ms) until stopped', helpValue: 'DURATION'}),
    ...storeFlags,
  }

  async run(): Promise<{backend: BackendJson; stored: boolean} | {stopped: true; beats: number; failures: number}> {
    const {args, flags} = await this.parse(BackendHeartbeat)
    const client = (await this.client(flags))
    if (flags.every === undefined) {
      const result = await client.heartbeat(args.id)
      this.log(`${result.backend.id}: lease until ${result.backend.lease_expires_at ?? 'never (no lease)'} (${result.stored ? 'renewed' : 'still fresh, not rewritten'})`)
      return result
    }
    let intervalMs: number
    try {
      intervalMs = parseDurationMs(flags.every)
    } catch (error) {
      throw new ConfigError(`invalid --every: ${(error as Error).message}`, {field: '--every', suggestion: 'pass an interval such as --every 15s'})
    }
    if (intervalMs < 100) throw new ConfigError(`--every ${flags.every} is too short`, {field: '--every', suggestion: 'use at least 100ms; a third of the lease is plenty'})
    const summary = await runHeartbeatLoop({id: args.id, client, intervalMs, log: (line) => process.stderr.write(line + '\n')})
    return {stopped: true, ...summary}
  }
}
