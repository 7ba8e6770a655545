import chalk from 'chalk'
import Table from 'cli-table3'

import {BaseCommand} from '../../src/cli/base-command.js'
import {corrosionAgentFlags} from '../../src/cli/corrosion-flags.js'
import {corrosionStatus, CorrosionClient, type CorrosionStatusResult} from '../../src/corrosion/index.js'

export default class CorrosionStatus extends BaseCommand {
  static override summary = 'Check the local Corrosion agent: reachability, auth, health, members, gaps, backends and schema'
  static override description = `Exits 0 when the agent answers, accepts the token, is not unhealthy and has the backends table with every column, replicated. A quiet cluster's 503 "no p99 lag information available" is reported as idle, not down. Exits 3 when the operator must fix something (token, schema) and 4 when the agent is down or unhealthy.`

  static override examples = [
    {description: 'Human summary', command: '<%= config.bin %> corrosion status'},
    {description: 'For monitoring', command: '<%= config.bin %> corrosion status --json'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...corrosionAgentFlags,
  }

  async run(): Promise<CorrosionStatusResult> {
    const {flags} = await this.parse(CorrosionStatus)
    const client = new CorrosionClient({url: flags['api-url'], token: flags.token, urlFlag: '--api-url', tokenFlag: '--token'})
    let result: CorrosionStatusResult
    try {
      result = await corrosionStatus(client)
    } finally {
      await client.close()
    }
    process.exitCode = result.exitCode
    if (!this.jsonEnabled()) this.log(render(result))
    return result
  }
}

function render(r: CorrosionStatusResult): string {
  const ok = (s: string) => chalk.green(s)
  const bad = (s: string) => chalk.red(s)
  const warn = (s: string) => chalk.yellow(s)
  const table = new Table({style: {head: [], border: []}})
  const health = r.health
  const healthText = !health
    ? '-'
    : health.state === 'healthy'
      ? ok(`healthy (p99 lag ${health.p99LagSecs?.toFixed(3)} s)`)
      : health.state === 'idle'
        ? ok('idle (no replication in the last 120 s)')
        : health.state === 'unsupported'
          ? warn('not available on this agent')
          : bad(`unhealthy (${health.status}${health.error ? `: ${health.error}` : ''})`)
  const schema = r.schema
  const schemaText = !r.isReachable || r.auth === 'refused'
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
  table.push(
    {agent: r.url},
    {reachable: r.isReachable ? ok('yes') : bad('no')},
    {auth: r.auth === 'refused' ? bad('token refused') : r.auth === 'accepted' ? ok('token accepted') : r.auth === 'open' ? 'no token (agent is open)' : '-'},
    {health: healthText},
    {members: r.members === null ? '-' : String(r.members)},
    {gaps: r.gaps === null ? '-' : r.gaps > 0 ? warn(String(r.gaps)) : String(r.gaps)},
    {backends: r.backends.rowCount === null ? (r.backends.error ? bad(r.backends.error) : '-') : String(r.backends.rowCount)},
    {schema: schemaText},
  )
  const lines = [table.toString(), r.isHealthy ? ok('Corrosion is healthy') : bad('Corrosion is not healthy:')]
  for (const p of r.problems) lines.push(`  - ${p}`)
  return lines.join('\n')
}
