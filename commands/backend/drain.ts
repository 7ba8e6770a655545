import {stateCommand} from '../../src/cli/state-command.js'

export default stateCommand(
  'drain',
  'Drain a backend: no new connections, open ones continue',
  "Like HAProxy's drain state: the backend keeps its open connections and its affinity bindings move elsewhere. Undo with edgeproxy backend enable.",
)
