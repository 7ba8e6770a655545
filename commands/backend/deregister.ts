import {Args} from '@oclif/core'

import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import type {BackendJson} from '../../src/index.js'

export default class BackendDeregister extends BackendCommand {
  static override summary = 'Remove a backend from routing (kept as a deleted tombstone so the removal replicates)'
  static override description = 'New connections stop going to it at once on this POP (and on every POP once the store replicates); open connections continue. Registering the same id again brings it back.'
  static override examples = ['<%= config.bin %> backend deregister sa-node-1']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Backend id', required: true})}
  static override flags = {...storeFlags}

  async run(): Promise<{backend: BackendJson; deregistered: true}> {
    const {args, flags} = await this.parse(BackendDeregister)
    const backend = await (await this.client(flags)).deregister(args.id)
    this.log(`${backend.id}: deregistered`)
    return {backend, deregistered: true}
  }
}
