// Every setting of `edgeproxy start`, its flag, variable and default, and the typed config they
// resolve to. This table is the single source for `start --help`, the README's configuration
// table (a test keeps them in step) and validation, so all three always agree.
// A feature with settings of its own keeps them in its own folder (`src/<area>/settings.ts`
// exporting `<AREA>_SETTINGS` and a resolver from their values to its typed config); this file
// spreads them into START_SETTINGS and calls the resolver, one line each.
import {isRegion, REGIONS} from '../balancer/regions.js'
import {CORROSION_SETTINGS, resolveCorrosionPopConfig, type CorrosionPopConfig} from '../corrosion/settings.js'
import {DNS_SETTINGS, resolveDnsConfig, type DnsConfig} from '../dns/settings.js'
import {ConfigError} from '../errors.js'
import {formatHostPort, isLoopbackAddress, type CidrList, type HostPort} from '../net/address.js'
import type {LogFormat} from '../log/logger.js'
import {METRICS_SETTINGS, resolveMetricsConfig, type MetricsConfig} from '../metrics/settings.js'
import {ADMISSION_SETTINGS, resolveConnectionLimits, type ConnectionLimits} from '../admission/settings.js'
import {HEALTH_SETTINGS, resolveHealthConfig, type HealthConfig} from '../health/settings.js'
import {resolveWorkerCount, WORKERS_SETTINGS} from '../workers/settings.js'
import {resolveUiConfig, UI_SETTINGS, type UiConfig} from '../ui/settings.js'
import {resolveSettings, setting, type Env, type Raw, type Setting, type Source} from './settings.js'

const CORE = 'CORE'
const TLS = 'TLS'
const PROXY_PROTOCOL = 'PROXY PROTOCOL'
const AFFINITY = 'AFFINITY'
const CONNECTIONS = 'CONNECTIONS'
const LOGGING = 'LOGGING'
const API = 'AUTO-DISCOVERY API'
const CORROSION = 'CORROSION'

