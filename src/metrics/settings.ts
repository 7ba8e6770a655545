// Settings of the POP's observability: the Prometheus endpoint (on the API, and on a listener of its
// own when an address is given) and the thresholds of the expiry warnings. START_SETTINGS spreads
// them; resolveMetricsConfig turns their values into the typed config the metrics service gets.
import {ConfigError} from '../errors.js'
import {formatHostPort, isLoopbackAddress, type HostPort} from '../net/address.js'
import {setting, type Setting, type SettingValues} from '../config/settings.js'

const METRICS = 'METRICS AND WARNINGS'

const tokenSetting = (t: string): string => {
  const token = t.trim()
  if (token.length < 16) throw new Error('a token needs at least 16 characters')
  if (/\s/.test(token)) throw new Error('a token cannot contain whitespace')
  return token
}

export const METRICS_SETTINGS = {
  metricsEnabled: setting.boolean({
    flag: 'metrics',
    env: 'EDGEPROXY_METRICS_ENABLED',
    default: 'true',
    summary: 'Serve Prometheus metrics at GET /metrics on the API (same token as the API) and on --metrics-listen when set',
    group: METRICS,
  }),
  metricsListen: setting.address({
    flag: 'metrics-listen',
    env: 'EDGEPROXY_METRICS_LISTEN_ADDR',
    defaultLabel: '(off; e.g. 127.0.0.1:9090)',
    summary: 'A listener serving only GET /metrics; a non-loopback address needs a token (--metrics-token or --api-token) or --metrics-insecure',
    group: METRICS,
  }),
  metricsToken: setting.string({
    flag: 'metrics-token',
    env: 'EDGEPROXY_METRICS_TOKEN',
    defaultLabel: '(the API token)',
    summary: 'Bearer token of the metrics listener: a read-only credential for Prometheus instead of the API token',
    group: METRICS,
    secret: true,
    hint: 'a random string of 16 or more characters, e.g. from openssl rand -hex 32',
    parse: tokenSetting,
  }),
  metricsInsecure: setting.boolean({
    flag: 'metrics-insecure',
    env: 'EDGEPROXY_METRICS_INSECURE',
    default: 'false',
    summary: 'Allow the metrics listener on a non-loopback address without a token',
    group: METRICS,
  }),
  tlsExpiryWarnDays: setting.integer({
    flag: 'tls-expiry-warn-days',
    env: 'EDGEPROXY_TLS_EXPIRY_WARN_DAYS',
    default: '14',
    min: 0,
    max: 3650,
    summary: 'Warn (log at start and daily, /health warnings) when the TLS certificate expires within this many days',
    group: METRICS,
  }),
  geoipMaxAgeDays: setting.integer({
    flag: 'geoip-max-age-days',
    env: 'EDGEPROXY_GEOIP_MAX_AGE_DAYS',
    default: '90',
    min: 1,
    // 100 years: tests and labs that must not warn about an embedded database that ages with the calendar.
    max: 36_500,
    summary: 'Warn when the GeoIP database was built longer ago than this many days',
    group: METRICS,
  }),
} satisfies Record<string, Setting<unknown>>

export interface MetricsConfig {
  isEnabled: boolean
  /** The metrics listener; undefined = only the API's /metrics. */
  listen?: HostPort
  /** What the metrics listener requires: the metrics token, else the API token; undefined = open. */
  token?: string
  /** A non-loopback listener without a token, allowed by --metrics-insecure: start-up logs a warning. */
  isInsecure: boolean
  tlsExpiryWarnDays: number
  geoipMaxAgeDays: number
}

/** Nothing listens beyond loopback without a token unless the operator says so explicitly. */
export function resolveMetricsConfig(v: SettingValues<typeof METRICS_SETTINGS>, apiToken: string | undefined): MetricsConfig {
  const token = v.metricsToken ?? apiToken
  const listen = v.metricsEnabled ? v.metricsListen : undefined
  if (listen !== undefined && token === undefined && !v.metricsInsecure && !isLoopbackAddress(listen.host)) {
    throw new ConfigError(
      `the metrics listener would serve ${formatHostPort(listen.host, listen.port)}, beyond loopback, without a token (EDGEPROXY_METRICS_LISTEN_ADDR)`,
      {
        field: 'EDGEPROXY_METRICS_TOKEN',
        suggestion:
          'set EDGEPROXY_METRICS_TOKEN (openssl rand -hex 32) and give it to Prometheus, or listen on 127.0.0.1, or accept the risk with EDGEPROXY_METRICS_INSECURE=true',
      },
    )
  }
  return {
    isEnabled: v.metricsEnabled!,
    listen,
    token,
    isInsecure: listen !== undefined && token === undefined && !isLoopbackAddress(listen.host),
    tlsExpiryWarnDays: v.tlsExpiryWarnDays!,
    geoipMaxAgeDays: v.geoipMaxAgeDays!,
  }
}
