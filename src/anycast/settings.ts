// Every setting of `edgeproxy anycast`: flag, EDGEPROXY_ANYCAST_* variable and default (the paths a
// generated POP uses), and the typed config they resolve to. Each command takes the subset it needs.
import {START_SETTINGS} from '../config/start-config.js'
import {ConfigError} from '../errors.js'
import {resolveSettings, setting, type Env, type Raw} from '../config/settings.js'
import {parseHostPort, type HostPort} from '../net/address.js'
import {DEFAULT_ANYCAST_PATHS} from './paths.js'

const GATE = 'GATE'
const PROBES = 'PROBES'
const BIRD = 'BIRD'

function nonEmpty(t: string): string {
  if (t.trim() === '') throw new Error('empty value')
  return t.trim()
}

function probeTargets(text: string): HostPort[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (items.length === 0) throw new Error('no address')
  return items.map((item) => {
    const target = parseHostPort(item)
    if (target.port === 0) throw new Error(`"${item}" has port 0`)
    return target
  })
}

function healthUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text.trim())
  } catch {
    throw new Error('not a URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not an http(s) URL')
  return url.toString()
}

export const ANYCAST_SETTINGS = {
  gateFile: setting.string({
    flag: 'gate-file',
    env: 'EDGEPROXY_ANYCAST_GATE_FILE',
    default: DEFAULT_ANYCAST_PATHS.gateFile,
    summary: 'The gate file bird.conf includes (EDGE_ANNOUNCE, EDGE_DRAINING)',
    group: GATE,
    hint: 'the path bird.conf includes',
    parse: nonEmpty,
  }),
  maintenanceFile: setting.string({
    flag: 'maintenance-file',
    env: 'EDGEPROXY_ANYCAST_MAINTENANCE_FILE',
    default: DEFAULT_ANYCAST_PATHS.maintenanceFile,
    summary: 'While this file exists the route stays withdrawn, across restarts (drain, withdraw --hold; resume removes it)',
    group: GATE,
    hint: 'a file path',
    parse: nonEmpty,
  }),
  statusFile: setting.string({
    flag: 'status-file',
    env: 'EDGEPROXY_ANYCAST_STATUS_FILE',
    default: DEFAULT_ANYCAST_PATHS.statusFile,
    summary: "The watcher's last probes and state, read by anycast status",
    group: GATE,
    hint: 'a file path',
    parse: nonEmpty,
  }),
  probe: setting.string({
    flag: 'probe',
    env: 'EDGEPROXY_ANYCAST_PROBE_ADDRS',
    default: '127.0.0.1:8080',
    summary: 'Proxy listener addresses a TCP connect must reach (the anycast addresses with the proxy port), comma-separated',
    group: PROBES,
    hint: 'host:port[,host:port], for example 198.51.100.10:8080,[2001:db8:100::10]:8080',
    parse: (t) => {
      probeTargets(t)
      return t.trim()
    },
  }),
  healthUrl: setting.string({
    flag: 'health-url',
    env: 'EDGEPROXY_ANYCAST_HEALTH_URL',
    default: 'http://127.0.0.1:8081/health',
    summary: "The proxy API's /health: ok or degraded with a routable backend announces; draining, down or no answer does not",
    group: PROBES,
    hint: 'an http URL, for example http://10.50.1.1:8081/health',
    parse: healthUrl,
  }),
  intervalSecs: setting.seconds({
    flag: 'interval',
    env: 'EDGEPROXY_ANYCAST_INTERVAL_SECS',
    default: '2',
    min: 0.05,
    max: 3600,
    summary: 'Seconds between probes (each wait is up to 10% shorter, at random)',
    group: PROBES,
  }),
  timeoutSecs: setting.seconds({
    flag: 'timeout',
    env: 'EDGEPROXY_ANYCAST_TIMEOUT_SECS',
    default: '1',
    min: 0.01,
    max: 300,
    summary: 'Seconds a probe may take (connect and /health); must be shorter than the interval',
    group: PROBES,
  }),
  rise: setting.integer({flag: 'rise', env: 'EDGEPROXY_ANYCAST_RISE', default: '3', min: 1, max: 100, summary: 'Consecutive good probes before announcing', group: PROBES}),
  fall: setting.integer({flag: 'fall', env: 'EDGEPROXY_ANYCAST_FALL', default: '2', min: 1, max: 100, summary: 'Consecutive failed probes before withdrawing', group: PROBES}),
  drainSecs: setting.seconds({
    flag: 'secs',
    env: 'EDGEPROXY_ANYCAST_DRAIN_SECS',
    default: '30',
    max: 86_400,
    summary: 'How long drain keeps the graceful-shutdown community (65535:0) on before withdrawing',
    group: GATE,
  }),
  birdSocket: setting.string({
    flag: 'bird-socket',
    env: 'EDGEPROXY_ANYCAST_BIRD_SOCKET',
    default: DEFAULT_ANYCAST_PATHS.birdSocket,
    summary: "BIRD's control socket (birdc -s)",
    group: BIRD,
    hint: 'the socket path BIRD was started with',
    parse: nonEmpty,
  }),
  birdc: setting.string({
    flag: 'birdc',
    env: 'EDGEPROXY_ANYCAST_BIRDC',
    default: '/usr/sbin/birdc',
    summary: 'The birdc program (run with a fixed argument list, never a shell)',
    group: BIRD,
    hint: 'the path of birdc',
    parse: nonEmpty,
  }),
  birdPasswordsFile: setting.string({
    flag: 'bird-passwords-file',
    env: 'EDGEPROXY_ANYCAST_BIRD_PASSWORDS_FILE',
    default: DEFAULT_ANYCAST_PATHS.birdPasswordsFile,
    summary: 'Where prepare writes the BGP passwords as BIRD constants (bird.conf includes it)',
    group: BIRD,
    hint: 'the path bird.conf includes',
    parse: nonEmpty,
  }),
  logFormat: START_SETTINGS.logFormat,
  debug: START_SETTINGS.debug,
}

