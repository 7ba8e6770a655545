import {Args} from '@oclif/core'

import {checkBackend} from '../../src/cli/backend-actions.js'
import {apiFlags, BackendCommand} from '../../src/cli/backend-command.js'
import type {CheckNowResult} from '../../src/discovery/backend-client.js'

export default class BackendCheck extends BackendCommand {
  static override summary = "Run one active health check of a backend now, from the running proxy (exit 0 passed, 1 failed)"
  static override description =
    "The proxy checks the backend the way its scheduled checks do (type, check port and path: the backend's overrides, else EDGEPROXY_HEALTH_CHECK_*), over a fresh connection, and reports the result, its latency and the error. It changes nothing: the backend's UP/DOWN state only follows scheduled checks and client traffic. Works whether or not EDGEPROXY_HEALTH_CHECK_ENABLED is on."
  static override examples = ['<%= config.bin %> backend check sa-node-1', '<%= config.bin %> backend check sa-node-1 --json']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Backend id', required: true})}
  static override flags = {...apiFlags}

  async run(): Promise<CheckNowResult> {
    const {args, flags} = await this.parse(BackendCheck)
    return checkBackend(this.apiClient(flags), args.id, this.io())
  }
}
