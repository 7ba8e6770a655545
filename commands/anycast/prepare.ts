import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {rawFlags, settingFlags} from '../../src/cli/setting-flags.js'
import {anycastSettings, prepare, resolveAnycastConfig, type PrepareResult} from '../../src/anycast/index.js'

export default class AnycastPrepare extends BaseCommand {
  static override summary = "Before BIRD starts: gate withdrawn, BGP passwords from the environment into BIRD's include"
  static override description = `Run by edgeproxy-anycast-setup.service before every start of BIRD (as root, with the 0600 bgp-passwords.env as EnvironmentFile). Writes the gate withdrawn, so BIRD never starts announcing on its own, and the value of each --password-env variable as a BIRD constant to --bird-passwords-file (0640, the group of its directory: bird on Debian). bird.conf names the constants; the values are never in it. Fails (exit 3) naming the variable when one is missing, empty or unusable, so BIRD does not start with a session it cannot authenticate.`

  static override examples = ['<%= config.bin %> anycast prepare --password-env EDGEPROXY_BGP_PASSWORD']

  static override enableJsonFlag = true
  static override flags = {
    'password-env': Flags.string({multiple: true, summary: 'Variable holding a BGP password (repeat for each)', helpValue: 'NAME'}),
    ...settingFlags(anycastSettings('gateFile', 'maintenanceFile', 'birdPasswordsFile')),
  }

  async run(): Promise<PrepareResult> {
    const {flags} = await this.parse(AnycastPrepare)
    const result = prepare(resolveAnycastConfig(rawFlags(flags), process.env), flags['password-env'] ?? [], process.env)
    this.log(`Gate ${result.gateFile}: withdrawn.`)
    if (result.passwordsFile) this.log(`BGP passwords ${result.passwords.join(', ')} → ${result.passwordsFile}.`)
    return result
  }
}
