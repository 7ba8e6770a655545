// Where the anycast gate's files live on a POP. The generated units and bird.conf use these, and so
// do the defaults of `edgeproxy anycast`, so commands typed on a POP need no flags.
export const DEFAULT_ANYCAST_PATHS = {
  /** Included by bird.conf; rewritten by the watcher (the edgeproxy user owns /var/lib/edgeproxy). */
  gateFile: '/var/lib/edgeproxy/anycast-gate.conf',
  /** Present = keep withdrawn (`anycast drain`, `anycast withdraw --hold`), across restarts. */
  maintenanceFile: '/var/lib/edgeproxy/anycast.disabled',
  /** The watcher's last probes and state, for `anycast status` (RuntimeDirectory of its unit). */
  statusFile: '/run/edgeproxy-anycast/status.json',
  birdSocket: '/run/bird/bird.ctl',
  /** BGP passwords as BIRD constants, written by `anycast prepare` from the environment. */
  birdPasswordsFile: '/etc/bird/edgeproxy-bgp-passwords.conf',
} as const
