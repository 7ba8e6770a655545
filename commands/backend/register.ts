import {Flags} from '@oclif/core'

import {BackendCommand, storeFlags} from '../../src/cli/backend-command.js'
import {backendDetail} from '../../src/cli/backend-view.js'
import {canPrompt, inquirerPrompter, MissingFlagError} from '../../src/cli/prompts/prompter.js'
import {REGIONS, type RegisterOutcome} from '../../src/index.js'

const REQUIRED = ['id', 'app', 'region', 'ip', 'port'] as const

export default class BackendRegister extends BackendCommand {
  static override summary = 'Register a backend, or update it when the id exists (starts its heartbeat lease)'
  static override description =
    'Asks for missing required values when run in a terminal; otherwise fails at once naming every missing flag. A backend that was disabled or is draining keeps that state when it registers again. Without --country the country is derived from the region (sa BR, us US, eu DE, ap JP), as the reference design does.'
  static override examples = [
    '<%= config.bin %> backend register --id sa-node-1 --app myapp --region sa --ip 10.50.1.1 --port 9000',
    '<%= config.bin %> backend register --id eu-fr-1 --app myapp --region eu --country FR --ip fd00::12 --port 9000 --weight 4 --soft-limit 200 --hard-limit 300',
    '<%= config.bin %> backend register --id us-1 --app myapp --region us --ip 10.50.2.7 --ip6 fd00:2::7 --port 9000',
    '<%= config.bin %> backend register --db ./routing.db --id dev-1 --app web --region sa --ip 127.0.0.1 --port 3000',
    '<%= config.bin %> backend register --id sa-node-2 --app myapp --region sa --ip 10.50.1.2 --port 9000 --check-type http --check-port 9001 --check-path /healthz',
  ]
  static override enableJsonFlag = true
  static override flags = {
    id: Flags.string({summary: 'Backend id: 1-64 of A-Z a-z 0-9 . _ -', helpValue: 'ID'}),
    app: Flags.string({summary: 'Application the backend serves', helpValue: 'APP'}),
    region: Flags.string({summary: `Region: ${REGIONS.join(', ')}`, options: [...REGIONS]}),
    ip: Flags.string({summary: 'Address the proxy dials (IPv4 or IPv6 literal, usually a WireGuard address)', helpValue: 'IP'}),
    ip6: Flags.string({summary: 'IPv6 address of a dual-stack backend, for DNS AAAA answers beside --ip (the proxy dials --ip)', helpValue: 'IP6'}),
    port: Flags.string({summary: 'TCP port the proxy dials', helpValue: 'PORT'}),
    country: Flags.string({summary: 'ISO 3166 alpha-2 country of the backend, e.g. FR [default: derived from the region]', helpValue: 'CC'}),
    weight: Flags.string({summary: 'Relative capacity, 0-1000 [default: 2]', helpValue: 'N'}),
    'soft-limit': Flags.string({summary: 'Connections at which the backend counts as fully loaded [default: 100]', helpValue: 'N'}),
    'hard-limit': Flags.string({summary: 'Connections per POP never exceeded; 0 = no limit [default: 150]', helpValue: 'N'}),
    'check-type': Flags.string({
      summary: "Active check of this backend: tcp, tls, http, or none (never checked) [default: the proxy's EDGEPROXY_HEALTH_CHECK_TYPE]",
      helpValue: 'TYPE',
      helpGroup: 'HEALTH CHECK',
    }),
    'check-port': Flags.string({
      summary: "Port the active check connects to, when it is not the data port [default: the proxy's EDGEPROXY_HEALTH_CHECK_PORT, else --port]",
      helpValue: 'PORT',
      helpGroup: 'HEALTH CHECK',
    }),
    'check-path': Flags.string({
      summary: "Path of an http check, e.g. /healthz [default: the proxy's EDGEPROXY_HEALTH_CHECK_PATH]",
      helpValue: 'PATH',
      helpGroup: 'HEALTH CHECK',
    }),
    ...storeFlags,
  }

  async run(): Promise<RegisterOutcome> {
    const {flags} = await this.parse(BackendRegister)
    const values: Record<string, string | undefined> = {...flags}
    const missing = REQUIRED.filter((k) => values[k] === undefined)
    if (missing.length > 0) {
      if (!canPrompt(this.jsonEnabled())) throw new MissingFlagError(missing.map((k) => `--${k}`), 'not a terminal')
      const prompter = inquirerPrompter()
      for (const key of missing) {
        values[key] =
          key === 'region'
            ? await prompter.select('Region', REGIONS.map((r) => ({value: r})))
            : await prompter.input(key === 'ip' ? 'Address the proxy dials (IP)' : key[0].toUpperCase() + key.slice(1), {
                validate: (v) => (v === '' ? `${key} is required` : true),
              })
      }
    }
    const body: Record<string, unknown> = {id: values.id, app: values.app, region: values.region, ip: values.ip, port: toNumber(values.port)}
    if (flags.country !== undefined) body.country = flags.country
    if (flags.ip6 !== undefined) body.ip6 = flags.ip6
    if (flags.weight !== undefined) body.weight = toNumber(flags.weight)
    if (flags['soft-limit'] !== undefined) body.soft_limit = toNumber(flags['soft-limit'])
    if (flags['hard-limit'] !== undefined) body.hard_limit = toNumber(flags['hard-limit'])
    const check: Record<string, unknown> = {}
    if (flags['check-type'] !== undefined) check.type = flags['check-type']
    if (flags['check-port'] !== undefined) check.port = toNumber(flags['check-port'])
    if (flags['check-path'] !== undefined) check.path = flags['check-path']
    if (Object.keys(check).length > 0) body.check = check
    const client = (await this.client(flags))
    const outcome = await client.register(body)
    this.log(`${outcome.created ? 'Registered' : 'Updated'} backend ${outcome.backend.id} at ${client.target}${outcome.country_derived ? ` (country ${outcome.backend.country} derived from region ${outcome.backend.region}; pass --country to set it)` : ''}`)
    this.log(backendDetail(outcome.backend))
    return outcome
  }
}

/** Numbers go to the validator as numbers when they look like one, so its message names the value. */
function toNumber(text: string | undefined): unknown {
  if (text === undefined) return undefined
  return /^-?\d+$/.test(text.trim()) ? Number(text) : text
}
