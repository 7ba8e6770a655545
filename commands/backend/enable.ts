import {Args} from '@oclif/core'

import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import {colourState} from '../../src/cli/backend-view.js'
import type {BackendJson} from '../../src/index.js'

export default class BackendEnable extends BackendCommand {
  static override summary = 'Put a backend back in service (clears disable and drain)'
  static override description = "Sets healthy = 1 and draining = 0."
  static override examples = ['<%= config.bin %> backend enable sa-node-1', '<%= config.bin %> backend enable sa-node-1 --db ./routing.db']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Backend id', required: true})}
  static override flags = {...storeFlags}

  async run(): Promise<{backend: BackendJson}> {
    const {args, flags} = await this.parse(BackendEnable)
    const backend = await (await this.client(flags)).change(args.id, {kind: 'enable'})
    this.log(`${backend.id}: ${colourState(backend.state)}`)
    return {backend}
  }
}
