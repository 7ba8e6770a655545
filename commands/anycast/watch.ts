import {BaseCommand} from '../../src/cli/base-command.js'
import {rawFlags, settingFlags} from '../../src/cli/setting-flags.js'
import {createLogger} from '../../src/index.js'
import {
  anycastSettings,
  AnycastWatcher,
  assertProbeTiming,
  BirdControl,
  formatHostPort,
  GateFiles,
  probeOnce,
  resolveAnycastConfig,
  worstWithdrawMs,
} from '../../src/anycast/index.js'

const SETTINGS = anycastSettings(
  'probe',
  'healthUrl',
  'intervalSecs',
  'timeoutSecs',
  'rise',
  'fall',
  'gateFile',
  'maintenanceFile',
  'statusFile',
  'birdSocket',
  'birdc',
  'logFormat',
  'debug',
)

export default class AnycastWatch extends BaseCommand {
  static override summary = 'Announce the anycast prefixes through BIRD only while this POP can serve'
  static override description = `Runs beside the proxy (edgeproxy-anycast.service), so a hung proxy is caught too. Every interval (up to 10% shorter, at random) it connects to each --probe address and reads --health-url: /health must say ok or degraded (draining, down or no answer fails) and count at least one routable backend. After --rise good rounds in a row it opens the gate, after --fall failed ones it closes it; the gate file is rewritten (atomically) only when it changes, then BIRD is told with birdc configure. The maintenance file (anycast drain, anycast withdraw --hold) keeps the route withdrawn. SIGTERM withdraws and exits; BIRD and its BGP sessions stay up.`

  static override examples = [
    {description: 'On a POP (the generated anycast.env sets everything)', command: '<%= config.bin %> anycast watch'},
    {
      description: 'By hand, with short intervals',
      command: '<%= config.bin %> anycast watch --probe 198.51.100.10:8080 --health-url http://10.50.1.1:8081/health --interval 1 --timeout 0.5 --rise 2 --fall 2',
    },
  ]

  static override flags = settingFlags(SETTINGS)

  async run(): Promise<void> {
    const {flags} = await this.parse(AnycastWatch)
    const config = resolveAnycastConfig(rawFlags(flags), process.env)
    assertProbeTiming(config)
    const logger = createLogger({format: config.logFormat, isDebug: config.isDebug})
    const watcher = new AnycastWatcher({
      files: new GateFiles(config.files),
      bird: new BirdControl(config.bird),
      probe: () => probeOnce({targets: config.probe.targets, healthUrl: config.probe.healthUrl, timeoutMs: config.probe.timeoutMs}),
      check: config.check,
      logger,
    })
    let stopping: Promise<unknown> | undefined
    const onStop = () => {
      stopping ??= watcher.stop()
    }
    process.on('SIGTERM', onStop)
    process.on('SIGINT', onStop)
    logger.info('started', 'anycast watcher running', {
      probe: config.probe.targets.map((t) => formatHostPort(t.host, t.port)).join(','),
      health: config.probe.healthUrl,
      interval_ms: config.check.intervalMs,
      timeout_ms: config.check.timeoutMs,
      rise: config.check.rise,
      fall: config.check.fall,
      worst_withdraw_ms: worstWithdrawMs(config.check),
      gate: config.files.gateFile,
      bird: config.bird.socket,
    })
    try {
      await watcher.run()
    } catch (error) {
      // The first round failed (a gate file it cannot write): withdraw what can be, then report it.
      onStop()
      await stopping!.catch(() => undefined)
      throw error
    } finally {
      process.removeListener('SIGTERM', onStop)
      process.removeListener('SIGINT', onStop)
    }
    await stopping
  }
}