export const START_SETTINGS = {
  listen: setting.address({
    flag: 'listen',
    env: 'EDGEPROXY_LISTEN_ADDR',
    default: '0.0.0.0:8080',
    summary: 'Address of the TCP proxy listener ([::]:8080 for dual-stack)',
    group: CORE,
  }),
  region: setting.string({
    flag: 'region',
    env: 'EDGEPROXY_REGION',
    default: 'sa',
    summary: `Region of this POP (${REGIONS.join(', ')})`,
    group: CORE,
    hint: `one of ${REGIONS.join(', ')}`,
    parse: (t) => {
      const r = t.trim().toLowerCase()
      if (!isRegion(r)) throw new Error(`unknown region; use one of ${REGIONS.join(', ')}`)
      return r
    },
  }),
  dbPath: setting.string({
    flag: 'db-path',
    env: 'EDGEPROXY_DB_PATH',
    default: 'routing.db',
    summary: 'SQLite routing store; created with the backends table when absent',
    group: CORE,
    hint: 'a file path, for example /var/lib/edgeproxy/routing.db',
    parse: (t) => {
      if (t.trim() === '') throw new Error('empty path')
      return t.trim()
    },
  }),
  dbReloadSecs: setting.seconds({
    flag: 'db-reload-secs',
    env: 'EDGEPROXY_DB_RELOAD_SECS',
    default: '5',
    min: 0.05,
    max: 3600,
    summary: 'How often changes written to the routing store by other processes are picked up',
    group: CORE,
  }),
  app: setting.string({
    flag: 'app',
    env: 'EDGEPROXY_APP',
    defaultLabel: '(every app)',
    summary: "Route only backends whose app column equals this; unset routes every row",
    group: CORE,
  }),
  geoipPath: setting.file({
    flag: 'geoip-path',
    env: 'EDGEPROXY_GEOIP_PATH',
    defaultLabel: '(embedded DB-IP country database)',
    summary: 'MaxMind GeoLite2/GeoIP2 Country (or City) .mmdb used instead of the embedded database',
    group: CORE,
    hint: 'the path of a readable .mmdb file',
  }),
  connectTimeoutSecs: setting.seconds({
    flag: 'connect-timeout-secs',
    env: 'EDGEPROXY_CONNECT_TIMEOUT_SECS',
    default: '3',
    min: 0.01,
    max: 300,
    summary: 'Time a backend has to accept a connection before the next best one is tried',
    group: CONNECTIONS,
  }),
  connectAttempts: setting.integer({
    flag: 'connect-attempts',
    env: 'EDGEPROXY_CONNECT_ATTEMPTS',
    default: '3',
    min: 1,
    max: 16,
    summary: 'Backends tried per client connection before it is closed',
    group: CONNECTIONS,
  }),
  failureCooldownSecs: setting.seconds({
    flag: 'failure-cooldown-secs',
    env: 'EDGEPROXY_FAILURE_COOLDOWN_SECS',
    default: '10',
    max: 86_400,
    summary: 'How long a backend that refused or timed out a connect gets no new picks (passive health)',
    group: CONNECTIONS,
  }),
  handshakeTimeoutSecs: setting.seconds({
    flag: 'handshake-timeout-secs',
    env: 'EDGEPROXY_HANDSHAKE_TIMEOUT_SECS',
    default: '10',
    min: 0.01,
    max: 300,
    summary: 'Time a client has to send its PROXY header and finish the TLS handshake',
    group: CONNECTIONS,
  }),
  shutdownTimeoutSecs: setting.seconds({
    flag: 'shutdown-timeout-secs',
    env: 'EDGEPROXY_SHUTDOWN_TIMEOUT_SECS',
    default: '30',
    max: 86_400,
    summary: 'On SIGTERM/SIGINT, how long open connections may finish before they are cut',
    group: CONNECTIONS,
  }),
  ...ADMISSION_SETTINGS,
  ...WORKERS_SETTINGS,
  ...HEALTH_SETTINGS,
  tlsEnabled: setting.boolean({
    flag: 'tls',
    env: 'EDGEPROXY_TLS_ENABLED',
    default: 'false',
    summary: 'Terminate TLS on the TLS listener and route the plaintext like the TCP listener',
    group: TLS,
  }),
  tlsListen: setting.address({
    flag: 'tls-listen',
    env: 'EDGEPROXY_TLS_LISTEN_ADDR',
    default: '0.0.0.0:8443',
    summary: 'Address of the TLS listener',
    group: TLS,
  }),
  tlsCert: setting.file({
    flag: 'tls-cert',
    env: 'EDGEPROXY_TLS_CERT',
    summary: 'PEM certificate chain; a renewed file is picked up without a restart',
    group: TLS,
    hint: 'the path of a readable PEM certificate',
  }),
  tlsKey: setting.file({
    flag: 'tls-key',
    env: 'EDGEPROXY_TLS_KEY',
    summary: 'PEM private key matching --tls-cert',
    group: TLS,
    hint: 'the path of a readable PEM private key',
  }),
  tlsReloadSecs: setting.seconds({
    flag: 'tls-reload-secs',
    env: 'EDGEPROXY_TLS_RELOAD_SECS',
    default: '5',
    min: 0.05,
    max: 86_400,
    summary: 'How often the certificate and key files are checked for a renewal (SIGHUP checks at once)',
    group: TLS,
  }),
  proxyProtocol: setting.boolean({
    flag: 'proxy-protocol',
    env: 'EDGEPROXY_PROXY_PROTOCOL',
    default: 'false',
    summary: 'Require a PROXY protocol v1/v2 header on every connection and route by the address it carries',
    group: PROXY_PROTOCOL,
  }),
  proxyProtocolTrusted: setting.cidrs({
    flag: 'proxy-protocol-trusted',
    env: 'EDGEPROXY_PROXY_PROTOCOL_TRUSTED',
    default: '127.0.0.1/32,::1/128',
    summary: 'Sources allowed to send PROXY headers (CIDR list); others are closed and counted',
    group: PROXY_PROTOCOL,
  }),
  bindingTtlSecs: setting.seconds({
    flag: 'binding-ttl-secs',
    env: 'EDGEPROXY_BINDING_TTL_SECS',
    default: '600',
    max: 604_800,
    summary: 'How long a client IP stays bound to its backend after its last connection',
    group: AFFINITY,
  }),
  bindingGcIntervalSecs: setting.seconds({
    flag: 'binding-gc-interval-secs',
    env: 'EDGEPROXY_BINDING_GC_INTERVAL_SECS',
    default: '60',
    min: 0.05,
    max: 86_400,
    summary: 'How often expired bindings are swept',
    group: AFFINITY,
  }),
  bindingMaxEntries: setting.integer({
    flag: 'binding-max-entries',
    env: 'EDGEPROXY_BINDING_MAX_ENTRIES',
    default: '250000',
    min: 1,
    max: 10_000_000,
    summary: 'Most bindings kept; the least recently used go first (bounds memory, about 150 bytes each)',
    group: AFFINITY,
  }),
  apiEnabled: setting.boolean({
    flag: 'api',
    env: 'EDGEPROXY_API_ENABLED',
    default: 'true',
    summary: 'Serve the Auto-Discovery API (register, heartbeat, list, drain, route explain)',
    group: API,
  }),
  apiListen: setting.address({
    flag: 'api-listen',
    env: 'EDGEPROXY_API_LISTEN_ADDR',
    default: '127.0.0.1:8081',
    summary: 'Address of the API; a non-loopback address needs --api-token (or --api-insecure)',
    group: API,
  }),
  apiToken: setting.string({
    flag: 'api-token',
    env: 'EDGEPROXY_API_TOKEN',
    defaultLabel: '(none)',
    summary: 'Bearer token every API call but GET /health must send; prefer the variable (flags show in ps)',
    group: API,
    secret: true,
    hint: 'a random string of 16 or more characters, e.g. from openssl rand -hex 32',
    parse: (t) => {
      const token = t.trim()
      if (token.length < 16) throw new Error('a token needs at least 16 characters')
      if (/\s/.test(token)) throw new Error('a token cannot contain whitespace')
      return token
    },
  }),
  apiInsecure: setting.boolean({
    flag: 'api-insecure',
    env: 'EDGEPROXY_API_INSECURE',
    default: 'false',
    summary: 'Allow the API on a non-loopback address without a token (anyone who reaches it can change routing)',
    group: API,
  }),
  heartbeatTtlSecs: setting.seconds({
    flag: 'heartbeat-ttl-secs',
    env: 'EDGEPROXY_HEARTBEAT_TTL_SECS',
    default: '60',
    min: 0.1,
    max: 86_400,
    summary: 'Lease a registration or heartbeat gives a backend; without a renewal it expires and gets no new connections',
    group: API,
  }),
  ...METRICS_SETTINGS,
  ...UI_SETTINGS,
  corrosionEnabled: setting.boolean({
    flag: 'corrosion',
    env: 'EDGEPROXY_CORROSION_ENABLED',
    default: 'false',
    summary: 'Keep the routing table in Corrosion (replicated to every POP) instead of the SQLite file; --db-path is ignored',
    group: CORROSION,
  }),
  corrosionApiUrl: setting.string({
    flag: 'corrosion-url',
    env: 'EDGEPROXY_CORROSION_API_URL',
    default: 'http://localhost:8090',
    summary: "URL of this POP's Corrosion agent HTTP API",
    group: CORROSION,
    hint: 'an http:// URL such as http://127.0.0.1:8090',
    parse: (t) => {
      let url: URL
      try {
        url = new URL(t.trim())
      } catch {
        throw new Error('not a URL')
      }
      if (url.protocol !== 'http:') throw new Error('Corrosion serves plain http:// (put TLS in front of it if it must cross hosts)')
      return url.toString().replace(/\/$/, '')
    },
  }),
  corrosionToken: setting.string({
    flag: 'corrosion-token',
    env: 'EDGEPROXY_CORROSION_TOKEN',
    defaultLabel: '(none)',
    summary: "Bearer token of the agent's api.authz; prefer the variable (flags show in ps)",
    group: CORROSION,
    secret: true,
    hint: 'the bearer-token of the agent config',
    parse: (t) => {
      if (t.trim() === '' || /\s/.test(t.trim())) throw new Error('empty or contains whitespace')
      return t.trim()
    },
  }),
  corrosionPollSecs: setting.seconds({
    flag: 'corrosion-poll-secs',
    env: 'EDGEPROXY_CORROSION_POLL_SECS',
    default: '5',
    min: 0.05,
    max: 3600,
    summary: "Polling interval while the Corrosion subscription is down, and of the agent's members and gaps",
    group: CORROSION,
  }),
  ...CORROSION_SETTINGS,
  ...DNS_SETTINGS,
  logFormat: setting.enum<LogFormat>({
    flag: 'log-format',
    env: 'EDGEPROXY_LOG_FORMAT',
    default: 'human',
    options: ['human', 'json'],
    summary: 'human: one readable line per event; json: one JSON object per line',
    group: LOGGING,
  }),
  debug: setting.boolean({
    flag: 'debug',
    env: 'EDGEPROXY_DEBUG',
    default: 'false',
    summary: 'Log a line per connection (client, country, backend, bytes each way, duration, close reason)',
    group: LOGGING,
  }),
} satisfies Record<string, Setting<unknown>>

