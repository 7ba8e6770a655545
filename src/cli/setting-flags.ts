// Builds oclif flags from a settings table, so every flag shows its variable and default in --help
// and resolution (flag > variable > default) stays in src/config, where it is tested.
import {Flags, type Interfaces} from '@oclif/core'

import type {Raw, Setting} from '../config/settings.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFlag = Interfaces.Flag<any>

export function settingFlags(settings: Record<string, Setting<unknown>>): Record<string, AnyFlag> {
  const flags: Record<string, AnyFlag> = {}
  for (const s of Object.values(settings)) {
    const shown = s.defaultLabel ?? (s.default === undefined ? '(none)' : s.default)
    const summary = `${s.summary} [env: ${s.env}] [default: ${shown}]${s.range ? ` [range: ${s.range}]` : ''}`
    flags[s.flag] =
      s.kind === 'boolean'
        ? Flags.boolean({summary, helpGroup: s.group, allowNo: true})
        : Flags.string({summary, helpGroup: s.group, options: s.options ? [...s.options] : undefined, helpValue: helpValue(s)})
  }
  return flags
}

function helpValue(s: Setting<unknown>): string {
  switch (s.kind) {
    case 'address':
      return 'HOST:PORT'
    case 'number':
      return 'SECS'
    case 'integer':
      return 'N'
    case 'file':
      return 'PATH'
    case 'cidrs':
      return 'CIDRS'
    default:
      return s.options ? s.options.join('|') : 'VALUE'
  }
}

/** oclif's parsed flags → the raw map resolveSettings() takes (absent flags stay undefined). */
export function rawFlags(parsed: Record<string, unknown>): Raw {
  const raw: Raw = {}
  for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string' || typeof v === 'boolean') raw[k] = v
  return raw
}
