import {Flags} from '@oclif/core'
import chalk from 'chalk'

import {BaseCommand} from '../../src/cli/base-command.js'
import {renderFields, type Cell} from '../../src/cli/table.js'
import {corrosionAgentFlags, DEFAULT_CORROSION_URL} from '../../src/cli/corrosion-flags.js'
import {parseHttpUrl} from '../../src/cli/url.js'
import {corrosionStatus, CorrosionClient, type CorrosionStatusResult} from '../../src/corrosion/index.js'
import {EdgeproxyError, ExitCode} from '../../src/errors.js'

export default class CorrosionStatus extends BaseCommand {
  static override summary = 'Check the local Corrosion agent: reachability, auth, health, members, gaps, backends and schema'
  static override description = `Exits 0 when the agent answers, accepts the token, is not unhealthy, sees at least --min-members other agents alive and has the backends table with every column, replicated. A quiet cluster's 503 "no p99 lag information available" is reported as idle, not down. Exits 3 when the operator must fix something (token, schema) and 4 when the agent is down or unhealthy; then --json prints {"error":{code,message,suggestion,exit,status}}, where status is the object a healthy run prints.`

  static override examples = [
    {description: 'Human summary', command: '<%= config.bin %> corrosion status'},
    {description: 'For monitoring', command: '<%= config.bin %> corrosion status --json'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...corrosionAgentFlags,
    'min-members': Flags.integer({
      summary: 'Fewest other agents the agent must see alive; fewer means it is cut off from its cluster (exit 4). 0 for a one-agent cluster',
      env: 'EDGEPROXY_CORROSION_MIN_MEMBERS',
      default: 1,
      min: 0,
      helpValue: 'N',
    }),
  }

  async run(): Promise<CorrosionStatusResult> {
    const {flags} = await this.parse(CorrosionStatus)
    const client = new CorrosionClient({url: parseHttpUrl(flags['api-url'], this.sourceOf('api-url', 'EDGEPROXY_CORROSION_API_URL'), DEFAULT_CORROSION_URL), token: flags.token, urlFlag: '--api-url', tokenFlag: '--token'})
    let result: CorrosionStatusResult
    try {
      result = await corrosionStatus(client, {}, {minMembers: flags['min-members']})
    } finally {
      await client.close()
    }
    this.log(render(result))
    if (!result.isHealthy) throw new CorrosionNotHealthyError(result)
    this.log(chalk.green('Corrosion is healthy'))
    return result
  }
}

/** The agent answered `corrosion status` with problems: one error, every problem on its own line, the status attached. */
export class CorrosionNotHealthyError extends EdgeproxyError {
  constructor(readonly status: CorrosionStatusResult) {
    const [code, suggestion] = !status.isReachable
      ? ['EP_CORROSION_UNAVAILABLE', 'start the agent (systemctl start corrosion) or pass --api-url with its api.addr']
      : status.auth === 'refused'
        ? ['EP_CORROSION_AUTH', "pass the agent's api.authz.bearer-token with --token or EDGEPROXY_CORROSION_TOKEN"]
        : status.health?.state === 'unhealthy'
          ? ['EP_CORROSION_UNHEALTHY', 'check the agent (journalctl -u corrosion) and its peers; run this again once it has caught up']
          : status.members !== null && status.members < status.minMembers
            ? ['EP_CORROSION_UNHEALTHY', "check the agent's gossip (journalctl -u corrosion, the firewall's gossip rule, gossip.bootstrap); --min-members 0 for a one-agent cluster"]
            : ['EP_CORROSION_SCHEMA_MISMATCH', 'run edgeproxy corrosion init-schema with the agent\'s schema directory']
    const exit = status.exitCode === ExitCode.invalid ? ExitCode.invalid : ExitCode.unavailable
    super(code, `Corrosion at ${status.url} is not healthy:\n${status.problems.map((p) => `  - ${p}`).join('\n')}`, exit, {suggestion})
  }

  override toJSON(): ReturnType<EdgeproxyError['toJSON']> & {status: CorrosionStatusResult} {
    return {...super.toJSON(), status: this.status}
  }
}

function render(r: CorrosionStatusResult): string {
  const ok = (text: string): Cell => ({text, style: chalk.green})
  const bad = (text: string): Cell => ({text, style: chalk.red})
  const warn = (text: string): Cell => ({text, style: chalk.yellow})
  const health = r.health
  const healthText: Cell = !health
    ? '-'
    : health.state === 'healthy'
      ? ok(`healthy (p99 lag ${health.p99LagSecs?.toFixed(3)} s)`)
      : health.state === 'idle'
        ? ok('idle (no replication in the last 120 s)')
        : health.state === 'unsupported'
          ? warn('not available on this agent')
          : bad(`unhealthy (${health.status}${health.error ? `: ${health.error}` : ''})`)
  const schema = r.schema
  const schemaText: Cell = !r.isReachable || r.auth === 'refused'
    ? '-'
    : schema.error
      ? bad(schema.error)
      : !schema.isPresent
        ? bad('no backends table')
        : !schema.isCrr
          ? bad('backends is not replicated')
          : schema.missingColumns.length > 0
            ? bad(`missing ${schema.missingColumns.join(', ')}`)
            : ok('backends ok')
  return renderFields([
    ['agent', r.url],
    ['reachable', r.isReachable ? ok('yes') : bad('no')],
    ['auth', r.auth === 'refused' ? bad('token refused') : r.auth === 'accepted' ? ok('token accepted') : r.auth === 'open' ? 'no token (agent is open)' : '-'],
    ['health', healthText],
    ['members', r.members === null ? '-' : r.members < r.minMembers ? bad(`${r.members} (fewer than ${r.minMembers})`) : String(r.members)],
    ['gaps', r.gaps === null ? '-' : r.gaps > 0 ? warn(String(r.gaps)) : String(r.gaps)],
    ['backends', r.backends.rowCount === null ? (r.backends.error ? bad(r.backends.error) : '-') : String(r.backends.rowCount)],
    ['schema', schemaText],
  ])
}
