// Renders the two systemd units of a host: corrosion.service (after the tunnel its gossip address
// lives on) and edgeproxy.service (Requires= and After= corrosion.service, settings from an
// EnvironmentFile). Paths and ports come from the HostModel; nothing here touches the system.
import path from 'node:path'

import {formatSocketAddress, type HostModel} from './host-model.js'

function header(lines: readonly string[]): string {
  return lines.map((l) => `# ${l}\n`).join('')
}

/** systemd-managed directories for `dir`: StateDirectory= under /var/lib, RuntimeDirectory= under /run. */
function managedDirectory(dir: string): {key: 'StateDirectory' | 'RuntimeDirectory'; value: string} | undefined {
  for (const [prefix, key] of [
    ['/var/lib/', 'StateDirectory'],
    ['/run/', 'RuntimeDirectory'],
    ['/var/run/', 'RuntimeDirectory'],
  ] as const) {
    if (dir.startsWith(prefix) && dir.length > prefix.length) return {key, value: dir.slice(prefix.length)}
  }
  return undefined
}

function writableDirectories(dirs: readonly string[]): string[] {
  const lines = new Set<string>()
  for (const dir of [...new Set(dirs)].sort()) {
    const managed = managedDirectory(dir)
    lines.add(managed ? `${managed.key}=${managed.value}` : `ReadWritePaths=${dir}`)
  }
  return [...lines]
}

/**
 * The sandbox both units share (systemd-analyze security scores them at or under 5.0). Node's JIT
 * needs writable and executable memory, so MemoryDenyWriteExecute is only for the Rust agent; the
 * syscall filter is systemd's own @system-service set, which Node and Corrosion stay within.
 * AF_NETLINK: listing the host's addresses (getifaddrs) goes through it.
 */
function sandbox(capabilities: readonly string[], options: {isJit: boolean}): string[] {
  return [
    `CapabilityBoundingSet=${capabilities.join(' ')}`,
    ...(capabilities.length > 0 ? [`AmbientCapabilities=${capabilities.join(' ')}`] : []),
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectProc=invisible',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RemoveIPC=yes',
    ...(options.isJit ? [] : ['MemoryDenyWriteExecute=yes']),
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    'SystemCallFilter=~@privileged @resources',
    'SystemCallErrorNumber=EPERM',
    'UMask=0077',
  ]
}

export function renderCorrosionService(host: HostModel, headerLines: readonly string[]): string {
  const agent = host.corrosion
  const tunnel = host.tunnelUnit
  const lines = [
    '[Unit]',
    `Description=Corrosion agent of edgeproxy cluster ${host.cluster} (${host.name})`,
    'Documentation=https://superfly.github.io/corrosion/',
    'Wants=network-online.target',
    `After=network-online.target${tunnel ? ` ${tunnel.name}` : ''}`,
  ]
  if (tunnel) {
    lines.push(`# gossip.addr ${formatSocketAddress(agent.gossipAddr)} only exists once the tunnel is up.`)
    lines.push(`${tunnel.isRequired ? 'Requires' : 'Wants'}=${tunnel.name}`)
  }
  lines.push(
    '',
    '[Service]',
    'Type=simple',
    'User=corrosion',
    'Group=corrosion',
    `ExecStart=${host.paths.corrosionBin} --config ${host.paths.corrosionConfig} agent`,
    'Restart=on-failure',
    'RestartSec=2',
    ...writableDirectories([path.posix.dirname(agent.dbPath), path.posix.dirname(agent.adminPath)]),
    'LimitNOFILE=65536',
    ...sandbox([], {isJit: false}),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  )
  return header(headerLines) + '\n' + lines.join('\n') + '\n'
}

export function renderEdgeproxyService(host: HostModel, headerLines: readonly string[]): string {
  const e = host.edgeproxy
  const listenPorts = [e.listen, e.tlsListen, e.apiListen, ...(e.dns?.listen ?? []), ...(e.metrics ? [e.metrics.listen] : [])].map((a) => a.port)
  const bindsLowPort = listenPorts.some((p) => p < 1024)
  const lines = [
    '[Unit]',
    `Description=edgeproxy geo-aware L4 proxy of cluster ${host.cluster} (${host.name})`,
    '# The routing table lives in the local Corrosion agent: start after it, stop and restart with it.',
    'Requires=corrosion.service',
    'After=network-online.target corrosion.service',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    'User=edgeproxy',
    'Group=edgeproxy',
    `EnvironmentFile=${host.paths.edgeproxyEnv}`,
    `ExecStart=${host.paths.edgeproxyBin} start`,
    '# SIGHUP re-reads the routing store and the TLS certificate.',
    'ExecReload=/bin/kill -HUP $MAINPID',
    'KillSignal=SIGTERM',
    `# Open connections get EDGEPROXY_SHUTDOWN_TIMEOUT_SECS (${host.shutdownTimeoutSecs}) to finish; systemd waits a little longer.`,
    `TimeoutStopSec=${host.shutdownTimeoutSecs + 5}`,
    'Restart=on-failure',
    'RestartSec=2',
    'StateDirectory=edgeproxy',
    'WorkingDirectory=/var/lib/edgeproxy',
    'LimitNOFILE=1048576',
    ...sandbox(bindsLowPort ? ['CAP_NET_BIND_SERVICE'] : [], {isJit: true}),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ]
  return header(headerLines) + '\n' + lines.join('\n') + '\n'
}
