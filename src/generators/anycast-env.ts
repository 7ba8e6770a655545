// Renders the two env files of a POP's anycast gate: anycast.env (the watcher's EDGEPROXY_ANYCAST_*
// settings, derived from the topology; no secret in it) and bgp-passwords.env, the 0600 file the
// operator fills in on the host with the TCP-MD5 passwords. Neither is read by anything here.
import {formatSocketAddress} from './host-model.js'
import type {AnycastHostModel} from './anycast-model.js'

function secs(ms: number): string {
  return String(ms / 1000)
}

export function renderAnycastEnv(anycast: AnycastHostModel, headerLines: readonly string[]): string {
  const out = headerLines.map((l) => `# ${l}\n`)
  out.push(`# Settings of \`edgeproxy anycast\` on this POP (EnvironmentFile=${anycast.envFile} of both anycast units).\n`)
  out.push('# They come from the topology\'s anycast section: change them there and regenerate.\n')
  out.push('\n# What the watcher probes: the proxy listener on every anycast address, and the API\'s /health\n')
  out.push('# (status ok or degraded, at least one routable backend).\n')
  out.push(`EDGEPROXY_ANYCAST_PROBE_ADDRS=${anycast.probeTargets.map(formatSocketAddress).join(',')}\n`)
  out.push(`EDGEPROXY_ANYCAST_HEALTH_URL=${anycast.healthUrl}\n`)
  out.push(`EDGEPROXY_ANYCAST_INTERVAL_SECS=${secs(anycast.check.intervalMs)}\n`)
  out.push(`EDGEPROXY_ANYCAST_TIMEOUT_SECS=${secs(anycast.check.timeoutMs)}\n`)
  out.push(`EDGEPROXY_ANYCAST_RISE=${anycast.check.rise}\n`)
  out.push(`EDGEPROXY_ANYCAST_FALL=${anycast.check.fall}\n`)
  out.push(`EDGEPROXY_ANYCAST_DRAIN_SECS=${anycast.drainSecs}\n`)
  out.push('\n# Files (these are also the defaults, so commands typed on the POP need no flags).\n')
  out.push(`EDGEPROXY_ANYCAST_GATE_FILE=${anycast.paths.gateFile}\n`)
  out.push(`EDGEPROXY_ANYCAST_MAINTENANCE_FILE=${anycast.paths.maintenanceFile}\n`)
  out.push(`EDGEPROXY_ANYCAST_STATUS_FILE=${anycast.paths.statusFile}\n`)
  out.push(`EDGEPROXY_ANYCAST_BIRD_SOCKET=${anycast.paths.birdSocket}\n`)
  out.push(`EDGEPROXY_ANYCAST_BIRD_PASSWORDS_FILE=${anycast.paths.birdPasswordsFile}\n`)
  return out.join('')
}

export function renderBgpPasswordsEnv(anycast: AnycastHostModel, headerLines: readonly string[]): string {
  const out = headerLines.map((l) => `# ${l}\n`)
  out.push(`# TCP-MD5 passwords of this POP's BGP sessions: fill them in on the host, as ${anycast.passwordsEnvFile}\n`)
  out.push('# (mode 0600, root). Never put them in the topology or in bird.conf: edgeproxy-anycast-setup.service\n')
  out.push(`# writes them as BIRD constants to ${anycast.paths.birdPasswordsFile} (0640, BIRD's group) before BIRD starts,\n`)
  out.push('# and refuses to start BIRD while one is empty. Quotes, backslashes and newlines are not allowed; 80 bytes at most.\n')
  for (const env of anycast.passwordEnvs) {
    const users = anycast.bird.peers.filter((p) => p.passwordEnv === env).map((p) => `${p.address} (AS${p.asn})`)
    out.push(`\n# ${users.join(', ')}\n`)
    out.push(`${env}=\n`)
  }
  return out.join('')
}
