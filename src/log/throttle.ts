// Keeps a repeated warning (no backend, a refused connect) to one line per interval: the first
// occurrence is logged at once, later ones are counted and reported with the next line.
import type {LogFields, Logger} from './logger.js'

export function throttledWarning(logger: Logger, event: string, intervalMs: number, now: () => number = Date.now) {
  let lastAt = -Infinity
  let suppressed = 0
  return (msg: string, fields?: LogFields): void => {
    const t = now()
    if (t - lastAt < intervalMs) {
      suppressed++
      return
    }
    lastAt = t
    logger.warn(event, msg, suppressed > 0 ? {...fields, suppressed} : fields)
    suppressed = 0
  }
}
