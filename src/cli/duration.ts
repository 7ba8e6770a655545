// Parses the durations operators type: 15s, 1m, 500ms, 1m30s, 1d, or a bare number of seconds, and
// bounds them: nothing above `maxMs` (24 days by default, under the 2^31-1 ms a Node timer takes;
// a longer delay would fire after 1 ms).
import {ConfigError} from '../errors.js'

const UNIT_MS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}

export const MAX_DURATION_MS = 24 * 86_400_000

/** `1d2h`, `90s`, `250ms`: the shortest spelling of a whole number of milliseconds. */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return '0s'
  let rest = ms
  let out = ''
  for (const unit of ['d', 'h', 'm', 's', 'ms'] as const) {
    const n = Math.floor(rest / UNIT_MS[unit])
    if (n > 0) out += `${n}${unit}`
    rest -= n * UNIT_MS[unit]
  }
  return out
}

export function parseDurationMs(text: string, options: {maxMs?: number} = {}): number {
  const maxMs = options.maxMs ?? MAX_DURATION_MS
  const t = text.trim()
  let ms: number
  if (/^\d+(\.\d+)?$/.test(t)) ms = Math.round(Number(t) * 1000)
  else {
    const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)]
    if (parts.length === 0 || parts.map((p) => p[0]).join('') !== t) throw new Error(`"${text}" is not a duration such as 15s, 1m, 2h, 1d or 500ms`)
    ms = Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]], 0))
  }
  if (!Number.isFinite(ms) || ms > maxMs) throw new Error(`"${text}" is longer than the maximum of ${formatDurationMs(maxMs)}`)
  return ms
}

/**
 * A duration flag's value in ms, within [minMs, maxMs]; otherwise EP_CONFIG_INVALID naming the flag,
 * the value and the bound it broke.
 */
export function durationFlagMs(flag: string, text: string, bounds: {minMs: number; maxMs?: number; example: string}): number {
  const maxMs = bounds.maxMs ?? MAX_DURATION_MS
  const fix = {field: flag, suggestion: `pass a duration from ${formatDurationMs(bounds.minMs)} to ${formatDurationMs(maxMs)}, such as ${flag} ${bounds.example}`}
  let ms: number
  try {
    ms = parseDurationMs(text, {maxMs})
  } catch (error) {
    throw new ConfigError(`invalid ${flag}: ${(error as Error).message}`, fix)
  }
  if (ms < bounds.minMs) throw new ConfigError(`invalid ${flag}: "${text}" is shorter than the minimum of ${formatDurationMs(bounds.minMs)}`, fix)
  return ms
}
