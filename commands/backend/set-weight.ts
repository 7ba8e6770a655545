import {Args} from '@oclif/core'

import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import type {BackendJson} from '../../src/index.js'

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
    const weight: number = /^-?\d+$/.test(args.weight.trim()) ? Number(args.weight) : (args.weight as unknown as number)
    const backend = await (await this.client(flags)).change(args.id, {kind: 'weight', weight})
    this.log(`${backend.id}: weight ${backend.weight}`)
    return {backend}
  }
}
