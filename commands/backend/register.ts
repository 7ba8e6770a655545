import {BackendCommand, missingRegisterFlags, registerFlags, storeFlags} from '../../src/cli/backend-command.js'
import {registerBackend, type RegisterValues} from '../../src/cli/backend-actions.js'
import {canPrompt, inquirerPrompter, MissingFlagError} from '../../src/cli/prompts/prompter.js'
import {askRegisterValues} from '../../src/cli/prompts/register-prompts.js'
import type {RegisterOutcome} from '../../src/discovery/backend-client.js'

export default class BackendRegister extends BackendCommand {
  static override summary = 'Register a backend, or update it when the id exists (starts its heartbeat lease)'
  static override description =
    'Asks for missing required values when run in a terminal, checking each answer as it is given; otherwise fails at once naming every missing flag. A backend that was disabled or is draining keeps that state when it registers again. Without --country the country is derived from the region (sa BR, us US, eu DE, ap JP), as the reference design does. The registration is a lease (EDGEPROXY_HEARTBEAT_TTL_SECS of the proxy, printed): heartbeats must follow (edgeproxy backend heartbeat ID --every …) or the backend expires.'
  static override examples = [
    '<%= config.bin %> backend register --id sa-node-1 --app myapp --region sa --ip 10.50.1.1 --port 9000',
    '<%= config.bin %> backend register --id eu-fr-1 --app myapp --region eu --country FR --ip fd00::12 --port 9000 --weight 4 --soft-limit 200 --hard-limit 300',
    '<%= config.bin %> backend register --id us-1 --app myapp --region us --ip 10.50.2.7 --ip6 fd00:2::7 --port 9000',
    '<%= config.bin %> backend register --db ./routing.db --id dev-1 --app web --region sa --ip 127.0.0.1 --port 3000',
    '<%= config.bin %> backend register --id sa-node-2 --app myapp --region sa --ip 10.50.1.2 --port 9000 --check-type http --check-port 9001 --check-path /healthz',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...registerFlags,
    ...storeFlags,
  }

  async run(): Promise<RegisterOutcome> {
    const {flags} = await this.parse(BackendRegister)
    let values: Record<string, string | undefined> = {...flags}
    const missing = missingRegisterFlags(values)
    if (missing.length > 0) {
      if (!canPrompt(this.jsonEnabled())) throw new MissingFlagError(missing.map((k) => `--${k}`), 'not a terminal')
      values = {...values, ...(await askRegisterValues(inquirerPrompter(), missing))}
    }
    return registerBackend(await this.client(flags), values as unknown as RegisterValues, this.io())
  }
}
