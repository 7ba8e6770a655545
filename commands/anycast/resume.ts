import {BaseCommand} from '../../src/cli/base-command.js'
import {rawFlags, settingFlags} from '../../src/cli/setting-flags.js'
import {anycastSettings, resolveAnycastConfig, resume, type ResumeResult} from '../../src/anycast/index.js'

export default class AnycastResume extends BaseCommand {
  static override summary = 'End a drain or a held withdraw: the watcher announces again once the POP passes its probes'
  static override description = 'Removes the maintenance file. The gate itself is the watcher\'s to open, after its probes pass; without a running watcher nothing is announced.'
  static override examples = ['<%= config.bin %> anycast resume']

  static override enableJsonFlag = true
  static override flags = settingFlags(anycastSettings('maintenanceFile', 'statusFile'))

  async run(): Promise<ResumeResult> {
    const {flags} = await this.parse(AnycastResume)
    const result = resume(resolveAnycastConfig(rawFlags(flags), process.env))
    this.log(result.wasHeld ? `Removed ${result.maintenanceFile}.` : `No maintenance file (${result.maintenanceFile}): nothing held the route.`)
    this.log(result.isWatcherRunning ? 'The watcher announces on its next probe if the POP is up.' : 'No watcher is running: start edgeproxy-anycast to announce.')
    return result
  }
}