export type StartSettingKey = keyof typeof START_SETTINGS

export interface StartConfig {
  listen: HostPort
  region: string
  dbPath: string
  dbReloadMs: number
  app?: string
  geoipPath?: string
  connectTimeoutMs: number
  connectAttempts: number
  failureCooldownMs: number
  handshakeTimeoutMs: number
  shutdownTimeoutMs: number
  /** Per-client admission, the global connection cap and the idle timeout (src/admission/settings.ts). */
  limits: ConnectionLimits
  /** Active checks and the circuit breaker (src/health/settings.ts). */
  health: HealthConfig
  /** Event loops that accept and relay (EDGEPROXY_WORKERS resolved; src/workers/settings.ts). */
  workers: number
  /** Backend slots in the workers' shared memory (EDGEPROXY_WORKERS_BACKEND_SLOTS). */
  workersBackendSlots: number
  tls?: {listen: HostPort; certPath: string; keyPath: string; reloadMs: number}
  proxyProtocol?: {trusted: CidrList}
  bindingTtlMs: number
  bindingGcIntervalMs: number
  bindingMaxEntries: number
  api?: {listen: HostPort; token?: string; isInsecure: boolean}
  heartbeatTtlMs: number
  corrosion?: {apiUrl: string; token?: string; pollMs: number} & CorrosionPopConfig
  metrics: MetricsConfig
  /** The status page (/ui) and its traffic samples. */
  ui: UiConfig
  /** Internal DNS (`<app>.internal`); undefined when off. */
  dns?: DnsConfig
  logFormat: LogFormat
  isDebug: boolean
  sources: Record<StartSettingKey, Source>
}

