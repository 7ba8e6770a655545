import chalk from 'chalk'

import {BaseCommand} from '../../src/cli/base-command.js'
import {renderTable} from '../../src/cli/table.js'
import {rawFlags, settingFlags} from '../../src/cli/setting-flags.js'
import {anycastSettings, resolveAnycastConfig, status, type StatusResult} from '../../src/anycast/index.js'

export default class AnycastStatus extends BaseCommand {
  static override summary = "Show the anycast gate, the watcher's last probes and BIRD's sessions and exported routes"
  static override description = `Reads the gate file, the maintenance file and the watcher's status file, and asks BIRD (birdc show protocols, show route export <peer> all) what each BGP session is doing and which prefixes it exports, with their communities (65535:0 while draining). Exit 0 even when withdrawn; 4 only when it cannot run at all.`

  static override examples = ['<%= config.bin %> anycast status', '<%= config.bin %> anycast status --json']

  static override enableJsonFlag = true
  static override flags = settingFlags(anycastSettings('gateFile', 'maintenanceFile', 'statusFile', 'birdSocket', 'birdc'))

  async run(): Promise<StatusResult> {
    const {flags} = await this.parse(AnycastStatus)
    const result = await status(resolveAnycastConfig(rawFlags(flags), process.env))
    if (!this.jsonEnabled()) this.log(render(result))
    return result
  }
}

function render(r: StatusResult): string {
  const phase = r.gate.phase
  const phaseText = phase === 'announced' ? chalk.green('announced') : phase === 'draining' ? chalk.yellow('draining (65535:0)') : phase === 'withdrawn' ? chalk.red('withdrawn') : chalk.red('missing or unreadable')
  const lines: string[] = [`gate         ${phaseText}  ${r.gate.file}`]
  if (r.maintenance) {
    const drainEnd = r.maintenance.drainUntilMs
    const until = drainEnd === undefined ? '' : `, ${drainEnd > Date.now() ? 'draining until' : 'drained, withdrawn since'} ${new Date(drainEnd).toISOString()}`
    lines.push(`maintenance  ${chalk.yellow(`held by ${r.maintenance.reason} since ${new Date(r.maintenance.sinceMs).toISOString()}${until}`)}  (edgeproxy anycast resume)`)
  } else lines.push('maintenance  none')
  const w = r.watcher
  if (!w) lines.push(`watcher      ${chalk.red('not running')} (systemctl start edgeproxy-anycast)`)
  else {
    lines.push(`watcher      pid ${w.pid}, POP ${w.isUp ? chalk.green('up') : chalk.red('down')} since ${w.since}, every ${w.check.intervalMs / 1000} s (rise ${w.check.rise}, fall ${w.check.fall})`)
    if (w.lastProbe) {
      lines.push(`last probe   ${w.lastProbe.at}: ${w.lastProbe.isOk ? chalk.green('ok') : chalk.red(`failed: ${w.lastProbe.reason}`)}`)
      for (const p of w.lastProbe.probes) lines.push(`             ${p.isOk ? chalk.green('ok  ') : chalk.red('FAIL')} ${p.kind.padEnd(8)} ${p.target}  ${p.detail} (${p.ms} ms)`)
    }
    if (!w.bird.isReachable && w.bird.error) lines.push(`             ${chalk.red(`BIRD: ${w.bird.error}`)}`)
  }
  if (!r.bird.isReachable) {
    lines.push(`BIRD         ${chalk.red(r.bird.error ?? 'not reachable')}`)
    return lines.join('\n')
  }
  const table = renderTable(
    [{header: 'PEER'}, {header: 'STATE', canShrink: false}, {header: 'SINCE', canShrink: false}, {header: 'INFO'}, {header: 'EXPORTED'}],
    r.bird.peers.map((p) => [
      p.name,
      {text: p.state, style: p.state === 'up' ? chalk.green : chalk.red},
      p.since,
      p.info === 'Established' ? {text: p.info, style: chalk.green} : p.info,
      p.exported.length === 0 ? '-' : p.exported.map((e) => `${e.prefix}${e.communities.length > 0 ? ` ${e.communities.join(' ')}` : ''}`).join(', '),
    ]),
  )
  lines.push(`BIRD         ${r.bird.socket}`, table)
  return lines.join('\n')
}
