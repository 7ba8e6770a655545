// The errors `edgeproxy anycast` can meet, each with a stable EP_* code and the fix: BIRD not
// reachable (exit 4), BIRD refusing its configuration, a gate file or password that cannot be
// written or is missing (exit 3).
import {InvalidInputError, UnavailableError} from '../errors.js'

/** birdc cannot be run, or BIRD's control socket does not answer. */
export class BirdUnavailableError extends UnavailableError {
  constructor(socket: string, reason: string, options: {cause?: unknown} = {}) {
    super('EP_BIRD_UNAVAILABLE', `cannot reach BIRD at ${JSON.stringify(socket)}: ${reason}`, {
      field: '--bird-socket',
      cause: options.cause,
      suggestion: 'start BIRD (systemctl start bird), or pass --bird-socket (EDGEPROXY_ANYCAST_BIRD_SOCKET) / --birdc (EDGEPROXY_ANYCAST_BIRDC); the user needs the bird group',
    })
  }
}

/** BIRD answered but refused the command, e.g. a configuration that does not parse. */
export class BirdRefusedError extends InvalidInputError {
  constructor(command: string, reply: string) {
    super('EP_BIRD_REFUSED', `BIRD refused "${command}": ${reply}`, {
      suggestion: 'check the configuration with bird -p -c /etc/bird/bird.conf and the files it includes; regenerate them with edgeproxy pop generate-config',
    })
  }
}

/** A file of the gate (gate, maintenance, status, passwords) cannot be read or written. */
export class AnycastFileError extends InvalidInputError {
  constructor(file: string, flag: string, reason: string, cause?: unknown) {
    super('EP_ANYCAST_FILE', `cannot write ${JSON.stringify(file)}: ${reason}`, {
      field: flag,
      cause,
      suggestion: `run as a user that may write it (the edgeproxy user owns /var/lib/edgeproxy), or pass ${flag}`,
    })
  }
}

/** A BGP password variable is missing, empty, or holds what BIRD cannot take. */
export class BgpPasswordError extends InvalidInputError {
  constructor(env: string, reason: string) {
    super('EP_BGP_PASSWORD_INVALID', `BGP password ${env} ${reason}`, {
      field: env,
      suggestion: `set ${env} in /etc/edgeproxy/bgp-passwords.env (mode 0600): the password your BGP peer gave you, at most 80 bytes, without quotes, backslashes or newlines`,
    })
  }
}
