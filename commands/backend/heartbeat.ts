import {Args, Flags} from '@oclif/core'

import {heartbeatOnce, registerBackend, type RegisterValues} from '../../src/cli/backend-actions.js'
import {BackendCommand, missingRegisterFlags, registerFlags, storeFlags} from '../../src/cli/backend-command.js'
import {durationFlagMs} from '../../src/cli/duration.js'
import {runHeartbeatLoop} from '../../src/cli/heartbeat-loop.js'
import {MissingFlagError} from '../../src/cli/prompts/prompter.js'
import type {HeartbeatOutcome} from '../../src/discovery/backend-client.js'

const {id: _id, ...registerValueFlags} = registerFlags
const reRegisterFlags = Object.fromEntries(
  Object.entries(registerValueFlags).map(([name, flag]) => [name, {...flag, helpGroup: 'WITH --register'}]),
) as typeof registerValueFlags

export default class BackendHeartbeat extends BackendCommand {
  static override summary = "Renew a backend's lease once, or keep renewing it with --every (a sidecar)"
  static override description =
    'The proxy writes a renewal only when less than two thirds of the lease is left, so heartbeating often is cheap; send one at least every third of the lease (a warning says so otherwise). With --every the command runs until SIGINT or SIGTERM, survives API restarts with exponential backoff, and logs to stderr: the first success, every failure, and the recovery. A backend that no longer exists (deregistered, or a store that lost it) ends the loop with EP_BACKEND_NOT_FOUND, or with --register and the register flags is registered again.'
  static override examples = [
    '<%= config.bin %> backend heartbeat sa-node-1',
    {description: 'As a sidecar next to the backend (systemd, a container)', command: '<%= config.bin %> backend heartbeat sa-node-1 --every 15s'},
    {
      description: 'A sidecar that registers the backend again if it is deregistered or the store is lost',
      command: '<%= config.bin %> backend heartbeat sa-node-1 --every 15s --register --app myapp --region sa --ip 10.50.1.1 --port 9000',
    },
  ]
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Backend id', required: true})}
  static override flags = {
    every: Flags.string({summary: 'Keep heartbeating at this interval (15s, 1m, 500ms) until stopped', helpValue: 'DURATION'}),
    register: Flags.boolean({summary: 'With --every: register the backend again (with the flags below) when it no longer exists', dependsOn: ['every']}),
    ...storeFlags,
    ...reRegisterFlags,
  }

  async run(): Promise<HeartbeatOutcome | {stopped: true; beats: number; failures: number}> {
    const {args, flags} = await this.parse(BackendHeartbeat)
    const client = await this.client(flags)
    if (flags.every === undefined) return heartbeatOnce(client, args.id, this.io())
    const intervalMs = durationFlagMs('--every', flags.every, {minMs: 100, example: '15s'})
    let reRegister: (() => ReturnType<typeof registerBackend>) | undefined
    if (flags.register) {
      const values = {...flags, id: args.id}
      const missing = missingRegisterFlags(values)
      if (missing.length > 0) throw new MissingFlagError(missing.map((k) => `--${k}`), '--register needs the values to register with')
      reRegister = () => registerBackend(client, values as RegisterValues, {log: () => {}})
    }
    const summary = await runHeartbeatLoop({id: args.id, client, intervalMs, reRegister, log: (line) => process.stderr.write(line + '\n')})
    return {stopped: true, ...summary}
  }
}
