import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {rawFlags, settingFlags} from '../../src/cli/setting-flags.js'
import {anycastSettings, resolveAnycastConfig, withdraw, type WithdrawResult} from '../../src/anycast/index.js'

export default class AnycastWithdraw extends BaseCommand {
  static override summary = 'Withdraw the anycast route now (BIRD and its sessions stay up)'
  static override description = `Sets the gate to withdrawn and runs birdc configure. edgeproxy-anycast.service runs it after the watcher stops or crashes (ExecStopPost). Without --hold a running watcher announces again once the POP passes its probes; with --hold the maintenance file keeps the route withdrawn across restarts until anycast resume. For planned work prefer anycast drain, which moves traffic first. When BIRD is not running it only writes the gate (nothing is announced then) and exits 0.`

  static override examples = ['<%= config.bin %> anycast withdraw', '<%= config.bin %> anycast withdraw --hold']

  static override enableJsonFlag = true
  static override flags = {
    hold: Flags.boolean({default: false, summary: 'Keep it withdrawn (maintenance file) until anycast resume'}),
    ...settingFlags(anycastSettings('gateFile', 'maintenanceFile', 'birdSocket', 'birdc')),
  }

  async run(): Promise<WithdrawResult> {
    const {flags} = await this.parse(AnycastWithdraw)
    const result = await withdraw(resolveAnycastConfig(rawFlags(flags), process.env), {hold: flags.hold})
    this.log(`Withdrawn${result.isChanged ? '' : ' (it already was)'}.${result.isHeld ? ' Held by the maintenance file until `edgeproxy anycast resume`.' : ''}`)
    if (result.bird.note) this.log(result.bird.note)
    return result
  }
}
