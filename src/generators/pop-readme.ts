// Renders the README.md of one host's folder: what it is, where each file goes, the start order
// (tunnel, firewall, Corrosion, edgeproxy) and the checks after each step. Tokens are never
// written here; commands read them from the installed env file instead.
import {renderAnycastReadmeSection} from './anycast-files.js'
import {formatSocketAddress, type HostModel, type MetricsModel} from './host-model.js'
import {RESOLVED_DROPIN_FILE, RESOLVED_DROPIN_PATH} from './resolved-dropin.js'

export interface ReadmeFile {
  /** Path inside the folder. */
  path: string
  installAs: string
  mode: string
}

function table(rows: ReadonlyArray<readonly string[]>): string {
  const [head, ...body] = rows
  return [`| ${head!.join(' | ')} |`, `|${head!.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n'
}

/** Where each generated file goes on the host. */
export function installLocations(host: HostModel): ReadmeFile[] {
  const files: ReadmeFile[] = []
  if (host.wireguard) files.push({path: `${host.wireguard.interface}.conf`, installAs: `/etc/wireguard/${host.wireguard.interface}.conf`, mode: '0600 root'})
  files.push(
    {path: 'corrosion.toml', installAs: host.paths.corrosionConfig, mode: '0640 root:corrosion'},
    {path: 'schema/backends.sql', installAs: `${host.corrosion.schemaDir}/backends.sql`, mode: '0644'},
    {path: 'corrosion.service', installAs: '/etc/systemd/system/corrosion.service', mode: '0644'},
    {path: 'edgeproxy.env', installAs: host.paths.edgeproxyEnv, mode: '0600 root'},
    {path: 'edgeproxy.service', installAs: '/etc/systemd/system/edgeproxy.service', mode: '0644'},
    {path: 'firewall.sh', installAs: '(run once as root)', mode: '0755'},
    {path: 'docker-compose.yml', installAs: '(instead of the two units)', mode: '0644'},
  )
  if (host.edgeproxy.dns) files.push({path: RESOLVED_DROPIN_FILE, installAs: RESOLVED_DROPIN_PATH, mode: '0644'})
  return files
}

export function renderPopReadme(host: HostModel, headerLines: readonly string[]): string {
  const a = host.corrosion
  const e = host.edgeproxy
  const wg = host.wireguard
  const cfg = host.paths.corrosionConfig
  const gossipMode = a.transport.plaintext ? (wg ? 'plaintext inside WireGuard' : 'plaintext') : 'TLS'
  const peers = a.bootstrap.length === 0 ? 'none (first agent: the others join it)' : a.bootstrap.map((b, i) => (host.bootstrapPeerNames[i] ? `${host.bootstrapPeerNames[i]} (${b})` : b)).join(', ')
  const out: string[] = []
  out.push(`# ${host.name}: cluster ${host.cluster}\n\n`)
  out.push(headerLines.map((l) => `${l}\n`).join('') + '\n')
  out.push(
    table([
      ['', ''],
      ['region', `${host.region}${host.country ? ` (country ${host.country})` : ''}`],
      ...(wg ? [['WireGuard', `${wg.interface} ${wg.address}, UDP ${wg.listenPort}, public key \`${wg.publicKey}\``]] : []),
      ...(host.sixpn ? [['6PN', `${host.sixpn.subnet} (id ${host.sixpn.popId} of ${host.sixpn.network}): ${host.sixpn.wireguardAddress} on ${wg?.interface ?? 'the tunnel'}, ${host.sixpn.dnsAddress} for internal DNS`]] : []),
      ['Corrosion gossip', `${formatSocketAddress(a.gossipAddr)} (QUIC over UDP, ${gossipMode})`],
      ['bootstrap peers', peers],
      ['Corrosion API', `http://${formatSocketAddress(a.apiAddr)} (bearer token)`],
      ['proxy', `${formatSocketAddress(e.listen)} (TCP), ${formatSocketAddress(e.tlsListen)} (TLS, off until a certificate is set)`],
      ['Auto-Discovery API', `${formatSocketAddress(e.apiListen)} (bearer token)`],
      ...(e.metrics ? [['Prometheus metrics', `http://${formatSocketAddress(e.metrics.listen)}/metrics (read-only bearer token, over WireGuard only)`]] : []),
      ...(e.dns ? [['internal DNS', `${e.dns.listen.map(formatSocketAddress).join(', ')} (UDP and TCP), for *.${e.dns.domain}`]] : []),
    ]),
  )
  out.push('\n## Files\n\n')
  out.push(table([['file', 'install as', 'mode'], ...installLocations(host).map((f) => [`\`${f.path}\``, `\`${f.installAs}\``.replace(/`\((.*)\)`/, '($1)'), f.mode])]))
  const secretFiles = ['corrosion.toml', 'edgeproxy.env', ...(wg ? [`${wg.interface}.conf`] : [])]
  out.push(`\n${secretFiles.slice(0, -1).join(', ')} and ${secretFiles[secretFiles.length - 1]} hold secrets: copy them over SSH only and keep their modes.\n`)

  let step = 0
  const next = () => `${++step}.`
  out.push('\n## Start order\n\n')
  out.push(`${next()} Service users and directories:\n\n`)
  out.push('   ```sh\n')
  out.push('   useradd --system --no-create-home --shell /usr/sbin/nologin corrosion\n')
  out.push('   useradd --system --no-create-home --shell /usr/sbin/nologin edgeproxy\n')
  out.push(`   install -d -m 0755 ${dirOf(cfg)} ${a.schemaDir} ${dirOf(host.paths.edgeproxyEnv)}\n`)
  if (wg) out.push(`   install -m 0600 ${wg.interface}.conf /etc/wireguard/${wg.interface}.conf\n`)
  out.push(`   install -m 0640 -g corrosion corrosion.toml ${cfg}\n`)
  out.push(`   install -m 0644 schema/backends.sql ${a.schemaDir}/backends.sql\n`)
  out.push(`   install -m 0600 edgeproxy.env ${host.paths.edgeproxyEnv}\n`)
  out.push('   install -m 0644 corrosion.service edgeproxy.service /etc/systemd/system/\n')
  out.push('   systemctl daemon-reload\n')
  out.push('   ```\n')
  if (!a.transport.plaintext) {
    const tls = a.transport.tls
    out.push(`${next()} Gossip TLS certificates. Once per cluster, somewhere safe: \`corrosion tls ca generate\` (keep ca_key.pem off the POPs).\n`)
    out.push(`   For this host: \`corrosion tls server generate ${a.gossipAddr.host} --ca-key ca_key.pem --ca-cert ca_cert.pem\`, then install\n`)
    out.push(`   server_cert.pem as \`${tls.certFile}\`, server_key.pem as \`${tls.keyFile}\` (0640 root:corrosion) and ca_cert.pem as \`${tls.caFile}\`.\n`)
    out.push(`   Mutual TLS: \`corrosion tls client generate --ca-key ca_key.pem --ca-cert ca_cert.pem\`, then install client_cert.pem as\n`)
    out.push(`   \`${tls.clientCertFile}\` and client_key.pem as \`${tls.clientKeyFile}\` (0640 root:corrosion). Agents accept only peers with a client\n`)
    out.push('   certificate from this CA, and check a peer\'s server certificate names the IP they dial (corrosion.toml says exactly what).\n')
  }
  if (wg) {
    out.push(`${next()} WireGuard: \`systemctl enable --now wg-quick@${wg.interface}\`.\n`)
    out.push(`   Check: \`wg show ${wg.interface}\` lists ${wg.peers.length === 0 ? 'no peers (one POP only)' : `every peer (${wg.peers.map((p) => p.name).join(', ')}) with a recent "latest handshake" once it is up`};\n`)
    out.push(`   \`ping -c 1 <peer WireGuard address>\`${wg.peers[0] ? `, e.g. \`ping -c 1 ${wg.peers[0].allowedIp.replace(/\/32$/, '')}\`` : ''}.\n`)
  } else if (host.tunnelUnit) {
    out.push(`${next()} Bring up the private network first (\`${host.tunnelUnit.name}\`): gossip binds ${a.gossipAddr.host}, which must exist.\n`)
  }
  out.push(`${next()} Firewall: \`sh firewall.sh\` (set SSH_PORT if SSH is not on 22). Check: \`ufw status verbose\`.\n`)
  out.push(`${next()} Corrosion: \`systemctl enable --now corrosion\`.\n`)
  out.push('   Check: `journalctl -u corrosion -n 50` shows no error, and\n')
  out.push(`   \`corrosion --config ${cfg} cluster members\` lists the other agents once they run.\n`)
  out.push(`${next()} edgeproxy: \`systemctl enable --now edgeproxy\`. Check:\n\n`)
  out.push('   ```sh\n')
  out.push(`   set -a; . ${host.paths.edgeproxyEnv}; set +a\n`)
  out.push('   edgeproxy corrosion status --api-url "$EDGEPROXY_CORROSION_API_URL" --token "$EDGEPROXY_CORROSION_TOKEN"\n')
  out.push(`   curl -s http://${formatSocketAddress(e.apiListen)}/health\n`)
  out.push('   edgeproxy backend list     # the API from EDGEPROXY_API_URL and EDGEPROXY_API_TOKEN in that file\n')
  out.push('   ```\n\n')
  out.push('   `corrosion status` must report the agent reachable, the token accepted, the other members and the backends table;\n')
  out.push('   `/health` must answer `"status":"ok"`; `backend list` shows the backends every POP registered.\n')
  if (e.dns) {
    const at = formatSocketAddress(e.dns.resolver)
    out.push(`${next()} Internal DNS: hosts of this POP resolve \`<app>.${e.dns.domain}\` through systemd-resolved:\n\n`)
    out.push('   ```sh\n')
    out.push(`   install -D -m 0644 ${RESOLVED_DROPIN_FILE} ${RESOLVED_DROPIN_PATH}\n`)
    out.push('   systemctl restart systemd-resolved\n')
    out.push(`   edgeproxy dns query _apps.${e.dns.domain} --type TXT --server ${at}\n`)
    out.push(`   resolvectl query -t TXT _apps.${e.dns.domain}\n`)
    out.push('   ```\n\n')
    out.push(`   Both must list the apps that have a routable backend (an empty answer while none has). Backend hosts\n`)
    out.push(`   that reach ${e.dns.resolver.host} install the same drop-in.\n`)
  }
  if (e.metrics) out.push(renderScrapeSection(host, e.metrics, next()))
  out.push('\nStopping or restarting corrosion.service also stops or restarts edgeproxy.service (`Requires=`).\n')
  if (host.sixpn) {
    const s = host.sixpn
    out.push('\n## 6PN: IPv6 addresses for backends\n\n')
    out.push(`Every POP routes ${s.subnet} to this host over WireGuard, so a backend here that binds an address inside it\n`)
    out.push('is reachable from every POP without changing the mesh. Where the secrets file is (where pop generate-config ran),\n')
    out.push(`derive one address per app and instance: \`edgeproxy pop address --pop ${host.name} --app myapp --instance 1\`. Then on this host:\n\n`)
    out.push('```sh\n')
    out.push('ip -6 addr add <address>/128 dev lo      # or on the bridge the backends sit on\n')
    out.push(`set -a; . ${host.paths.edgeproxyEnv}; set +a\n`)
    out.push(`edgeproxy backend register --id ${host.name}-myapp-1 --app myapp --region ${host.region} --ip <address> --port 9000\n`)
    out.push('```\n\n')
    out.push('The backend must listen on that address (or on `::`): one bound to 0.0.0.0 only is IPv4-only and unreachable over 6PN.\n')
  }
  out.push('\n## docker compose instead of the units\n\n')
  out.push(`Do the steps up to the firewall, then \`docker compose up -d\` in this folder (with corrosion.toml and schema/ next to it).\n`)
  out.push('The same checks apply; `docker compose logs corrosion` replaces journalctl.\n')
  if (host.anycast) out.push(renderAnycastReadmeSection(host.anycast))
  return out.join('')
}

/** The Prometheus step: the token file, a scrape config naming every POP, and how to check it. */
export function renderScrapeConfig(metrics: MetricsModel, tokenFile: string): string {
  const out: string[] = []
  out.push('scrape_configs:\n')
  out.push('  - job_name: edgeproxy\n')
  out.push('    scrape_interval: 15s\n')
  out.push('    authorization:\n')
  out.push(`      credentials_file: ${tokenFile}\n`)
  out.push('    static_configs:\n')
  for (const t of metrics.targets) {
    out.push(`      - targets: ['${formatSocketAddress(t.address)}']\n`)
    out.push(`        labels: {pop: ${t.pop}, region: ${t.region}}\n`)
  }
  return out.join('')
}

export const PROMETHEUS_TOKEN_FILE = '/etc/prometheus/edgeproxy-metrics.token'

function renderScrapeSection(host: HostModel, metrics: MetricsModel, step: string): string {
  const at = formatSocketAddress(metrics.listen)
  const out: string[] = []
  out.push(`${step} Prometheus: every POP serves \`/metrics\` on its WireGuard address, so the Prometheus server runs on a host\n`)
  out.push('   inside the WireGuard network (a POP, or a peer you add). The metrics token is the same on every POP and reads\n')
  out.push('   nothing but metrics. On the Prometheus host, with this folder\'s edgeproxy.env at hand:\n\n')
  out.push('   ```sh\n')
  out.push(`   sed -n 's/^EDGEPROXY_METRICS_TOKEN=//p' edgeproxy.env > ${PROMETHEUS_TOKEN_FILE}\n`)
  out.push(`   chown root:prometheus ${PROMETHEUS_TOKEN_FILE} && chmod 0640 ${PROMETHEUS_TOKEN_FILE}\n`)
  out.push('   ```\n\n')
  out.push('   and add this job to prometheus.yml (`promtool check config` it, then reload Prometheus):\n\n')
  out.push('   ```yaml\n')
  out.push(renderScrapeConfig(metrics, PROMETHEUS_TOKEN_FILE).replace(/^(?=.)/gm, '   '))
  out.push('   ```\n\n')
  out.push(`   Check from this host: \`set -a; . ${host.paths.edgeproxyEnv}; set +a; curl -s -H "Authorization: Bearer $EDGEPROXY_METRICS_TOKEN" http://${at}/metrics | head\`;\n`)
  out.push('   in Prometheus, `up{job="edgeproxy"}` is 1 for every POP.\n')
  return out.join('')
}

function dirOf(file: string): string {
  const i = file.lastIndexOf('/')
  return i <= 0 ? '/' : file.slice(0, i)
}
