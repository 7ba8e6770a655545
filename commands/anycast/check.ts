import chalk from 'chalk'

import {BaseCommand} from '../../src/cli/base-command.js'
import {rawFlags, settingFlags} from '../../src/cli/setting-flags.js'
import {anycastSettings, check, resolveAnycastConfig, type CheckResult} from '../../src/anycast/index.js'

export default class AnycastCheck extends BaseCommand {
  static override summary = 'Probe once, as the watcher does: exit 0 when this POP may announce, 1 when not'
  static override description = `One round of the watcher's probes: a TCP connect to each --probe address, /health ok or degraded, at least one routable backend. No hysteresis, no gate change. Exit 0 means announce and 1 means do not, so other health checkers (anycast-healthchecker, birdwatcher, ExaBGP's healthcheck) can run it; 3 is a bad setting.`

  static override examples = [
    '<%= config.bin %> anycast check',
    '<%= config.bin %> anycast check --probe 198.51.100.10:8080 --health-url http://10.50.1.1:8081/health --json',
  ]

  static override enableJsonFlag = true
  static override flags = settingFlags(anycastSettings('probe', 'healthUrl', 'timeoutSecs'))

  async run(): Promise<CheckResult> {
    const {flags} = await this.parse(AnycastCheck)
    const result = await check(resolveAnycastConfig(rawFlags(flags), process.env))
    for (const p of result.report.probes) this.log(`${p.isOk ? chalk.green('ok  ') : chalk.red('FAIL')}  ${p.kind.padEnd(8)}  ${p.target}  ${p.detail} (${p.ms} ms)`)
    this.log(result.isOk ? chalk.green('announce: every probe passed') : chalk.red(`do not announce: ${result.report.reason}`))
    process.exitCode = result.isOk ? 0 : 1
    return result
  }
}
