// Every error a user can meet: a stable EP_* code, a one-line message that quotes the bad value,
// a suggestion naming the exact flag, variable or command, and the exit code the CLI uses.
// Anything thrown that is not an EdgeproxyError is a bug (exit 1).

export const ExitCode = {
  ok: 0,
  bug: 1,
  usage: 2,
  invalid: 3,
  unavailable: 4,
  /** Ctrl-C at a prompt: 128 + SIGINT, as a shell reports a process stopped by Ctrl-C. */
  interrupted: 130,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export interface EdgeproxyErrorOptions {
  suggestion?: string
  cause?: unknown
  /** The variable, flag or API field the error is about, when there is one. */
  field?: string
}

export class EdgeproxyError extends Error {
  readonly code: string
  readonly exitCode: ExitCode
  readonly suggestion?: string
  readonly field?: string

  constructor(code: string, message: string, exitCode: ExitCode, options: EdgeproxyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
    this.suggestion = options.suggestion
    this.field = options.field
  }

  toJSON(): {code: string; message: string; suggestion?: string; field?: string} {
    return {
      code: this.code,
      message: this.message,
      ...(this.suggestion ? {suggestion: this.suggestion} : {}),
      ...(this.field ? {field: this.field} : {}),
    }
  }
}

/** A setting (flag, variable or file) has a value the operator must change. Exit 3. */
export class ConfigError extends EdgeproxyError {
  constructor(message: string, options: EdgeproxyErrorOptions = {}) {
    super('EP_CONFIG_INVALID', message, ExitCode.invalid, options)
  }
}

/** Input or state the user can fix (a bad id, a missing file, a refused schema). Exit 3. */
export class InvalidInputError extends EdgeproxyError {
  constructor(code: string, message: string, options: EdgeproxyErrorOptions = {}) {
    super(code, message, ExitCode.invalid, options)
  }
}

/** A dependency or the network failed: an API, Corrosion, a socket. Exit 4. */
export class UnavailableError extends EdgeproxyError {
  constructor(code: string, message: string, options: EdgeproxyErrorOptions = {}) {
    super(code, message, ExitCode.unavailable, options)
  }
}

export function isEdgeproxyError(error: unknown): error is EdgeproxyError {
  return error instanceof EdgeproxyError
}

/** The message of anything thrown, for logs. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
