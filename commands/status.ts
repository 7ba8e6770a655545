import {Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {STATUS_DEFAULT_API_URL, statusApiUrl, statusExitCode, summarise, takeSample, type PopSample, type StatusResult} from '../src/cli/pop-status.js'
import {renderStatus} from '../src/cli/status-view.js'
import {durationFlagMs, formatDurationMs} from '../src/cli/duration.js'
import {describeError} from '../src/cli/handle-errors.js'
import {isEdgeproxyError} from '../src/errors.js'

export default class Status extends BaseCommand {
  static override summary = 'One screen for a running POP: version, uptime, store and sync age, backends by state, busiest backends, traffic and error rates, warnings'
  static override description = `Reads the proxy's GET /health and GET /metrics (the API token opens both). Rates are per second since the proxy started, or with --watch since the previous sample. Exits 0 when the POP is healthy, 1 when it is degraded (the reasons are listed) and 4 when the API cannot be reached; a refused token exits 3. With --watch it redraws every SECS seconds until Ctrl-C (under --json: one JSON object per line).`

  static override examples = [
    {description: 'The POP on this machine', command: '<%= config.bin %> status'},
    {description: 'For monitoring (exit code 0 / 1 / 4)', command: '<%= config.bin %> status --json'},
    {description: 'Live, every 2 seconds', command: '<%= config.bin %> status --watch 2 --api-url http://10.50.1.1:8081'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    'api-url': Flags.string({
      summary: `URL of the running proxy's Auto-Discovery API [default: ${STATUS_DEFAULT_API_URL}]`,
      env: 'EDGEPROXY_API_URL',
      helpValue: 'URL',
    }),
    token: Flags.string({
      summary: "Bearer token of the API (the proxy's EDGEPROXY_API_TOKEN); prefer the variable",
      env: 'EDGEPROXY_API_TOKEN',
      helpValue: 'TOKEN',
    }),
    watch: Flags.string({
      summary: 'Redraw every SECS seconds (or a duration such as 30s, 5m; 1s to 1d) until Ctrl-C; rates are then per second since the previous sample',
      helpValue: 'SECS',
    }),
  }

  async run(): Promise<StatusResult> {
    const {flags} = await this.parse(Status)
    const url = statusApiUrl(flags['api-url'])
    if (flags.watch === undefined) {
      const result = summarise(url, await takeSample(url, flags.token))
      if (!this.jsonEnabled()) this.log(renderStatus(result))
      process.exitCode = statusExitCode(result)
      return result
    }
    return this.watch(url, flags.token, durationFlagMs('--watch', flags.watch, {minMs: 1000, maxMs: 86_400_000, example: '5s'}))
  }

  /** Samples forever; an unreachable proxy is shown and retried, not fatal. */
  private async watch(url: string, token: string | undefined, everyMs: number): Promise<never> {
    const isTty = process.stdout.isTTY === true
    let previous: PopSample | undefined
    for (;;) {
      let view: string
      let json: unknown
      try {
        const sample = await takeSample(url, token)
        const result = summarise(url, sample, previous)
        previous = sample
        view = renderStatus(result)
        json = result
      } catch (error) {
        if (!isEdgeproxyError(error)) throw error
        const rendered = describeError(error)
        view = `${new Date().toISOString()}  ${rendered.message}\nCode: ${rendered.code}${rendered.suggestion ? `\nTry this: ${rendered.suggestion}` : ''}`
        json = {error: rendered}
      }
      if (this.jsonEnabled()) process.stdout.write(JSON.stringify(json) + '\n')
      else process.stdout.write(`${isTty ? '\u001B[H\u001B[2J' : '\n'}${view}\n${isTty ? `\nevery ${formatDurationMs(everyMs)}; Ctrl-C to stop\n` : ''}`)
      await new Promise((resolve) => setTimeout(resolve, everyMs))
    }
  }
}

