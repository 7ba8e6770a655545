import {Flags} from '@oclif/core'

import {REGIONS} from '../../src/balancer/regions.js'
import {listBackends} from '../../src/cli/backend-actions.js'
import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import type {BackendJson} from '../../src/discovery/backend-json.js'
import {BACKEND_STATES} from '../../src/discovery/validation.js'

export default class BackendList extends BackendCommand {
  static override summary = 'List backends with their state, live connections and heartbeat age'
  static override description =
    'States: healthy (takes connections), expired (lease ran out: no heartbeat within EDGEPROXY_HEARTBEAT_TTL_SECS), unhealthy (disabled), draining. Deregistered backends are gone from the store and not listed. CONN is the live connection count on the POP that answered.'
  static override examples = [
    '<%= config.bin %> backend list',
    '<%= config.bin %> backend list --app myapp --state expired',
    '<%= config.bin %> backend list --json | jq ".backends[] | select(.state != \\"healthy\\") | .id"',
  ]
  static override enableJsonFlag = true
  static override flags = {
    app: Flags.string({summary: 'Only this app', helpValue: 'APP'}),
    region: Flags.string({summary: 'Only this region', options: [...REGIONS]}),
    state: Flags.string({summary: 'Only backends in this state', options: [...BACKEND_STATES]}),
    ...storeFlags,
  }

  async run(): Promise<{backends: BackendJson[]}> {
    const {flags} = await this.parse(BackendList)
    return listBackends(await this.client(flags), {app: flags.app, region: flags.region, state: flags.state}, this.io())
  }
}
