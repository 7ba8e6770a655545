// The errors a topology file can raise: unreadable or not YAML/JSON (EP_TOPOLOGY_UNREADABLE), or
// readable but wrong (EP_TOPOLOGY_INVALID, every problem with its file and key path). Both exit 3.
import {InvalidInputError} from '../errors.js'

export interface TopologyProblem {
  /** Key path inside the file, e.g. `pops[2].wireguard_address`; `` for the document itself. */
  path: string
  /** What is wrong, quoting the value. */
  message: string
}

export function formatProblem(file: string, problem: TopologyProblem): string {
  return problem.path === '' ? `${file}: ${problem.message}` : `${file}: ${problem.path}: ${problem.message}`
}

/** The topology file parsed but describes an impossible cluster. */
export class TopologyInvalidError extends InvalidInputError {
  readonly file: string
  readonly problems: readonly TopologyProblem[]

  constructor(file: string, problems: readonly TopologyProblem[], flag = '--topology') {
    // Every problem, one per line: an operator fixes them all in one pass.
    const message =
      problems.length === 1
        ? formatProblem(file, problems[0]!)
        : `${file} has ${problems.length} problems:\n${problems.map((p) => `  - ${p.path === '' ? p.message : `${p.path}: ${p.message}`}`).join('\n')}`
    super('EP_TOPOLOGY_INVALID', message, {
      field: problems[0]?.path,
      suggestion: `fix ${problems.length === 1 ? 'that key' : 'those keys'} in ${file} (the file given to ${flag}) and run again; nothing was written`,
    })
    this.file = file
    this.problems = problems
  }

  override toJSON(): ReturnType<InvalidInputError['toJSON']> & {file: string; problems: TopologyProblem[]} {
    return {...super.toJSON(), file: this.file, problems: [...this.problems]}
  }
}

/** The topology file cannot be read, or is not YAML/JSON. */
export class TopologyUnreadableError extends InvalidInputError {
  constructor(file: string, reason: string, options: {cause?: unknown; flag?: string} = {}) {
    super('EP_TOPOLOGY_UNREADABLE', `${file}: ${reason}`, {
      field: options.flag ?? '--topology',
      cause: options.cause,
      suggestion: `pass ${options.flag ?? '--topology'} the path of a readable YAML or JSON topology file`,
    })
  }
}
