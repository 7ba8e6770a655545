// One line per event, human by default or JSON for machines, written to an injected stream.
// The engine logs through this interface only; it never touches the console. Callers must not
// pass secrets (tokens, keys) as fields: nothing here redacts.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFormat = 'human' | 'json'
export type LogFields = Record<string, string | number | boolean | null | undefined>

export interface Logger {
  readonly isDebug: boolean
  debug(event: string, msg: string, fields?: LogFields): void
  info(event: string, msg: string, fields?: LogFields): void
  warn(event: string, msg: string, fields?: LogFields): void
  error(event: string, msg: string, fields?: LogFields): void
}

export interface LoggerOptions {
  format?: LogFormat
  isDebug?: boolean
  write?: (line: string) => void
  now?: () => Date
}

const LEVEL_LABEL: Record<LogLevel, string> = {debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR'}

function humanValue(value: string | number | boolean | null): string {
  if (typeof value !== 'string') return String(value)
  return value === '' || /[\s"=]/.test(value) ? JSON.stringify(value) : value
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'human'
  const isDebug = options.isDebug ?? false
  const write = options.write ?? ((line: string) => process.stderr.write(line))
  const now = options.now ?? (() => new Date())

  function emit(level: LogLevel, event: string, msg: string, fields?: LogFields): void {
    const ts = now().toISOString()
    if (format === 'json') {
      const record: Record<string, unknown> = {ts, level, event, msg}
      if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) record[k] = v
      write(JSON.stringify(record) + '\n')
      return
    }
    let line = `${ts} ${LEVEL_LABEL[level]} ${msg}`
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${humanValue(v)}`
    write(line + '\n')
  }

  return {
    isDebug,
    debug: (event, msg, fields) => {
      if (isDebug) emit('debug', event, msg, fields)
    },
    info: (event, msg, fields) => emit('info', event, msg, fields),
    warn: (event, msg, fields) => emit('warn', event, msg, fields),
    error: (event, msg, fields) => emit('error', event, msg, fields),
  }
}

/** A logger that drops everything; for library use and tests that do not read logs. */
export const silentLogger: Logger = {
  isDebug: false,
  debug() {},
  info() {},
  warn() {},
  error() {},
}
