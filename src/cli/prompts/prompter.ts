// The three questions the CLI's wizards ask (text, choice, yes/no) behind one small interface, so
// the wizards can be driven by a script in tests; the real one is inquirer, drawing on stderr so
// stdout keeps only data. Also: when prompting is allowed, and the errors for when it is not.
import {EdgeproxyError, ExitCode} from '../../errors.js'

export interface Choice<T extends string> {
  value: T
  name?: string
}

export interface Prompter {
  /** `validate` returns true or the reason the answer is refused (the question is asked again). */
  input(message: string, options?: {default?: string; validate?: (answer: string) => true | string}): Promise<string>
  select<T extends string>(message: string, choices: ReadonlyArray<Choice<T>>, defaultValue?: T): Promise<T>
  confirm(message: string, defaultValue?: boolean): Promise<boolean>
}

/** Prompts only with a human at both ends, and never under --json. */
export function canPrompt(isJson: boolean): boolean {
  return !isJson && process.stdin.isTTY === true && process.stdout.isTTY === true
}

/** A value the command needs was not given and cannot be asked for. Exit 2 (usage). */
export class MissingFlagError extends EdgeproxyError {
  constructor(flags: readonly string[], why = 'no terminal to ask on') {
    super('EP_MISSING_FLAG', `missing ${flags.join(' and ')} (${why})`, ExitCode.usage, {
      field: flags[0],
      suggestion: `pass ${flags.join(' and ')} (or run in a terminal, without --json, to be asked)`,
    })
  }
}

/** The operator cancelled at a prompt: Ctrl-C (exit 130, like any program stopped by Ctrl-C) or a "no". */
export class PromptCancelledError extends EdgeproxyError {
  constructor(isInterrupt = false) {
    super('EP_PROMPT_CANCELLED', `${isInterrupt ? 'interrupted' : 'cancelled'} at a prompt; nothing was written`, isInterrupt ? ExitCode.interrupted : ExitCode.usage, {
      suggestion: 'run again, or pass every value as a flag',
    })
  }
}

async function guard<T>(ask: () => Promise<T>): Promise<T> {
  try {
    return await ask()
  } catch (error) {
    if (error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')) throw new PromptCancelledError(true)
    throw error
  }
}

export function inquirerPrompter(): Prompter {
  // inquirer is loaded only when a question is asked: it costs ~0.15 s at start-up otherwise.
  let module: Promise<ReturnType<typeof import('inquirer').createPromptModule>> | undefined
  const prompt = async (questions: Parameters<ReturnType<typeof import('inquirer').createPromptModule>>[0]) => {
    module ??= import('inquirer').then((m) => m.createPromptModule({output: process.stderr}))
    return (await module)(questions)
  }
  return {
    async input(message, options = {}) {
      const answers = await guard(() =>
        prompt([{type: 'input', name: 'value', message, default: options.default, validate: (v: string) => (options.validate ? options.validate(v.trim()) : true)}]),
      )
      return String(answers.value).trim()
    },
    async select(message, choices, defaultValue) {
      const answers = await guard(() => prompt([{type: 'select', name: 'value', message, choices: choices.map((c) => ({value: c.value, name: c.name ?? c.value})), default: defaultValue}]))
      return answers.value as (typeof choices)[number]['value']
    },
    async confirm(message, defaultValue = true) {
      const answers = await guard(() => prompt([{type: 'confirm', name: 'value', message, default: defaultValue}]))
      return Boolean(answers.value)
    },
  }
}
