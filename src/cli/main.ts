// The CLI's entry (bin/run.js and bin/dev.js call main). Commands that make one call to a running
// proxy go the lean path (src/cli/lean/, no oclif: EDGEPROXY_CLI_LEAN=0 turns it off); everything
// else runs in oclif, and whatever escapes a command (an unknown command, a failing hook, oclif's own
// errors) is printed in the one error format of handle-errors, with the documented exit codes.
// `start` first makes sure it runs with the data path's runtime settings (node-tuning.ts).
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import type {LoadOptions} from '@oclif/core/interfaces'

export interface MainOptions {
  /** bin/run.js's import.meta.url (oclif finds package.json from it), or LoadOptions for bin/dev.js. */
  load: string | LoadOptions
  isDevelopment?: boolean
}

export async function main(argv: string[], options: MainOptions): Promise<void> {
  const tuning = await import('./node-tuning.js')
  if (tuning.shouldReexec(argv, process.env, process.execArgv)) return tuning.reexecWithTuning()
  if (argv[0] === 'start') tuning.watchWrapper(process.env)
  if (typeof options.load === 'string' && process.env.EDGEPROXY_CLI_LEAN !== '0') {
    const {runLean} = await import('./lean/run-lean.js')
    if (await runLean(argv, path.dirname(path.dirname(fileURLToPath(options.load))))) return
  }
  const {run, flush, settings} = await import('@oclif/core')
  if (options.isDevelopment) {
    process.env.NODE_ENV = 'development'
    settings.debug = true
  }
  try {
    await run(argv, options.load)
    await flush()
  } catch (error) {
    await handleEscaped(error, argv)
  }
}

async function handleEscaped(error: unknown, argv: readonly string[]): Promise<never> {
  const {Errors} = await import('@oclif/core')
  if (error instanceof Errors.ExitError) process.exit(error.oclif.exit ?? 0)
  const {argvWantsJson, describeError, printError} = await import('./handle-errors.js')
  const {toUsageError} = await import('./usage-error.js')
  const converted = toUsageError(error, {id: argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' '), flags: {}})
  const rendered = describeError(converted)
  printError(rendered, {isJson: argvWantsJson(argv), error: converted})
  process.exit(rendered.exit)
}
