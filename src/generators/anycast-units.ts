// Renders the two systemd units of a POP's anycast gate. edgeproxy-anycast-setup.service runs before
// every BIRD start: the dummy interface with the addresses (never removed), the gate withdrawn and
// the BGP passwords handed to BIRD. edgeproxy-anycast.service runs the watcher and withdraws when it
// stops or crashes, without touching BIRD or its sessions.
import type {AnycastHostModel} from './anycast-model.js'
import type {HostModel} from './host-model.js'

function header(lines: readonly string[]): string {
  return lines.map((l) => `# ${l}\n`).join('')
}

export function renderAnycastSetupService(host: HostModel, anycast: AnycastHostModel, headerLines: readonly string[]): string {
  const ip = anycast.ipBin
  const dev = anycast.interface
  const prepare = [`${host.paths.edgeproxyBin} anycast prepare`, ...anycast.passwordEnvs.map((e) => `--password-env ${e}`)].join(' ')
  const lines = [
    '[Unit]',
    `Description=edgeproxy anycast of ${host.cluster} (${host.name}): interface ${dev}, fail-safe gate and BGP passwords for BIRD`,
    '# Runs again before every start of BIRD (RequiredBy=, no RemainAfterExit): BIRD always starts',
    '# withdrawn, whatever the gate said when it stopped, and the watcher announces once the proxy is up.',
    'Before=bird.service edgeproxy-anycast.service',
    'After=network-pre.target',
    '',
    '[Service]',
    'Type=oneshot',
    `EnvironmentFile=${anycast.envFile}`,
    ...(anycast.passwordEnvs.length > 0 ? [`EnvironmentFile=${anycast.passwordsEnvFile}`] : []),
    '# The addresses stay on the interface whatever the gate says: connections still arriving while the',
    '# withdraw spreads must be answered, not refused. Nothing here ever removes them.',
    `ExecStart=-${ip} link add ${dev} type dummy`,
    `ExecStart=${ip} link set ${dev} up`,
    ...anycast.interfaceAddresses.map((a) => `ExecStart=${ip} address replace ${a} dev ${dev}${a.includes(':') ? ' nodad' : ''}`),
    `ExecStart=${prepare}`,
    '',
    '[Install]',
    'RequiredBy=bird.service',
  ]
  return header(headerLines) + '\n' + lines.join('\n') + '\n'
}

export function renderAnycastWatchService(host: HostModel, anycast: AnycastHostModel, headerLines: readonly string[]): string {
  const bin = host.paths.edgeproxyBin
  const lines = [
    '[Unit]',
    `Description=edgeproxy anycast gate of ${host.cluster} (${host.name}): announce only while this POP can serve`,
    '# A process of its own, so a hung proxy is caught too. Ordering only: stopping or restarting it',
    '# never stops BIRD, so the BGP sessions stay up while the route is withdrawn.',
    'After=network-online.target bird.service edgeproxy.service edgeproxy-anycast-setup.service',
    'Wants=network-online.target bird.service',
    '',
    '[Service]',
    'Type=simple',
    'User=edgeproxy',
    'Group=edgeproxy',
    '# birdc needs the bird group to open BIRD\'s control socket.',
    'SupplementaryGroups=bird',
    `EnvironmentFile=${anycast.envFile}`,
    `ExecStart=${bin} anycast watch`,
    '# Runs after a stop and after a crash: the routes go, BIRD and its sessions stay.',
    `ExecStopPost=${bin} anycast withdraw`,
    'Restart=always',
    'RestartSec=2',
    'StateDirectory=edgeproxy',
    'RuntimeDirectory=edgeproxy-anycast',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ]
  return header(headerLines) + '\n' + lines.join('\n') + '\n'
}
