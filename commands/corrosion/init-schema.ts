import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {corrosionAgentFlags, DEFAULT_CORROSION_URL} from '../../src/cli/corrosion-flags.js'
import {parseHttpUrl} from '../../src/cli/url.js'
import {CorrosionClient, DEFAULT_ADMIN_SOCKET, initSchema, type InitSchemaResult} from '../../src/corrosion/index.js'

export default class CorrosionInitSchema extends BaseCommand {
  static override summary = 'Write the backends table into the Corrosion schema directory and apply it'
  static override description = `Writes backends.sql (the same columns as the SQLite store, in the form Corrosion accepts) into --schema-dir, then applies it: POST /v1/migrations on agents that still have it (up to v1.0.1), else Reload over the admin socket, else \`corrosion reload\` when that binary is on PATH. It then checks through /v1/queries that every column exists and that backends__crsql_clock exists (the table replicates). Running it again changes nothing; a newer edgeproxy only appends columns. A schema the agent would refuse is refused before anything is sent, naming the rule. --schema-dir must be one of the agent's db.schema_paths.`

  static override examples = [
    {description: 'Apply the schema on this host\'s agent', command: '<%= config.bin %> corrosion init-schema --schema-dir /etc/corrosion/schema'},
    {
      description: 'An agent with a token and a non-default admin socket, JSON output',
      command: 'EDGEPROXY_CORROSION_TOKEN=$(cat /etc/corrosion/token) <%= config.bin %> corrosion init-schema --admin-socket /run/corrosion/admin.sock --json',
    },
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...corrosionAgentFlags,
    'schema-dir': Flags.string({
      summary: 'A directory in the agent\'s db.schema_paths [env: EDGEPROXY_CORROSION_SCHEMA_DIR] [default: /etc/corrosion/schema]',
      env: 'EDGEPROXY_CORROSION_SCHEMA_DIR',
      default: '/etc/corrosion/schema',
      helpValue: 'DIR',
    }),
    'admin-socket': Flags.string({
      summary: `The agent's admin.path, for Reload [env: EDGEPROXY_CORROSION_ADMIN_SOCKET] [default: ${DEFAULT_ADMIN_SOCKET} if it exists]`,
      env: 'EDGEPROXY_CORROSION_ADMIN_SOCKET',
      helpValue: 'PATH',
    }),
  }

  async run(): Promise<InitSchemaResult> {
    const {flags} = await this.parse(CorrosionInitSchema)
    const client = new CorrosionClient({url: parseHttpUrl(flags['api-url'], this.sourceOf('api-url', 'EDGEPROXY_CORROSION_API_URL'), DEFAULT_CORROSION_URL), token: flags.token, urlFlag: '--api-url', tokenFlag: '--token'})
    const isTty = process.stderr.isTTY && !this.jsonEnabled()
    try {
      const result = await initSchema({
        client,
        schemaDir: flags['schema-dir'],
        adminSocket: flags['admin-socket'],
        onProgress: (line) => {
          if (isTty) process.stderr.write(`${line}\n`)
        },
      })
      if (result.method === 'already-applied') {
        this.log(`${result.table} is up to date on ${client.url} (${result.columns.length} columns, replicated)`)
      } else {
        const what = result.isNewTable ? 'created' : `added ${result.addedColumns.join(', ')} to`
        this.log(`${what} ${result.table} on ${client.url} via ${result.method} (${result.columns.length} columns, replicated)`)
      }
      if (result.isFileWritten) this.log(`wrote ${result.file}`)
      return result
    } finally {
      await client.close()
    }
  }
}
