import {Args} from '@oclif/core'

import {getBackend} from '../../src/cli/backend-actions.js'
import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import type {BackendJson} from '../../src/discovery/backend-json.js'

export default class BackendGet extends BackendCommand {
  static override summary = 'Show one backend: state, limits, live connections, lease and heartbeat age'
  static override examples = ['<%= config.bin %> backend get sa-node-1', '<%= config.bin %> backend get sa-node-1 --json']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Backend id', required: true})}
  static override flags = {...storeFlags}

  async run(): Promise<{backend: BackendJson}> {
    const {args, flags} = await this.parse(BackendGet)
    return getBackend(await this.client(flags), args.id, this.io())
  }
}
