// Runs one emulated Corrosion agent by hand:
//   node --import tsx test/support/corrosion-emulator/cli.ts --api 127.0.0.1:8090 --db /tmp/c.db \
//     --schema-dir DIR [--token T] [--admin-socket PATH] [--migrations]
// SIGINT/SIGTERM stop it; SIGHUP reloads the schema files like `corrosion reload`.
import {parseArgs} from 'node:util'

import {startEmulator} from './index.js'

const {values} = parseArgs({
  options: {
    api: {type: 'string', default: '127.0.0.1:8090'},
    db: {type: 'string'},
    'schema-dir': {type: 'string', multiple: true},
    token: {type: 'string'},
    'admin-socket': {type: 'string'},
    migrations: {type: 'boolean', default: false},
    'flush-ms': {type: 'string'},
    help: {type: 'boolean', short: 'h'},
  },
})

if (values.help) {
  process.stdout.write(
    'usage: cli.ts --api HOST:PORT --db FILE --schema-dir DIR [--token T] [--admin-socket PATH] [--migrations] [--flush-ms N]\n',
  )
  process.exit(0)
}

const agent = await startEmulator({
  api: values.api,
  dbPath: values.db,
  schemaPaths: values['schema-dir'] ?? [],
  token: values.token,
  adminSocket: values['admin-socket'],
  migrations: values.migrations,
  ...(values['flush-ms'] ? {flushDelayMs: Number(values['flush-ms'])} : {}),
  log: (line) => process.stderr.write(`${line}\n`),
})
process.stderr.write(
  `corrosion emulator listening on ${agent.url} (db ${agent.dbPath}${values['admin-socket'] ? `, admin ${values['admin-socket']}` : ''}${values.migrations ? ', /v1/migrations on' : ''})\n`,
)
process.on('SIGHUP', () => {
  const r = agent.reload()
  process.stderr.write(r.ok ? 'schema reloaded\n' : `schema reload failed: ${r.error}\n`)
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void agent.stop().then(() => process.exit(0))
  })
}
