import {BaseCommand} from '../../src/cli/base-command.js'
import {rawFlags, settingFlags} from '../../src/cli/setting-flags.js'
import {anycastSettings, drain, resolveAnycastConfig, type DrainResult} from '../../src/anycast/index.js'

export default class AnycastDrain extends BaseCommand {
  static override summary = 'Move traffic away from this POP before withdrawing its anycast route, and keep it withdrawn'
  static override description = `Writes the maintenance file, then tags the route with the graceful-shutdown community 65535:0 and one more copy of our AS for --secs (peers that honour RFC 8326 prefer other POPs at once, so new connections go there while the open ones continue), then withdraws. The maintenance file keeps the route withdrawn across restarts of the watcher, BIRD or the host, until anycast resume. A route that was not announced is simply kept withdrawn. The proxy keeps running: stop it once its connections are gone.`

  static override examples = [
    {description: 'Drain for the topology default (anycast.env)', command: '<%= config.bin %> anycast drain'},
    {description: 'Drain for two minutes, then stop the proxy', command: '<%= config.bin %> anycast drain --secs 120 && systemctl stop edgeproxy'},
  ]

  static override enableJsonFlag = true
  static override flags = settingFlags(anycastSettings('drainSecs', 'gateFile', 'maintenanceFile', 'birdSocket', 'birdc'))

  async run(): Promise<DrainResult> {
    const {flags} = await this.parse(AnycastDrain)
    const config = resolveAnycastConfig(rawFlags(flags), process.env)
    const result = await drain(config, config.drainSecs, {
      onDraining: () => {
        if (!this.jsonEnabled()) this.logToStderr(`draining: 65535:0 and a prepend for ${config.drainSecs} s, then withdraw…`)
      },
    })
    this.log(
      result.wasAnnounced
        ? `Withdrawn after ${result.drainedSecs} s of draining.`
        : 'The route was not announced: it stays withdrawn.',
    )
    this.log(`It stays withdrawn until \`edgeproxy anycast resume\` (maintenance file ${result.maintenanceFile}).`)
    if (result.bird.note) this.log(result.bird.note)
    return result
  }
}