const ms = (secs: number) => Math.round(secs * 1000)

/** Nothing listens beyond loopback without a token unless the operator says so explicitly. */
function resolveApi(listen: HostPort, token: string | undefined, isInsecure: boolean): NonNullable<StartConfig['api']> {
  if (token === undefined && !isInsecure && !isLoopbackAddress(listen.host)) {
    throw new ConfigError(
      `the API would listen on ${formatHostPort(listen.host, listen.port)}, beyond loopback, without a token (EDGEPROXY_API_LISTEN_ADDR)`,
      {
        field: 'EDGEPROXY_API_TOKEN',
        suggestion:
          'set EDGEPROXY_API_TOKEN (openssl rand -hex 32), or listen on 127.0.0.1, or accept the risk with EDGEPROXY_API_INSECURE=true',
      },
    )
  }
  return {listen, token, isInsecure: isInsecure && token === undefined && !isLoopbackAddress(listen.host)}
}

/**
 * The log format a start-up asked for, read from the raw command line and environment before
 * anything else is parsed, so even a failure to parse the rest is reported in that format.
 * Anything unreadable counts as human.
 */
export function requestedLogFormat(argv: readonly string[], env: Env): LogFormat {
  let text: string | undefined
  argv.forEach((arg, i) => {
    if (arg === '--log-format') text = argv[i + 1]
    else if (arg.startsWith('--log-format=')) text = arg.slice('--log-format='.length)
  })
  text ??= env[START_SETTINGS.logFormat.env]
  return text?.trim().toLowerCase() === 'json' ? 'json' : 'human'
}

