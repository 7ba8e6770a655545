// Renders docker-compose.yml: the same host as the systemd units, with Corrosion as a sidecar of
// edgeproxy. Both containers use the host's network stack, for reasons the file itself explains.
// Container paths equal the paths in corrosion.toml, so the one config serves both ways to run.
import path from 'node:path'

import {formatSocketAddress, type HostModel} from './host-model.js'

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
    for (const file of [agent.transport.tls.certFile, agent.transport.tls.keyFile, agent.transport.tls.caFile]) {
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
  out.push('# Images: build Corrosion from github.com/superfly/corrosion and edgeproxy from this repository,\n')
  out.push('# or point CORROSION_IMAGE / EDGEPROXY_IMAGE at your registry. Start: docker compose up -d\n')
  out.push(`name: ${q(`edgeproxy-${host.cluster}-${host.name}`)}\n`)
  out.push('services:\n')
  out.push('  corrosion:\n')
  out.push('    image: "${CORROSION_IMAGE:-corrosion:latest}"\n')
  out.push(`    command: [${['corrosion', '--config', host.paths.corrosionConfig, 'agent'].map(q).join(', ')}]\n`)
  out.push('    network_mode: host\n')
  out.push('    restart: unless-stopped\n')
  out.push('    volumes:\n')
  out.push(...volumes)
  out.push('  edgeproxy:\n')
  out.push('    image: "${EDGEPROXY_IMAGE:-edgeproxy:latest}"\n')
  out.push(`    command: [${['edgeproxy', 'start'].map(q).join(', ')}]\n`)
  out.push('    network_mode: host\n')
  out.push('    restart: unless-stopped\n')
  out.push('    env_file:\n')
  out.push(`      - ${q('./edgeproxy.env')}\n`)
  out.push('    depends_on:\n')
  out.push('      corrosion:\n')
  out.push('        condition: service_started\n')
  out.push(`    stop_grace_period: ${q(`${host.shutdownTimeoutSecs + 5}s`)}\n`)
  return out.join('')
}
