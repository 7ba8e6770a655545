// The machinery behind every configurable value: a setting names its flag, its EDGEPROXY_* variable
// and its default once, and resolution applies flag > variable > default, then parses the text. A bad
// value becomes a ConfigError quoting where it came from (`--port 70000` or `EDGEPROXY_X="abc"`).
// It knows nothing of oclif; src/cli turns these into flags.
import fs from 'node:fs'

import {ConfigError} from '../errors.js'
import {parseCidrList, parseHostPort, type CidrList, type HostPort} from '../net/address.js'

export type SettingKind = 'string' | 'boolean' | 'number' | 'integer' | 'address' | 'cidrs' | 'file' | 'enum'

export interface Setting<T> {
  /** Flag name without dashes, e.g. `listen`. */
  flag: string
  /** Environment variable, e.g. `EDGEPROXY_LISTEN_ADDR`. */
  env: string
  kind: SettingKind
  /** Default as the text an operator would type; undefined when there is none. */
  default?: string
  /** How help shows the default when the text alone would mislead, e.g. "(embedded database)". */
  defaultLabel?: string
  summary: string
  group: string
  options?: readonly string[]
  /** Turns the text into the typed value, throwing Error(reason) when it is wrong. */
  parse: (text: string) => T
  /** A hint for the error: what a valid value looks like. */
  hint: string
  /** The accepted range of a number, for help and the README, e.g. `0.05-3600`. */
  range?: string
  /** Never quote the value in messages (tokens). */
  secret?: boolean
}

/** The resolved values of a settings table (`typeof X_SETTINGS`), as a feature's resolver takes them. */
export type SettingValues<S> = {[K in keyof S]?: S[K] extends Setting<infer T> ? T : never}

export type Raw = Record<string, string | boolean | undefined>
export type Env = Record<string, string | undefined>

/** Where a resolved value came from, for messages and `--json` config dumps. */
export type Source = 'flag' | 'env' | 'default'

function describeSource(setting: Setting<unknown>, source: Source, text: string): string {
  if (setting.secret) text = '(hidden)'
  if (source === 'flag') return `--${setting.flag} ${JSON.stringify(text)}`
  if (source === 'env') return `${setting.env}=${JSON.stringify(text)}`
  return `the default of --${setting.flag} (${JSON.stringify(text)})`
}

export function resolveSetting<T>(setting: Setting<T>, flags: Raw, env: Env): {value: T | undefined; source: Source} {
  const flagValue = flags[setting.flag]
  let text: string | undefined
  let source: Source
  if (flagValue !== undefined) {
    text = typeof flagValue === 'boolean' ? String(flagValue) : flagValue
    source = 'flag'
  } else if (env[setting.env] !== undefined) {
    text = env[setting.env]
    source = 'env'
  } else {
    text = setting.default
    source = 'default'
  }
  if (text === undefined) return {value: undefined, source}
  try {
    return {value: setting.parse(text), source}
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new ConfigError(`invalid ${describeSource(setting, source, text)}: ${reason}`, {
      field: source === 'env' ? setting.env : `--${setting.flag}`,
      suggestion: `set --${setting.flag} or ${setting.env} to ${setting.hint}`,
    })
  }
}

// ---- parsers -------------------------------------------------------------------------------------

export function parseBoolean(text: string): boolean {
  const t = text.trim().toLowerCase()
  if (t === 'true' || t === '1' || t === 'yes' || t === 'on') return true
  if (t === 'false' || t === '0' || t === 'no' || t === 'off' || t === '') return false
  throw new Error('not a boolean')
}

