import {Errors} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {describeError} from '../src/cli/handle-errors.js'
import {rawFlags, settingFlags} from '../src/cli/setting-flags.js'
import {SignalWatcher} from '../src/cli/signals.js'
import {createLogger, Engine, requestedLogFormat, resolveStartConfig, START_SETTINGS, VERSION} from '../src/index.js'

export default class Start extends BaseCommand {
  static override summary = 'Run the geo-aware proxy of this POP (TCP and TLS listeners)'
  static override description = `Routes each client connection to the best backend of the routing store by country, region, load and weight, keeps client affinity, and follows changes to the store while it runs. With no configuration it creates routing.db in the current directory and listens on 0.0.0.0:8080 for region sa. Every flag can also be set with the EDGEPROXY_* variable shown next to it; a flag wins over its variable. SIGTERM or SIGINT drains open connections; SIGHUP re-reads the store and the TLS certificate at once.`

  static override examples = [
    {description: 'Run on the embedded defaults (routing.db here, 0.0.0.0:8080, region sa)', command: '<%= config.bin %> start'},
    {
      description: 'A POP in Europe behind an L4 load balancer that sends PROXY headers',
      command: '<%= config.bin %> start --region eu --listen [::]:8080 --proxy-protocol --proxy-protocol-trusted 10.0.0.0/8',
    },
    {
      description: 'TLS termination with a certificate renewed in place by certbot',
      command:
        'EDGEPROXY_TLS_ENABLED=true EDGEPROXY_TLS_CERT=/etc/letsencrypt/live/edge/fullchain.pem EDGEPROXY_TLS_KEY=/etc/letsencrypt/live/edge/privkey.pem <%= config.bin %> start',
    },
  ]

  static override flags = settingFlags(START_SETTINGS)

  async run(): Promise<void> {
    const {flags} = await this.parse(Start)
    const config = resolveStartConfig(rawFlags(flags), process.env)
    const logger = createLogger({format: config.logFormat, isDebug: config.isDebug})
    const signals = new SignalWatcher()
    let engine: Engine
    try {
      engine = await Engine.start(config, {logger, version: VERSION})
    } catch (error) {
      signals.dispose()
      throw error
    }
    await signals.run(engine)
    this.exit(0)
  }

  /** With --log-format json a failed start is one JSON log line too (code, message, suggestion, exit). */
  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (error instanceof Errors.ExitError || requestedLogFormat(this.argv, process.env) !== 'json') return super.catch(error)
    const rendered = error.oclif ? {code: 'EP_USAGE', message: error.message, exit: error.oclif.exit ?? 2} : describeError(error)
    process.exitCode = rendered.exit
    const {code, message, suggestion, field, exit} = rendered
    createLogger({format: 'json'}).error('start_failed', message, {code, message, suggestion, field, exit})
    this.exit(rendered.exit)
  }
}
