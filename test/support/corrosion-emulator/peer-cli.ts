// Runs one emulated Corrosion agent that replicates to agents in other processes over HTTP:
//   node --import tsx test/support/corrosion-emulator/peer-cli.ts --api 127.0.0.1:8090 --db /tmp/c.db \
//     --schema-dir DIR --gossip 10.50.1.1:4001 --peer http://10.50.2.1:4001 --peer http://10.50.3.1:4001 [--token T]
// --gossip is where this agent takes changes from its peers (HTTP standing in for QUIC gossip), so
// a test chooses the path replication takes, e.g. WireGuard addresses. Prints one line on stderr
// once both listeners are up. SIGINT/SIGTERM stop it; SIGHUP reloads the schema files.
import {parseArgs} from 'node:util'

import {splitHostPort} from './agent.js'
import {HttpClusterLink} from './http-link.js'
import {startEmulator} from './index.js'

const {values} = parseArgs({
  options: {
    api: {type: 'string', default: '127.0.0.1:8090'},
    db: {type: 'string'},
    'schema-dir': {type: 'string', multiple: true},
    token: {type: 'string'},
    gossip: {type: 'string'},
    peer: {type: 'string', multiple: true},
    help: {type: 'boolean', short: 'h'},
  },
})

if (values.help || values.gossip === undefined) {
  process.stdout.write('usage: peer-cli.ts --api HOST:PORT --db FILE --schema-dir DIR --gossip HOST:PORT [--peer URL]... [--token T]\n')
  process.exit(values.help ? 0 : 2)
}

const log = (line: string) => process.stderr.write(`${line}\n`)
const agent = await startEmulator({api: values.api, dbPath: values.db, schemaPaths: values['schema-dir'] ?? [], token: values.token, log})
const [host, port] = splitHostPort(values.gossip)
const link = await new HttpClusterLink(agent, {listen: {host, port}, peers: values.peer ?? [], log}).start()
log(`corrosion emulator listening on ${agent.url}, replicating on ${values.gossip} to ${(values.peer ?? []).join(', ') || 'no peers'}`)
process.on('SIGHUP', () => {
  const r = agent.reload()
  log(r.ok ? 'schema reloaded' : `schema reload failed: ${r.error}`)
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void link
      .close()
      .then(() => agent.stop())
      .then(() => process.exit(0))
  })
}