/**
 * The longest delay a Node timer takes (2^31-1 ms, about 24.8 days); a longer one fires after 1 ms.
 * Every duration setting is bounded below it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

export function numberParser(opts: {min?: number; max?: number; integer?: boolean; unit?: string}) {
  return (text: string): number => {
    const t = text.trim()
    const pattern = opts.integer ? /^-?\d+$/ : /^-?(\d+\.?\d*|\.\d+)$/
    if (!pattern.test(t)) throw new Error(`not ${opts.integer ? 'a whole number' : 'a number'}${opts.unit ? ` of ${opts.unit}` : ''}`)
    const n = Number(t)
    if (!Number.isFinite(n) || (opts.integer && !Number.isSafeInteger(n))) throw new Error(`must be at most ${opts.max ?? Number.MAX_SAFE_INTEGER}`)
    if (opts.min !== undefined && n < opts.min) throw new Error(`must be at least ${opts.min}`)
    if (opts.max !== undefined && n > opts.max) throw new Error(`must be at most ${opts.max}${opts.unit ? ` ${opts.unit}` : ''}`)
    return n
  }
}

export function addressParser(text: string): HostPort {
  return parseHostPort(text)
}

export function cidrsParser(text: string): CidrList {
  return parseCidrList(text)
}

/** An existing, readable regular file. */
export function fileParser(text: string): string {
  const path = text.trim()
  if (path === '') throw new Error('empty path')
  let stat: fs.Stats
  try {
    stat = fs.statSync(path)
  } catch {
    throw new Error('no such file')
  }
  if (!stat.isFile()) throw new Error('not a regular file')
  try {
    fs.accessSync(path, fs.constants.R_OK)
  } catch {
    throw new Error('not readable by this user')
  }
  return path
}

export function enumParser<T extends string>(options: readonly T[]) {
  return (text: string): T => {
    const t = text.trim().toLowerCase() as T
    if (!options.includes(t)) throw new Error(`must be one of ${options.join(', ')}`)
    return t
  }
}

// ---- builders ------------------------------------------------------------------------------------

type Common = Pick<Setting<unknown>, 'flag' | 'env' | 'summary' | 'group'> & {default?: string; defaultLabel?: string; secret?: boolean}

export const setting = {
  string(c: Common & {hint?: string; parse?: (t: string) => string}): Setting<string> {
    return {...c, kind: 'string', parse: c.parse ?? ((t) => t), hint: c.hint ?? 'a non-empty value'}
  },
  boolean(c: Common): Setting<boolean> {
    return {...c, kind: 'boolean', parse: parseBoolean, hint: 'true or false'}
  },
  /** A duration in seconds, from `min` (default 0) to `max`: every one ends up in a timer or a clock comparison. */
  seconds(c: Common & {min?: number; max: number}): Setting<number> {
    const min = c.min ?? 0
    if (c.max * 1000 > MAX_TIMER_MS) throw new Error(`${c.env}: a maximum above ${MAX_TIMER_MS} ms would overflow a Node timer`)
    return {
      ...c,
      kind: 'number',
      parse: numberParser({min, max: c.max, unit: 'seconds'}),
      hint: `a number of seconds from ${min} to ${c.max}, for example ${c.default ?? 5}`,
      range: `${min}-${c.max}`,
    }
  },
  integer(c: Common & {min: number; max: number}): Setting<number> {
    return {
      ...c,
      kind: 'integer',
      parse: numberParser({min: c.min, max: c.max, integer: true}),
      hint: `a whole number from ${c.min} to ${c.max}`,
      range: `${c.min}-${c.max}`,
    }
  },
  address(c: Common): Setting<HostPort> {
    return {...c, kind: 'address', parse: addressParser, hint: 'host:port, for example 0.0.0.0:8080 or [::]:8080'}
  },
  cidrs(c: Common): Setting<CidrList> {
    return {...c, kind: 'cidrs', parse: cidrsParser, hint: 'a comma-separated CIDR list, for example 10.0.0.0/8,::1/128'}
  },
  file(c: Common & {hint?: string}): Setting<string> {
    return {...c, kind: 'file', parse: fileParser, hint: c.hint ?? 'the path of a readable file'}
  },
  enum<T extends string>(c: Common & {options: readonly T[]}): Setting<T> {
    return {...c, kind: 'enum', parse: enumParser(c.options), hint: `one of ${c.options.join(', ')}`}
  },
}

/** Resolves a map of settings into a typed object; the first bad value throws. */
export function resolveSettings<S extends Record<string, Setting<unknown>>>(
  settings: S,
  flags: Raw,
  env: Env,
): {values: {[K in keyof S]: S[K] extends Setting<infer T> ? T | undefined : never}; sources: Record<keyof S, Source>} {
  const values = {} as Record<string, unknown>
  const sources = {} as Record<string, Source>
  for (const [key, s] of Object.entries(settings)) {
    const r = resolveSetting(s, flags, env)
    values[key] = r.value
    sources[key] = r.source
  }
  return {values, sources} as never
}
