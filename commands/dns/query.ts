import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {dnsQueryView} from '../../src/cli/dns-view.js'
// The client only, not the engine (src/index.ts): this command starts as fast as the CLI can.
import {DEFAULT_DNS_SERVER, parseDnsServer, queryDns, QUERY_TYPES, type DnsQueryResult, type QueryType} from '../../src/dns/dns-client.js'
import {InvalidInputError} from '../../src/errors.js'

export default class DnsQuery extends BaseCommand {
  static override summary = "Ask a POP's internal DNS a question, like fly dig: rcode, flags, TTLs and every section"
  static override description =
    'Sends one query (with EDNS0) over UDP and retries over TCP when the answer is truncated, as a resolver would. Names are <app>.internal, global.<app>.internal, <region>.<app>.internal, top<N>.nearest.of.<app>.internal, <id>.vm.<app>.internal, _<app>._tcp.internal (SRV), _apps.internal, regions.<app>.internal and vms.<app>.internal (TXT). An NXDOMAIN or REFUSED answer is a result (exit 0); no answer at all exits 4.'
  static override examples = [
    '<%= config.bin %> dns query myapp.internal',
    '<%= config.bin %> dns query top1.nearest.of.myapp.internal --type AAAA',
    '<%= config.bin %> dns query _myapp._tcp.internal --type SRV --server [fd57:a312:81a3:1::3]:5353 --json',
  ]
  static override enableJsonFlag = true
  static override args = {name: Args.string({description: 'Name to look up, e.g. myapp.internal', required: true})}
  static override flags = {
    type: Flags.string({summary: 'Record type', options: [...QUERY_TYPES], default: 'A'}),
    server: Flags.string({summary: `DNS server, IP[:port] [default: ${DEFAULT_DNS_SERVER}]`, env: 'EDGEPROXY_DNS_SERVER', helpValue: 'ADDR'}),
    tcp: Flags.boolean({summary: 'Ask over TCP only'}),
  }

  async run(): Promise<DnsQueryResult> {
    const {args, flags} = await this.parse(DnsQuery)
    let server
    try {
      server = parseDnsServer(flags.server ?? DEFAULT_DNS_SERVER)
    } catch (error) {
      throw new InvalidInputError('EP_INVALID_SERVER', (error as Error).message, {field: '--server', suggestion: 'pass --server 127.0.0.1:5353 (or set EDGEPROXY_DNS_SERVER)'})
    }
    const name = args.name.trim().replace(/\.$/, '')
    if (name === '' || name.length > 253 || name.split('.').some((l) => l === '' || Buffer.byteLength(l) > 63)) {
      throw new InvalidInputError('EP_INVALID_NAME', `${JSON.stringify(args.name)} is not a DNS name (labels of 1-63 bytes, 253 in all)`, {
        field: 'name',
        suggestion: 'ask for a name such as myapp.internal',
      })
    }
    const result = await queryDns({server, name, type: flags.type as QueryType, isTcp: flags.tcp})
    this.log(dnsQueryView(result))
    return result
  }
}
