import {Args} from '@oclif/core'

import {setWeight} from '../../src/cli/backend-actions.js'
import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import type {BackendJson} from '../../src/discovery/backend-json.js'

export default class BackendSetWeight extends BackendCommand {
  static override summary = "Change a backend's weight (its share of new connections within its tier)"
  static override description = 'Weight divides the load factor in the score, so a backend of weight 4 takes about twice the connections of one of weight 2 at the same load. 0 counts as 1.'
  static override examples = ['<%= config.bin %> backend set-weight sa-node-1 5']
  static override enableJsonFlag = true
  static override args = {
    id: Args.string({description: 'Backend id', required: true}),
    weight: Args.string({description: 'New weight, 0-1000', required: true}),
  }
  static override flags = {...storeFlags}

  async run(): Promise<{backend: BackendJson}> {
    const {args, flags} = await this.parse(BackendSetWeight)
    return setWeight(await this.client(flags), args.id, args.weight, this.io())
  }
}
