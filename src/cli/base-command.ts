// Every edgeproxy command extends this: errors go through handle-errors (one format, stable codes,
// the documented exit codes), NO_COLOR is honoured, and --json errors are JSON too.
import {Command, Errors} from '@oclif/core'
import chalk from 'chalk'

import {ExitCode, isEdgeproxyError} from '../errors.js'
import {describeError, formatError} from './handle-errors.js'

function isOclifError(error: unknown): error is Error & {oclif: {exit?: number}} {
  return typeof error === 'object' && error !== null && 'oclif' in error
}

export abstract class BaseCommand extends Command {
  protected override async init(): Promise<void> {
    if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') chalk.level = 0
    await super.init()
  }

  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    // oclif's own errors (unknown flag, missing argument, flag given twice) are usage errors: exit 2.
    if (isOclifError(error) && !isEdgeproxyError(error)) {
      const exit = error.oclif.exit ?? ExitCode.usage
      if (!this.jsonEnabled()) throw error
      process.exitCode = exit
      this.logJson({error: {code: 'EP_USAGE', message: error.message, exit}})
      this.exit(exit)
    }
    const rendered = describeError(error)
    process.exitCode = rendered.exit
    if (this.jsonEnabled()) {
      this.logJson({error: rendered})
    } else {
      const stack = rendered.code === 'EP_INTERNAL' && process.env.DEBUG ? (error.stack ?? '') : undefined
      process.stderr.write(formatError(rendered, stack))
    }
    this.exit(rendered.exit)
  }
}
