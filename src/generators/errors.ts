// Errors of writing generated output and of the secrets file, each with a stable EP_* code and a
// suggestion naming the flag to use. All exit 3: the operator can fix them.
import {InvalidInputError} from '../errors.js'

/** The output directory exists and --force was not given. */
export class OutputExistsError extends InvalidInputError {
  constructor(dir: string) {
    super('EP_OUTPUT_EXISTS', `output directory ${JSON.stringify(dir)} already exists and is not empty`, {
      field: '--out',
      suggestion: 'pass --force to replace it (keys and tokens are kept from the secrets file), or choose another --out',
    })
  }
}

/** --force was given, but the directory holds files edgeproxy did not generate. */
export class OutputForeignError extends InvalidInputError {
  constructor(dir: string, reason: string) {
    super('EP_OUTPUT_FOREIGN', `refusing to replace ${JSON.stringify(dir)}: ${reason}`, {
      field: '--out',
      suggestion: 'choose an --out directory that is empty, absent, or was written by edgeproxy (it has .edgeproxy-output.json)',
    })
  }
}

/** Writing the output failed (permissions, full disk); nothing was replaced. */
export class OutputWriteError extends InvalidInputError {
  constructor(target: string, reason: string, cause?: unknown) {
    super('EP_OUTPUT_WRITE_FAILED', `cannot write ${JSON.stringify(target)}: ${reason}`, {
      field: '--out',
      cause,
      suggestion: 'check that the parent of --out exists and is writable by this user, or choose another --out',
    })
  }
}

/** The secrets file cannot be read, is malformed, or belongs to another cluster. */
export class SecretsFileError extends InvalidInputError {
  constructor(file: string, reason: string, options: {cause?: unknown; suggestion?: string} = {}) {
    super('EP_SECRETS_INVALID', `secrets file ${JSON.stringify(file)}: ${reason}`, {
      field: '--secrets',
      cause: options.cause,
      suggestion:
        options.suggestion ??
        'fix the file, or point --secrets at another one; deleting it makes new keys and tokens, and then every host needs its new files',
    })
  }
}

/** A value given to a generator (flag or prompt) cannot be used. */
export class GeneratorInputError extends InvalidInputError {
  constructor(flag: string, message: string, suggestion: string) {
    super('EP_GENERATE_INVALID', message, {field: flag, suggestion})
  }
}
