// drain, enable and disable are one command shape with a different state change: built here once.
import {Args} from '@oclif/core'

import type {BackendJson} from '../discovery/backend-json.js'
import {changeState} from './backend-actions.js'
import {BackendCommand, storeFlags} from './backend-command.js'

export function stateCommand(kind: 'drain' | 'enable' | 'disable', summary: string, description: string) {
  const args = {id: Args.string({description: 'Backend id', required: true})}
  return class extends BackendCommand {
    static override summary = summary
    static override description = description
    static override examples = [`<%= config.bin %> backend ${kind} sa-node-1`, `<%= config.bin %> backend ${kind} sa-node-1 --db ./routing.db`]
    static override enableJsonFlag = true
    static override args = args
    static override flags = storeFlags

    async run(): Promise<{backend: BackendJson}> {
      const parsed = await this.parse({args, flags: storeFlags, enableJsonFlag: true})
      return changeState(await this.client(parsed.flags), parsed.args.id, kind, this.io())
    }
  }
}
