// Asks `backend register` for the required values its flags did not give, checking each answer with
// the API's own rules as it is typed (a bad id, IP or port is asked again at once, with the rule).
// Only called on a TTY.
import {REGIONS} from '../../balancer/regions.js'
import {validateApp, validateId, validateIp, validatePort} from '../../discovery/validation.js'
import type {Prompter} from './prompter.js'

type Required = 'id' | 'app' | 'region' | 'ip' | 'port'

function rule(check: (answer: string) => unknown): (answer: string) => true | string {
  return (answer) => {
    try {
      check(answer)
      return true
    } catch (error) {
      return (error as Error).message
    }
  }
}

const QUESTIONS: Record<Exclude<Required, 'region'>, {message: string; validate: (answer: string) => true | string}> = {
  id: {message: 'Id', validate: rule((v) => validateId(v))},
  app: {message: 'App', validate: rule((v) => validateApp(v))},
  ip: {message: 'Address the proxy dials (IP)', validate: rule((v) => validateIp(v))},
  port: {message: 'Port', validate: rule((v) => validatePort(/^\d+$/.test(v) ? Number(v) : v))},
}

export async function askRegisterValues(prompter: Prompter, missing: readonly Required[]): Promise<Partial<Record<Required, string>>> {
  const answers: Partial<Record<Required, string>> = {}
  for (const key of missing) {
    answers[key] = key === 'region' ? await prompter.select('Region', REGIONS.map((r) => ({value: r}))) : await prompter.input(QUESTIONS[key].message, {validate: QUESTIONS[key].validate})
  }
  return answers
}
