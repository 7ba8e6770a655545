// A strict subset of oclif's argv parser, driven by oclif.manifest.json, for the lean path: it
// returns the flags and args exactly as oclif would (flag > variable > default) or undefined for
// anything it is not sure of (help, `--`, short flags, an unknown or repeated flag, a value outside
// a flag's options, rules between flags, missing or extra args), and the caller then lets oclif parse and report it.

/** The part of a command's manifest entry the parser reads. */
export interface ManifestCommand {
  id: string
  enableJsonFlag?: boolean
  args: Record<string, {name: string; required?: boolean}>
  flags: Record<
    string,
    {
      name: string
      type: 'option' | 'boolean'
      env?: string
      options?: string[]
      default?: unknown
      allowNo?: boolean
      multiple?: boolean
      char?: string
      required?: boolean
      dependsOn?: string[]
      exclusive?: string[]
      exactlyOne?: string[]
      relationships?: unknown[]
    }
  >
}

export interface ParsedArgv {
  flags: Record<string, string | boolean | undefined>
  args: Record<string, string>
  /** Flags typed on the command line (not from a variable or a default). */
  typed: Set<string>
}

export function parseArgv(command: ManifestCommand, argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArgv | undefined {
  const flags: ParsedArgv['flags'] = {}
  const typed = new Set<string>()
  const positional: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!
    if (!token.startsWith('-') || token === '-') {
      positional.push(token)
      continue
    }
    if (!token.startsWith('--') || token === '--') return undefined
    const eq = token.indexOf('=')
    let name = token.slice(2, eq === -1 ? undefined : eq)
    let isNegated = false
    let flag = command.flags[name]
    if (flag === undefined && name.startsWith('no-')) {
      flag = command.flags[name.slice(3)]
      if (flag?.type !== 'boolean' || !flag.allowNo) return undefined
      name = name.slice(3)
      isNegated = true
    }
    if (flag === undefined || flag.multiple || typed.has(name)) return undefined
    // Rules between flags are oclif's to check and to explain.
    if (flag.dependsOn?.length || flag.exclusive?.length || flag.exactlyOne?.length || flag.relationships?.length) return undefined
    typed.add(name)
    if (flag.type === 'boolean') {
      if (eq !== -1) return undefined
      flags[name] = !isNegated
      continue
    }
    const value = eq === -1 ? argv[++i] : token.slice(eq + 1)
    if (value === undefined || (eq === -1 && value.startsWith('-'))) return undefined
    if (flag.options && !flag.options.includes(value)) return undefined
    flags[name] = value
  }
  for (const [name, flag] of Object.entries(command.flags)) {
    if (typed.has(name)) continue
    if (flag.required) return undefined
    const fromEnv = flag.env === undefined ? undefined : env[flag.env]
    if (fromEnv) {
      if (flag.type === 'boolean') return undefined
      if (flag.options && !flag.options.includes(fromEnv)) return undefined
      flags[name] = fromEnv
    } else if (flag.default !== undefined) {
      if (typeof flag.default !== 'string' && typeof flag.default !== 'boolean') return undefined
      flags[name] = flag.default
    }
  }
  const argSpecs = Object.values(command.args)
  if (positional.length > argSpecs.length) return undefined
  const args: Record<string, string> = {}
  for (const [i, spec] of argSpecs.entries()) {
    if (positional[i] === undefined) {
      if (spec.required) return undefined
      continue
    }
    args[spec.name] = positional[i]!
  }
  return {flags, args, typed}
}