export type AnycastSettingKey = keyof typeof ANYCAST_SETTINGS

/** The settings a command uses, for its flags. */
export function anycastSettings<K extends AnycastSettingKey>(...keys: K[]): Pick<typeof ANYCAST_SETTINGS, K> {
  return Object.fromEntries(keys.map((k) => [k, ANYCAST_SETTINGS[k]])) as Pick<typeof ANYCAST_SETTINGS, K>
}

export interface AnycastFiles {
  gateFile: string
  maintenanceFile: string
  statusFile: string
}

export interface BirdSettings {
  socket: string
  birdc: string
  timeoutMs: number
}

export interface AnycastConfig {
  files: AnycastFiles
  bird: BirdSettings
  probe: {targets: HostPort[]; healthUrl: string; timeoutMs: number}
  check: {intervalMs: number; timeoutMs: number; rise: number; fall: number}
  drainSecs: number
  birdPasswordsFile: string
  logFormat: 'human' | 'json'
  isDebug: boolean
}

/** Resolves every anycast setting (flag > variable > default); a bad value throws ConfigError. */
export function resolveAnycastConfig(flags: Raw, env: Env): AnycastConfig {
  const {values: v} = resolveSettings(ANYCAST_SETTINGS, flags, env)
  const intervalMs = Math.round(v.intervalSecs! * 1000)
  const timeoutMs = Math.round(v.timeoutSecs! * 1000)
  return {
    files: {gateFile: v.gateFile!, maintenanceFile: v.maintenanceFile!, statusFile: v.statusFile!},
    bird: {socket: v.birdSocket!, birdc: v.birdc!, timeoutMs: 10_000},
    probe: {targets: probeTargets(v.probe!), healthUrl: v.healthUrl!, timeoutMs},
    check: {intervalMs, timeoutMs, rise: v.rise!, fall: v.fall!},
    drainSecs: v.drainSecs!,
    birdPasswordsFile: v.birdPasswordsFile!,
    logFormat: v.logFormat!,
    isDebug: v.debug!,
  }
}

/** The watcher's probes must end before the next one starts. */
export function assertProbeTiming(config: AnycastConfig): void {
  const {intervalMs, timeoutMs} = config.check
  if (timeoutMs >= intervalMs) {
    throw new ConfigError(`timeout ${timeoutMs / 1000} s is not shorter than the interval ${intervalMs / 1000} s: a probe must end before the next one starts`, {
      field: '--timeout',
      suggestion: 'set --timeout (EDGEPROXY_ANYCAST_TIMEOUT_SECS) below --interval (EDGEPROXY_ANYCAST_INTERVAL_SECS)',
    })
  }
}
