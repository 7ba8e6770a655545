import {Args} from '@oclif/core'

import {deregisterBackend} from '../../src/cli/backend-actions.js'
import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import type {BackendJson} from '../../src/discovery/backend-json.js'

export default class BackendDeregister extends BackendCommand {
  static override summary = 'Remove a backend: its row is deleted from the routing store (Corrosion replicates the delete)'
  static override description = 'New connections stop going to it at once on this POP (and on every POP once the store replicates); open connections continue. Afterwards every command reports the id as not found; registering it again adds it anew.'
  static override examples = ['<%= config.bin %> backend deregister sa-node-1']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Backend id', required: true})}
  static override flags = {...storeFlags}

  async run(): Promise<{backend: BackendJson; deregistered: true}> {
    const {args, flags} = await this.parse(BackendDeregister)
    return deregisterBackend(await this.client(flags), args.id, this.io())
  }
}
