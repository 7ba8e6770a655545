// Renders edgeproxy.env: the EDGEPROXY_* settings `edgeproxy start` reads on this host, in the
// KEY=value form both systemd (EnvironmentFile=) and docker compose (env_file:) accept. It holds
// the API and Corrosion tokens, so the plan writes it 0600. It knows nothing of how start parses them.
import {STATE_DIR} from './compose.js'
import {formatSocketAddress, type HostModel, type SocketAddress} from './host-model.js'

// Characters that would need quoting in systemd or be interpolated by compose (`$`): refused rather
// than quoted, since no value this generator writes has a reason to hold them.
const UNSAFE = /[\s"'`\\$#]/

function entry(key: string, value: string): string {
  if (value === '' || UNSAFE.test(value)) throw new Error(`${key} value ${JSON.stringify(value)} cannot be written to an env file unquoted`)
  return `${key}=${value}\n`
}

/** A listen address a client on this host can dial: the unspecified address becomes loopback. */
function reachable(address: SocketAddress): SocketAddress {
  if (address.host === '0.0.0.0') return {host: '127.0.0.1', port: address.port}
  if (address.host === '::') return {host: '::1', port: address.port}
  return address
}

export function renderEdgeproxyEnv(host: HostModel, headerLines: readonly string[]): string {
  const e = host.edgeproxy
  const out: string[] = headerLines.map((l) => `# ${l}\n`)
  out.push(`# Read by edgeproxy.service (EnvironmentFile=${host.paths.edgeproxyEnv}) and docker-compose.yml (env_file).\n`)
  out.push('# Holds bearer tokens: keep it mode 0600, owned by root.\n')
  out.push('\n# This POP\n')
  out.push(entry('EDGEPROXY_REGION', host.region))
  out.push(entry('EDGEPROXY_LISTEN_ADDR', formatSocketAddress(e.listen)))
  out.push(entry('EDGEPROXY_SHUTDOWN_TIMEOUT_SECS', String(host.shutdownTimeoutSecs)))
  out.push('\n# TLS listener, off. To terminate TLS here, set the certificate and key (PEM), turn it on,\n')
  out.push("# and run the TLS port's rule in firewall.sh (written commented out: nothing listens there yet).\n")
  out.push(entry('EDGEPROXY_TLS_ENABLED', 'false'))
  out.push(entry('EDGEPROXY_TLS_LISTEN_ADDR', formatSocketAddress(e.tlsListen)))
  out.push('# EDGEPROXY_TLS_CERT=/etc/edgeproxy/tls/fullchain.pem\n')
  out.push('# EDGEPROXY_TLS_KEY=/etc/edgeproxy/tls/privkey.pem\n')
  out.push('\n# Auto-Discovery API: backends register here. Every call but GET /health needs the token.\n')
  out.push(entry('EDGEPROXY_API_ENABLED', 'true'))
  out.push(entry('EDGEPROXY_API_LISTEN_ADDR', formatSocketAddress(e.apiListen)))
  out.push(entry('EDGEPROXY_API_TOKEN', e.apiToken))
  out.push('# Where the edgeproxy commands on this host (backend list, route explain, status) find the API.\n')
  out.push(entry('EDGEPROXY_API_URL', `http://${formatSocketAddress(reachable(e.apiListen))}`))
  out.push('\n# Routing table from the local Corrosion agent (EDGEPROXY_DB_PATH is then ignored).\n')
  out.push(entry('EDGEPROXY_CORROSION_ENABLED', 'true'))
  out.push(entry('EDGEPROXY_CORROSION_API_URL', e.corrosionApiUrl))
  out.push(entry('EDGEPROXY_CORROSION_TOKEN', e.corrosionToken))
  out.push('# The last good routing table, so a restart while the agent is down still routes (0600).\n')
  out.push(entry('EDGEPROXY_CORROSION_STATE_FILE', `${STATE_DIR}/routing-state.json`))
  if (host.corrosion.bootstrap.length > 0) {
    out.push("# /health is degraded while the agent sees fewer other agents alive (cut off from the cluster).\n")
    out.push(entry('EDGEPROXY_CORROSION_MIN_MEMBERS', '1'))
  } else {
    out.push('# A one-agent cluster: no other agent to see, so the members check is off.\n')
    out.push(entry('EDGEPROXY_CORROSION_MIN_MEMBERS', '0'))
  }
  if (e.dns) {
    out.push(`\n# Internal DNS: <app>.${e.dns.domain} from the routing table (resolved-internal.conf sends the domain here).\n`)
    out.push(entry('EDGEPROXY_DNS_ENABLED', 'true'))
    out.push(entry('EDGEPROXY_DNS_LISTEN_ADDR', e.dns.listen.map(formatSocketAddress).join(',')))
  }
  if (e.metrics) {
    out.push('\n# Prometheus: GET /metrics on the WireGuard address (firewall.sh opens it on the tunnel only). The token\n')
    out.push('# reads metrics and nothing else: give it to Prometheus instead of the API token (README: scrape config).\n')
    out.push(entry('EDGEPROXY_METRICS_LISTEN_ADDR', formatSocketAddress(e.metrics.listen)))
    out.push(entry('EDGEPROXY_METRICS_TOKEN', e.metrics.token))
  }
  if (host.sixpn) {
    out.push(`\n# 6PN: this POP's /64 is ${host.sixpn.subnet} (id ${host.sixpn.popId}); every POP routes it over WireGuard.\n`)
    out.push(`# Backends here bind an address inside it: edgeproxy pop address --pop ${host.name} --app APP --instance N\n`)
    out.push(`# and register that address (--ip). Reserved: ${host.sixpn.wireguardAddress} (WireGuard), ${host.sixpn.dnsAddress} (internal DNS).\n`)
  }
  return out.join('')
}
