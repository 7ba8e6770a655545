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

export interface InputProblem {
  flag: string
  message: string
  /** What to pass instead, e.g. `IP:port, for example 10.50.1.1:4001`. */
  hint: string
}

/** Several values given to a generator cannot be used: every one is listed, one per line. */
export class GeneratorInputsError extends InvalidInputError {
  readonly problems: readonly InputProblem[]

  constructor(problems: readonly InputProblem[]) {
    const [first] = problems
    super(
      'EP_GENERATE_INVALID',
      problems.length === 1 ? first!.message : `${problems.length} problems with the flags:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`,
      {
        field: first!.flag,
        suggestion: problems.length === 1 ? `pass ${first!.flag} ${first!.hint}` : `fix each one: ${problems.map((p) => `${p.flag} ${p.hint}`).join('; ')}`,
      },
    )
    this.problems = problems
  }

  override toJSON(): ReturnType<InvalidInputError['toJSON']> & {problems: Array<{path: string; message: string}>} {
    return {...super.toJSON(), problems: this.problems.map((p) => ({path: p.flag, message: p.message}))}
  }
}
