import {Args} from '@oclif/core'

import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import {colourState} from '../../src/cli/backend-view.js'
import type {BackendJson} from '../../src/index.js'

export default class BackendDisable extends BackendCommand {
  static override summary = 'Take a backend out of service (no new connections; it stays registered)'
  static override description = "Sets healthy = 0, like HAProxy's maint state; open connections continue. Undo with edgeproxy backend enable."
  static override examples = ['<%= config.bin %> backend disable sa-node-1', '<%= config.bin %> backend disable sa-node-1 --db ./routing.db']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Backend id', required: true})}
  static override flags = {...storeFlags}

  async run(): Promise<{backend: BackendJson}> {
    const {args, flags} = await this.parse(BackendDisable)
    const backend = await (await this.client(flags)).change(args.id, {kind: 'disable'})
    this.log(`${backend.id}: ${colourState(backend.state)}`)
    return {backend}
  }
}
