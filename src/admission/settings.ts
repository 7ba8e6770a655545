// Settings of per-client admission (the Rust edgeproxy's EDGEPROXY_RATE_LIMIT_* names, plus nginx's
// per-address connection cap and dry run) and of the whole-proxy limits on silent and excess
// connections, with the typed config they resolve to.
import {setting, type Setting, type SettingValues} from '../config/settings.js'
import type {AdmissionConfig} from './admission.js'

const ADMISSION = 'ADMISSION'
const CONNECTIONS = 'CONNECTIONS'

export const ADMISSION_SETTINGS = {
  maxConnections: setting.integer({
    flag: 'max-connections',
    env: 'EDGEPROXY_MAX_CONNECTIONS',
    default: '0',
    min: 0,
    max: 10_000_000,
    summary: 'Most client connections open at once over all listeners; more are closed at accept (0 = no cap)',
    group: CONNECTIONS,
  }),
  idleTimeoutSecs: setting.seconds({
    flag: 'idle-timeout-secs',
    env: 'EDGEPROXY_IDLE_TIMEOUT_SECS',
    default: '3600',
    max: 604_800,
    summary: 'Close a relayed connection after this long without a byte either way (0 = never)',
    group: CONNECTIONS,
  }),
  rateLimitEnabled: setting.boolean({
    flag: 'rate-limit',
    env: 'EDGEPROXY_RATE_LIMIT_ENABLED',
    default: 'false',
    summary: 'Limit new connections per client key with a token bucket (checked at accept, before TLS)',
    group: ADMISSION,
  }),
  rateLimitMaxRequests: setting.integer({
    flag: 'rate-limit-max-requests',
    env: 'EDGEPROXY_RATE_LIMIT_MAX_REQUESTS',
    default: '100',
    min: 1,
    max: 1_000_000,
    summary: 'New connections a client key gets per window (the bucket refills at this rate)',
    group: ADMISSION,
  }),
  rateLimitWindowSecs: setting.seconds({
    flag: 'rate-limit-window-secs',
    env: 'EDGEPROXY_RATE_LIMIT_WINDOW_SECS',
    default: '1',
    min: 0.001,
    max: 3600,
    summary: 'The window of --rate-limit-max-requests',
    group: ADMISSION,
  }),
  rateLimitBurst: setting.integer({
    flag: 'rate-limit-burst',
    env: 'EDGEPROXY_RATE_LIMIT_BURST',
    default: '10',
    min: 1,
    max: 1_000_000,
    summary: 'Bucket size: the most new connections a client key may open in a burst',
    group: ADMISSION,
  }),
  maxConnsPerIp: setting.integer({
    flag: 'max-conns-per-ip',
    env: 'EDGEPROXY_MAX_CONNS_PER_IP',
    default: '0',
    min: 0,
    max: 1_000_000,
    summary: 'Most open connections per client key; more are closed at accept (0 = no cap)',
    group: ADMISSION,
  }),
  rateLimitIpv4Prefix: setting.integer({
    flag: 'rate-limit-ipv4-prefix',
    env: 'EDGEPROXY_RATE_LIMIT_IPV4_PREFIX',
    default: '32',
    min: 1,
    max: 32,
    summary: 'IPv4 clients are counted per this prefix (32 = per address)',
    group: ADMISSION,
  }),
  rateLimitIpv6Prefix: setting.integer({
    flag: 'rate-limit-ipv6-prefix',
    env: 'EDGEPROXY_RATE_LIMIT_IPV6_PREFIX',
    default: '64',
    min: 1,
    max: 128,
    summary: 'IPv6 clients are counted per this prefix, so rotating addresses inside one /64 does not escape',
    group: ADMISSION,
  }),
  rateLimitExempt: setting.cidrs({
    flag: 'rate-limit-exempt',
    env: 'EDGEPROXY_RATE_LIMIT_EXEMPT',
    default: '127.0.0.1/32,::1/128',
    summary: 'Client CIDRs never limited (health checkers, the POP itself); not counted either',
    group: ADMISSION,
  }),
  rateLimitDryRun: setting.boolean({
    flag: 'rate-limit-dry-run',
    env: 'EDGEPROXY_RATE_LIMIT_DRY_RUN',
    default: 'false',
    summary: 'Count and log what the limits would refuse, and let it through',
    group: ADMISSION,
  }),
  rateLimitMaxEntries: setting.integer({
    flag: 'rate-limit-max-entries',
    env: 'EDGEPROXY_RATE_LIMIT_MAX_ENTRIES',
    default: '100000',
    min: 1,
    max: 10_000_000,
    summary: 'Most client keys tracked, over every worker; the least recently seen without open connections go first (128 bytes each of shared memory, taken at start)',
    group: ADMISSION,
  }),
} satisfies Record<string, Setting<unknown>>

export interface ConnectionLimits {
  /** Per-client admission; undefined when neither the rate limit nor the per-key cap is on. */
  admission?: AdmissionConfig
  /** 0 = no cap. */
  maxConnections: number
  /** 0 = never. */
  idleTimeoutMs: number
}

export function resolveConnectionLimits(v: SettingValues<typeof ADMISSION_SETTINGS>): ConnectionLimits {
  const rate = v.rateLimitEnabled ? {perSecond: v.rateLimitMaxRequests! / v.rateLimitWindowSecs!, burst: v.rateLimitBurst!} : undefined
  const isOn = rate !== undefined || v.maxConnsPerIp! > 0
  return {
    admission: isOn
      ? {
          rate,
          maxConnsPerKey: v.maxConnsPerIp!,
          prefixes: {ipv4: v.rateLimitIpv4Prefix!, ipv6: v.rateLimitIpv6Prefix!},
          exempt: v.rateLimitExempt!.text,
          isDryRun: v.rateLimitDryRun!,
          maxEntries: v.rateLimitMaxEntries!,
        }
      : undefined,
    maxConnections: v.maxConnections!,
    idleTimeoutMs: Math.round(v.idleTimeoutSecs! * 1000),
  }
}
