// Renders docker-compose.yml: the same host as the systemd units, with Corrosion as a sidecar of
// edgeproxy. Both containers use the host's network stack, for reasons the file itself explains.
// Container paths equal the paths in corrosion.toml, so the one config serves both ways to run.
import path from 'node:path'

import {formatSocketAddress, type HostModel} from './host-model.js'

/** Where edgeproxy keeps what must survive a restart (the unit's StateDirectory=). */
export const STATE_DIR = '/var/lib/edgeproxy'

/** A YAML double-quoted scalar; JSON strings are valid YAML. */
function q(value: string): string {
  return JSON.stringify(value)
}

export function renderCompose(host: HostModel, headerLines: readonly string[]): string {
  const agent = host.corrosion
  const gossip = formatSocketAddress(agent.gossipAddr)
  const api = formatSocketAddress(agent.apiAddr)
  const binds = new Map<string, string>() // container path → mount spec
  binds.set(host.paths.corrosionConfig, `./corrosion.toml:${host.paths.corrosionConfig}:ro`)
  binds.set(agent.schemaDir, `./schema:${agent.schemaDir}:ro`)
  for (const dir of [path.posix.dirname(agent.dbPath), path.posix.dirname(agent.adminPath)]) binds.set(dir, `${dir}:${dir}`)
  if (!agent.transport.plaintext) {
    const tls = agent.transport.tls
    for (const file of [tls.certFile, tls.keyFile, tls.caFile, tls.clientCertFile, tls.clientKeyFile]) {
      const dir = path.posix.dirname(file)
      binds.set(dir, `${dir}:${dir}:ro`)
    }
  }
  const volumes = [...binds.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, spec]) => `      - ${q(spec)}\n`)

  const out: string[] = headerLines.map((l) => `# ${l}\n`)
  out.push('#\n')
  out.push('# Both services use the host network (network_mode: host), on purpose:\n')
  out.push(`# - Corrosion gossips on ${gossip}, an address only the host has${host.tunnelUnit ? ` (${host.tunnelUnit.name.replace(/^wg-quick@|\.service$/g, '')} must be up first)` : ''}.\n`)
  out.push(`# - Its HTTP API then stays on ${api}, the host's loopback, which the edgeproxy container shares:\n`)
  out.push('#   reachable by edgeproxy, never published, and edgeproxy.env works unchanged.\n')
  out.push('# - edgeproxy sees the real client addresses (published ports would NAT them and break geo\n')
  out.push('#   routing), and the ufw rules of firewall.sh apply (Docker-published ports bypass ufw).\n')
  out.push('# Images: Corrosion publishes no image. Build one from a checkout of github.com/superfly/corrosion:\n')
  out.push('#   docker build -f examples/fly/Dockerfile -t corrosion:latest .\n')
  out.push('# (any image with the corrosion binary on PATH works). Both Dockerfiles in that repository run an\n')
  out.push('# entrypoint.sh that rewrites /etc/corrosion/config.toml, so `entrypoint:` below runs the binary\n')
  out.push('# directly and the read-only mounted corrosion.toml is used as is. Build edgeproxy from this\n')
  out.push('# repository, or point CORROSION_IMAGE / EDGEPROXY_IMAGE at your registry. Start: docker compose up -d\n')
  out.push(`name: ${q(`edgeproxy-${host.cluster}-${host.name}`)}\n`)
  out.push('services:\n')
  out.push('  corrosion:\n')
  out.push('    image: "${CORROSION_IMAGE:-corrosion:latest}"\n')
  // entrypoint, not command: the image's own entrypoint script would rewrite the config first.
  out.push(`    entrypoint: [${['corrosion', '--config', host.paths.corrosionConfig, 'agent'].map(q).join(', ')}]\n`)
  out.push('    network_mode: host\n')
  out.push('    restart: unless-stopped\n')
  out.push('    volumes:\n')
  out.push(...volumes)
  out.push('  edgeproxy:\n')
  out.push('    image: "${EDGEPROXY_IMAGE:-edgeproxy:latest}"\n')
  out.push(`    command: [${['edgeproxy', 'start'].map(q).join(', ')}]\n`)
  out.push('    network_mode: host\n')
  out.push('    restart: unless-stopped\n')
  out.push('    # The saved routing table (EDGEPROXY_CORROSION_STATE_FILE) must outlive the container.\n')
  out.push('    volumes:\n')
  out.push(`      - ${q(`${STATE_DIR}:${STATE_DIR}`)}\n`)
  out.push('    env_file:\n')
  out.push(`      - ${q('./edgeproxy.env')}\n`)
  out.push('    depends_on:\n')
  out.push('      corrosion:\n')
  out.push('        condition: service_started\n')
  out.push(`    stop_grace_period: ${q(`${host.shutdownTimeoutSecs + 5}s`)}\n`)
  return out.join('')
}
