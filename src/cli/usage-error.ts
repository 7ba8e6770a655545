// Turns oclif's own failures (unknown flag or command, a value outside a flag's options, a missing
// argument) into EdgeproxyErrors with code EP_USAGE and exit 2, so they print `Error:`, `Code:` and
// `Try this:` like every other failure, with a suggestion that names this command's help and, for
// a typo, the closest flag or command.
import {EdgeproxyError, ExitCode} from '../errors.js'

export class UsageError extends EdgeproxyError {
  constructor(message: string, suggestion: string, field?: string) {
    super('EP_USAGE', message, ExitCode.usage, {suggestion, field})
  }
}

/** What the usage error needs to know about the command that failed. */
export interface CommandShape {
  /** `backend list` (spaces, as typed). */
  id: string
  flags: Record<string, {helpValue?: unknown}>
}

export function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/** The candidate closest to `typed`, when it is close enough to be a typo (or `typed` is a prefix of it). */
export function closest(typed: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const d = candidate.startsWith(typed) && typed.length >= 2 ? 0.5 : editDistance(typed, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return bestDistance <= Math.max(2, Math.floor(typed.length / 3)) ? best : undefined
}

function isOclifError(error: unknown): error is Error & {oclif: {exit?: number}; flags?: string[]; args?: Array<{name?: string; description?: string} | string>} {
  return error instanceof Error && 'oclif' in error
}

/** An oclif usage error as an EdgeproxyError; anything else is returned unchanged. */
export function toUsageError(error: unknown, command: CommandShape): unknown {
  if (!isOclifError(error) || error instanceof EdgeproxyError) return error
  const help = `edgeproxy ${command.id} --help`
  const message = error.message.replace(/\s*See more help with --help\s*$/, '').trim()
  const flagNames = Object.keys(command.flags)
  const kind = error.constructor.name
  let match: RegExpMatchArray | null

  if (kind === 'NonExistentFlagsError' && Array.isArray(error.flags)) {
    const typed = error.flags[0]!
    const guess = closest(typed.replace(/^-+/, '').replace(/=.*$/, ''), flagNames)
    const list = error.flags.join(', ')
    return new UsageError(
      `unknown flag ${list} for edgeproxy ${command.id}`,
      guess ? `did you mean --${guess}? The flags are in: ${help}` : `the flags are in: ${help}`,
      typed,
    )
  }
  if ((match = message.match(/^Expected --([\w-]+)=(.*) to be one of: (.*)$/s))) {
    const [, flag, value, options] = match
    return new UsageError(`--${flag} ${JSON.stringify(value)} is not one of: ${options}`, `pass one of them, e.g. --${flag} ${options!.split(', ')[0]}`, `--${flag}`)
  }
  if ((match = message.match(/^Flag --([\w-]+) expects one of these values: (.*)$/s))) {
    const [, flag, options] = match
    return new UsageError(`--${flag} needs a value, one of: ${options}`, `pass one of them, e.g. --${flag} ${options!.split(', ')[0]}`, `--${flag}`)
  }
  if ((match = message.match(/^Flag --([\w-]+) expects a value$/))) {
    const flag = match[1]!
    const helpValue = command.flags[flag]?.helpValue
    const value = typeof helpValue === 'string' ? helpValue : 'VALUE'
    return new UsageError(`--${flag} needs a value`, `pass it as --${flag} ${value} (see ${help})`, `--${flag}`)
  }
  if ((match = message.match(/^Flag --([\w-]+) can only be specified once$/))) {
    return new UsageError(`--${match[1]} was given more than once`, `give --${match[1]} once`, `--${match[1]}`)
  }
  if (kind === 'RequiredArgsError' && Array.isArray(error.args)) {
    const names = error.args.map((a) => (typeof a === 'string' ? a : (a.name ?? '')).toUpperCase())
    const described = error.args.map((a) => (typeof a === 'string' ? a.toUpperCase() : `${(a.name ?? '').toUpperCase()}${a.description ? ` (${a.description})` : ''}`))
    return new UsageError(`missing ${described.join(' and ')}`, `pass it: edgeproxy ${command.id} ${names.join(' ')} (see ${help})`, names[0])
  }
  if (kind === 'UnexpectedArgsError' && Array.isArray(error.args)) {
    const extra = error.args.map((a) => JSON.stringify(typeof a === 'string' ? a : a.name)).join(', ')
    return new UsageError(`unexpected argument ${extra} for edgeproxy ${command.id}`, `remove it, or quote a value that contains spaces (see ${help})`)
  }
  if ((match = message.match(/^command (.+) not found\.?$/i))) {
    return new UsageError(`unknown command "${match[1]!.replaceAll(':', ' ')}"`, 'edgeproxy help lists every command')
  }
  if ((match = message.match(/^Expected (.*) to be one of: (.*)$/s))) {
    return new UsageError(`${JSON.stringify(match[1])} is not one of: ${match[2]}`, `pass one of them (see ${help})`)
  }
  const lines = message.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^The following errors? occurred:$/.test(l))
  return new UsageError(lines.join('; ') || 'invalid usage', `see ${help}`)
}
