// oclif calls this when no command matches what was typed: fail with a usage error (exit 2) that
// names the closest command, written the way it is typed (`backend list`, never `backend:list`).
import type {Hook} from '@oclif/core'

import {closest, UsageError} from '../usage-error.js'

const hook: Hook<'command_not_found'> = async function (options) {
  // oclif joins every word typed into the id (`backend:set-wieght:a:3`): keep the topic words and one more.
  const parts = options.id.split(':')
  const topics = new Set(options.config.topics.map((t) => t.name))
  let words = 1
  while (words < parts.length && topics.has(parts.slice(0, words).join(':'))) words++
  // A mistyped topic (`corosion status`) still has its command word after it.
  if (words === 1 && parts.length > 1 && closest(parts[0]!, [...topics]) !== undefined) words = 2
  const typed = parts.slice(0, words).join(' ')
  const commands = options.config.commands.filter((c) => !c.hidden).map((c) => c.id.replaceAll(':', ' '))
  // Compare like with like: `backend lst` against commands of two words, `bogus` against topics too.
  const candidates = [...commands, ...options.config.topics.map((t) => t.name.replaceAll(':', ' '))].filter((c) => c.split(' ').length === words)
  const guess = closest(typed, candidates) ?? closest(typed, commands)
  throw new UsageError(
    `unknown command "${typed}"`,
    guess ? `did you mean edgeproxy ${guess}? (edgeproxy help lists every command)` : 'edgeproxy help lists every command',
  )
}

export default hook
