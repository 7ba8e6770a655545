import {Args} from '@oclif/core'

import {apiFlags, BackendCommand} from '../../src/cli/backend-command.js'
import {routeTable} from '../../src/cli/backend-view.js'
import {ApiBackendClient, DEFAULT_API_URL, type RouteExplanation} from '../../src/index.js'

export default class RouteExplain extends BackendCommand {
  static override summary = 'Explain which backend a client at IP would get from the running proxy, and why'
  static override description =
    "Asks the proxy (GET /api/v1/route) and prints every candidate with its geo score, load factor, weight and final score, and why any is skipped (unhealthy, expired, draining, deleted, DOWN by active check with the error, circuit open or half-open, cooling down after a failed connect, at hard limit). It also shows the client's admission: its key (the address, or its /64 for IPv6), the tokens left in its bucket and its open connections (GET /api/v1/limits/IP). It reads the proxy's live state and changes nothing: no binding is made or refreshed."
  static override examples = ['<%= config.bin %> route explain 90.0.0.1', '<%= config.bin %> route explain 2a01:e0a::1 --json']
  static override enableJsonFlag = true
  static override args = {ip: Args.string({description: 'Client IP address (IPv4 or IPv6)', required: true})}
  static override flags = {...apiFlags}

  async run(): Promise<RouteExplanation> {
    const {args, flags} = await this.parse(RouteExplain)
    const client = new ApiBackendClient(flags['api-url'] ?? DEFAULT_API_URL, flags.token)
    const [route, limits] = await Promise.all([client.explain(args.ip), client.limits(args.ip)])
    const explanation = {...route, limits}
    this.log(routeTable(explanation))
    return explanation
  }
}
