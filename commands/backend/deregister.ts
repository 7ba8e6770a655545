import {Args} from '@oclif/core'

import {deregisterBackend} from '../../src/cli/backend-actions.js'
import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import type {BackendJson} from '../../src/discovery/backend-json.js'

export default class BackendDeregister extends BackendCommand {
  static override summary = 'Remove a backend from routing (kept as a deleted tombstone so the removal replicates)'
  static override description = 'New connections stop going to it at once on this POP (and on every POP once the store replicates); open connections continue. Registering the same id again brings it back.'
  static override examples = ['<%= config.bin %> backend deregister sa-node-1']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Backend id', required: true})}
  static override flags = {...storeFlags}

  async run(): Promise<{backend: BackendJson; deregistered: true}> {
    const {args, flags} = await this.parse(BackendDeregister)
    return deregisterBackend(await this.client(flags), args.id, this.io())
  }
}
