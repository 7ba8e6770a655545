import {stateCommand} from '../../src/cli/state-command.js'

export default stateCommand('enable', 'Put a backend back in service (clears disable and drain)', 'Sets healthy = 1 and draining = 0.')
