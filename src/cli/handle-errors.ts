// The one place that turns an error into output and an exit code. An EdgeproxyError prints its
// message, code and suggestion; anything else is a bug (exit 1) and says how to report it.
// Under --json the same facts go to stdout as {"error":{code,message,suggestion,exit,…}}: an error's
// toJSON() may add fields of its own (problems, field, status), which keep their names.
import chalk from 'chalk'

import {ExitCode, isEdgeproxyError} from '../errors.js'
import {printJson} from './output.js'

export interface RenderedError {
  code: string
  message: string
  suggestion?: string
  field?: string
  exit: number
  [extra: string]: unknown
}

export const REPORT_URL = 'https://github.com/edgeproxy/edgeproxy/issues'

export function describeError(error: unknown): RenderedError {
  if (isEdgeproxyError(error)) {
    return {...error.toJSON(), exit: error.exitCode}
  }
  const message = error instanceof Error ? error.message : String(error)
  return {
    code: 'EP_INTERNAL',
    message: `unexpected failure: ${message}`,
    suggestion: `this is a bug in edgeproxy: rerun with EDGEPROXY_DEBUG=1 for the stack trace and report it at ${REPORT_URL}`,
    exit: ExitCode.bug,
  }
}

/** EDGEPROXY_DEBUG (not DEBUG, which other tools set) adds the stack to an unexpected error. */
export function wantsStack(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.EDGEPROXY_DEBUG ?? '').trim().toLowerCase()
  return v !== '' && v !== '0' && v !== 'false'
}

export function formatError(rendered: RenderedError, stack?: string): string {
  const lines = [`${chalk.red('Error:')} ${rendered.message}`, `Code: ${rendered.code}`]
  if (rendered.suggestion) lines.push(`Try this: ${rendered.suggestion}`)
  if (stack) lines.push(stack)
  return lines.join('\n') + '\n'
}

/** Prints an error the documented way: JSON on stdout under --json, else the three lines on stderr. */
export function printError(rendered: RenderedError, options: {isJson: boolean; error?: unknown}): void {
  if (options.isJson) {
    printJson({error: rendered})
    return
  }
  const stack = rendered.code === 'EP_INTERNAL' && wantsStack() && options.error instanceof Error ? (options.error.stack ?? '') : undefined
  process.stderr.write(formatError(rendered, stack))
}

/** Whether argv asks for JSON (a `--json` before any `--`), for errors raised before a command runs. */
export function argvWantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  const json = argv.indexOf('--json')
  return json !== -1 && (end === -1 || json < end)
}
