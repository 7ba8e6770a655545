// The flags every command that talks to a Corrosion agent shares: where it is and its token.
import {Flags} from '@oclif/core'

import {DEFAULT_CORROSION_URL} from '../corrosion/client.js'

export {DEFAULT_CORROSION_URL}

export const corrosionAgentFlags = {
  'api-url': Flags.string({
    summary: 'Corrosion agent HTTP API',
    env: 'EDGEPROXY_CORROSION_API_URL',
    default: DEFAULT_CORROSION_URL,
    helpValue: 'URL',
  }),
  token: Flags.string({
    summary: "The agent's api.authz.bearer-token; prefer the variable (flags show in ps)",
    env: 'EDGEPROXY_CORROSION_TOKEN',
    helpValue: 'TOKEN',
  }),
}
