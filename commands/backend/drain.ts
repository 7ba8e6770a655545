import {Args} from '@oclif/core'

import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import {colourState} from '../../src/cli/backend-view.js'
import type {BackendJson} from '../../src/index.js'

export default class BackendDrain extends BackendCommand {
  static override summary = 'Drain a backend: no new connections, open ones continue'
  static override description = "Like HAProxy's drain state: the backend keeps its open connections and affinity bindings move elsewhere. Undo with edgeproxy backend enable."
  static override examples = ['<%= config.bin %> backend drain sa-node-1', '<%= config.bin %> backend drain sa-node-1 --db ./routing.db']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Backend id', required: true})}
  static override flags = {...storeFlags}

  async run(): Promise<{backend: BackendJson}> {
    const {args, flags} = await this.parse(BackendDrain)
    const backend = await (await this.client(flags)).change(args.id, {kind: 'drain'})
    this.log(`${backend.id}: ${colourState(backend.state)}`)
    return {backend}
  }
}