/** Flags (as parsed by the CLI, undefined when absent) + environment → validated StartConfig. */
export function resolveStartConfig(flags: Raw, env: Env): StartConfig {
  const {values: v, sources} = resolveSettings(START_SETTINGS, flags, env)
  let tls: StartConfig['tls']
  if (v.tlsEnabled) {
    const missing = [
      v.tlsCert === undefined ? '--tls-cert (EDGEPROXY_TLS_CERT)' : null,
      v.tlsKey === undefined ? '--tls-key (EDGEPROXY_TLS_KEY)' : null,
    ].filter(Boolean)
    if (missing.length > 0) {
      throw new ConfigError(`TLS is enabled (EDGEPROXY_TLS_ENABLED / --tls) but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set`, {
        field: v.tlsCert === undefined ? 'EDGEPROXY_TLS_CERT' : 'EDGEPROXY_TLS_KEY',
        suggestion: 'set EDGEPROXY_TLS_CERT and EDGEPROXY_TLS_KEY to PEM files, or turn TLS off with --no-tls',
      })
    }
    tls = {listen: v.tlsListen!, certPath: v.tlsCert!, keyPath: v.tlsKey!, reloadMs: ms(v.tlsReloadSecs!)}
  }
  return {
    listen: v.listen!,
    region: v.region!,
    dbPath: v.dbPath!,
    dbReloadMs: ms(v.dbReloadSecs!),
    app: v.app === undefined || v.app.trim() === '' ? undefined : v.app.trim(),
    geoipPath: v.geoipPath,
    connectTimeoutMs: ms(v.connectTimeoutSecs!),
    connectAttempts: v.connectAttempts!,
    failureCooldownMs: ms(v.failureCooldownSecs!),
    handshakeTimeoutMs: ms(v.handshakeTimeoutSecs!),
    shutdownTimeoutMs: ms(v.shutdownTimeoutSecs!),
    limits: resolveConnectionLimits(v),
    health: resolveHealthConfig(v),
    workers: resolveWorkerCount(v.workers!),
    workersBackendSlots: v.workersBackendSlots!,
    tls,
    proxyProtocol: v.proxyProtocol ? {trusted: v.proxyProtocolTrusted!} : undefined,
    bindingTtlMs: ms(v.bindingTtlSecs!),
    bindingGcIntervalMs: ms(v.bindingGcIntervalSecs!),
    bindingMaxEntries: v.bindingMaxEntries!,
    api: v.apiEnabled ? resolveApi(v.apiListen!, v.apiToken, v.apiInsecure!) : undefined,
    heartbeatTtlMs: ms(v.heartbeatTtlSecs!),
    corrosion: v.corrosionEnabled ? {apiUrl: v.corrosionApiUrl!, token: v.corrosionToken, pollMs: ms(v.corrosionPollSecs!), ...resolveCorrosionPopConfig(v)} : undefined,
    metrics: resolveMetricsConfig(v, v.apiToken),
    ui: resolveUiConfig(v),
    dns: resolveDnsConfig(v),
    logFormat: v.logFormat!,
    isDebug: v.debug!,
    sources,
  }
}
