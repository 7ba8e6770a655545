import {stateCommand} from '../../src/cli/state-command.js'

export default stateCommand(
  'disable',
  'Take a backend out of service (no new connections; it stays registered)',
  "Sets healthy = 0, like HAProxy's maint state; open connections continue. Undo with edgeproxy backend enable.",
)
