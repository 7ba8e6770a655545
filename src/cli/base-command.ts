// Every edgeproxy command extends this. Errors of every kind (EdgeproxyErrors, oclif's parse errors,
// bugs) go through handle-errors: one format, stable codes, the documented exit codes, and under
// --json an {"error":{...}} object on stdout. JSON output goes through printJson (one key casing,
// see src/json-keys.ts). NO_COLOR and FORCE_COLOR are honoured (chalk reads them).
import {Command, Errors} from '@oclif/core'

import {describeError, printError} from './handle-errors.js'
import {printJson} from './output.js'
import {toUsageError, type CommandShape} from './usage-error.js'

export abstract class BaseCommand extends Command {
  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    const converted = toUsageError(error, {id: (this.id ?? '').replaceAll(':', ' '), flags: (this.ctor.flags ?? {}) as CommandShape['flags']})
    const rendered = describeError(converted)
    process.exitCode = rendered.exit
    printError(rendered, {isJson: this.jsonEnabled(), error: converted})
    this.exit(rendered.exit)
  }

  /** How the operator gave a flag's value, for messages: `--api-url` when typed, else its variable. */
  protected sourceOf(flag: string, env: string): string {
    return this.argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`)) ? `--${flag}` : env
  }

  override logJson(json: unknown): void {
    printJson(json)
  }
}
