import {Args, Flags} from '@oclif/core'

import {explainRoute} from '../../src/cli/backend-actions.js'
import {apiFlags, BackendCommand} from '../../src/cli/backend-command.js'
import type {RouteExplanation} from '../../src/discovery/backend-client.js'

export default class RouteExplain extends BackendCommand {
  static override summary = 'Explain which backend a client at IP would get from the running proxy, and why'
  static override description =
    "Asks the proxy (GET /api/v1/route) and prints every candidate with its geo score, load factor, weight and final score, and why any is skipped (unhealthy, expired, draining, DOWN by active check with the error, circuit open or half-open, cooling down after a failed connect, at hard limit). It also shows the client's admission: its key (the address, or its /64 for IPv6), the tokens left in its bucket and its open connections (GET /api/v1/limits/IP). It reads the proxy's live state and changes nothing: no binding is made or refreshed."
  static override examples = ['<%= config.bin %> route explain 90.0.0.1', '<%= config.bin %> route explain 90.0.0.1 --app web', '<%= config.bin %> route explain 2a01:e0a::1 --json']
  static override enableJsonFlag = true
  static override args = {ip: Args.string({description: 'Client IP address (IPv4 or IPv6)', required: true})}
  static override flags = {
    ...apiFlags,
    app: Flags.string({summary: "Decide among this app's backends only (a POP without EDGEPROXY_APP routes every app's)", helpValue: 'APP'}),
  }

  async run(): Promise<RouteExplanation> {
    const {args, flags} = await this.parse(RouteExplain)
    return explainRoute(this.apiClient(flags), args.ip, this.io(), flags.app)
  }
}
