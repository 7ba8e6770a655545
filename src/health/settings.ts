// Settings of active health checks and the circuit breaker (the Rust edgeproxy's names, plus
// HAProxy's fast/down intervals, jitter and a concurrency cap), and the typed config they resolve to.
import type {CheckThresholds, CheckTiming} from './check-state.js'
import type {CircuitOptions} from './circuit.js'
import {ConfigError} from '../errors.js'
import {setting, type Setting, type SettingValues} from '../config/settings.js'

const CHECKS = 'HEALTH CHECKS'
const CIRCUIT = 'CIRCUIT BREAKER'

export type ProbeType = 'tcp' | 'tls' | 'http'

export const HEALTH_SETTINGS = {
  healthCheckEnabled: setting.boolean({
    flag: 'health-check',
    env: 'EDGEPROXY_HEALTH_CHECK_ENABLED',
    default: 'false',
    summary: 'Check every backend actively from this POP; only DOWN backends leave selection (results stay local)',
    group: CHECKS,
  }),
  healthCheckIntervalSecs: setting.seconds({
    flag: 'health-check-interval-secs',
    env: 'EDGEPROXY_HEALTH_CHECK_INTERVAL_SECS',
    default: '5',
    min: 0.01,
    max: 3600,
    summary: 'Time between checks of a backend whose state is not changing',
    group: CHECKS,
  }),
  healthCheckTimeoutSecs: setting.seconds({
    flag: 'health-check-timeout-secs',
    env: 'EDGEPROXY_HEALTH_CHECK_TIMEOUT_SECS',
    default: '2',
    min: 0.01,
    max: 300,
    summary: 'Time a check has to connect and answer (less than the interval)',
    group: CHECKS,
  }),
  healthCheckType: setting.enum<ProbeType>({
    flag: 'health-check-type',
    env: 'EDGEPROXY_HEALTH_CHECK_TYPE',
    default: 'tcp',
    options: ['tcp', 'tls', 'http'],
    summary: 'tcp: connect; tls: connect and handshake (certificate not verified); http: GET the path, expect 2xx. A backend may override it',
    group: CHECKS,
  }),
  healthCheckPath: setting.string({
    flag: 'health-check-path',
    env: 'EDGEPROXY_HEALTH_CHECK_PATH',
    default: '/health',
    summary: 'Path of http checks',
    group: CHECKS,
    hint: 'an absolute path such as /health',
    parse: (t) => {
      const path = t.trim()
      if (!/^\/[\x21-\x7e]{0,255}$/.test(path)) throw new Error('must start with / and have no spaces')
      return path
    },
  }),
  healthCheckPort: setting.integer({
    flag: 'health-check-port',
    env: 'EDGEPROXY_HEALTH_CHECK_PORT',
    defaultLabel: "(each backend's port)",
    min: 1,
    max: 65_535,
    summary: 'Port every check connects to, unless a backend sets its own; the data port never changes',
    group: CHECKS,
  }),
  healthHealthyThreshold: setting.integer({
    flag: 'health-healthy-threshold',
    env: 'EDGEPROXY_HEALTH_HEALTHY_THRESHOLD',
    default: '2',
    min: 1,
    max: 100,
    summary: 'Consecutive passed checks that bring a DOWN backend UP (rise)',
    group: CHECKS,
  }),
  healthUnhealthyThreshold: setting.integer({
    flag: 'health-unhealthy-threshold',
    env: 'EDGEPROXY_HEALTH_UNHEALTHY_THRESHOLD',
    default: '3',
    min: 1,
    max: 100,
    summary: 'Consecutive failures (checks or connects of client traffic) that take an UP backend DOWN (fall)',
    group: CHECKS,
  }),
  healthCheckFastIntervalSecs: setting.seconds({
    flag: 'health-check-fast-interval-secs',
    env: 'EDGEPROXY_HEALTH_CHECK_FAST_INTERVAL_SECS',
    default: '1',
    min: 0.01,
    max: 3600,
    summary: 'Time between checks while a state is changing (UP 1/3↓, DOWN 1/2↑)',
    group: CHECKS,
  }),
  healthCheckDownIntervalSecs: setting.seconds({
    flag: 'health-check-down-interval-secs',
    env: 'EDGEPROXY_HEALTH_CHECK_DOWN_INTERVAL_SECS',
    defaultLabel: '(the interval)',
    min: 0.01,
    max: 3600,
    summary: 'Time between checks of a backend that is DOWN',
    group: CHECKS,
  }),
  healthCheckJitterPercent: setting.integer({
    flag: 'health-check-jitter-percent',
    env: 'EDGEPROXY_HEALTH_CHECK_JITTER_PERCENT',
    default: '10',
    min: 0,
    max: 50,
    summary: 'Each wait is this share longer or shorter at random; first checks are spread over one interval',
    group: CHECKS,
  }),
  healthCheckConcurrency: setting.integer({
    flag: 'health-check-concurrency',
    env: 'EDGEPROXY_HEALTH_CHECK_CONCURRENCY',
    default: '64',
    min: 1,
    max: 10_000,
    summary: 'Most checks in flight at once; more wait their turn',
    group: CHECKS,
  }),
  healthCheckSni: setting.string({
    flag: 'health-check-sni',
    env: 'EDGEPROXY_HEALTH_CHECK_SNI',
    defaultLabel: "(the backend's id)",
    summary: 'Server name tls checks send',
    group: CHECKS,
    hint: 'a host name such as backend.internal',
    parse: (t) => {
      const name = t.trim()
      if (!/^[A-Za-z0-9._-]{1,253}$/.test(name)) throw new Error('not a host name')
      return name
    },
  }),
  circuitBreakerEnabled: setting.boolean({
    flag: 'circuit-breaker',
    env: 'EDGEPROXY_CIRCUIT_BREAKER_ENABLED',
    default: 'false',
    summary: 'Eject a backend after consecutive connect failures, for a time that doubles (replaces the failure cooldown)',
    group: CIRCUIT,
  }),
  circuitFailureThreshold: setting.integer({
    flag: 'circuit-breaker-failure-threshold',
    env: 'EDGEPROXY_CIRCUIT_BREAKER_FAILURE_THRESHOLD',
    default: '5',
    min: 1,
    max: 1000,
    summary: 'Consecutive connect failures that open the circuit',
    group: CIRCUIT,
  }),
  circuitFailureWindowSecs: setting.seconds({
    flag: 'circuit-breaker-failure-window-secs',
    env: 'EDGEPROXY_CIRCUIT_BREAKER_FAILURE_WINDOW_SECS',
    default: '60',
    min: 0.01,
    max: 86_400,
    summary: 'The failures must fall within this time of the first one',
    group: CIRCUIT,
  }),
  circuitTimeoutSecs: setting.seconds({
    flag: 'circuit-breaker-timeout-secs',
    env: 'EDGEPROXY_CIRCUIT_BREAKER_TIMEOUT_SECS',
    default: '30',
    min: 0.01,
    max: 86_400,
    summary: 'Open time of a first opening; each consecutive opening doubles it (±10% jitter)',
    group: CIRCUIT,
  }),
  circuitMaxTimeoutSecs: setting.seconds({
    flag: 'circuit-breaker-max-timeout-secs',
    env: 'EDGEPROXY_CIRCUIT_BREAKER_MAX_TIMEOUT_SECS',
    default: '300',
    min: 0.01,
    max: 86_400,
    summary: 'Cap of the doubled open time',
    group: CIRCUIT,
  }),
  circuitSuccessThreshold: setting.integer({
    flag: 'circuit-breaker-success-threshold',
    env: 'EDGEPROXY_CIRCUIT_BREAKER_SUCCESS_THRESHOLD',
    default: '3',
    min: 1,
    max: 1000,
    summary: 'Successful trial connections (one at a time) that close a half-open circuit',
    group: CIRCUIT,
  }),
  circuitMaxEjectionPercent: setting.integer({
    flag: 'circuit-breaker-max-ejection-percent',
    env: 'EDGEPROXY_CIRCUIT_BREAKER_MAX_EJECTION_PERCENT',
    default: '50',
    min: 0,
    max: 100,
    summary: "Most of an app's backends in a region with an open circuit at once (at least one, never all)",
    group: CIRCUIT,
  }),
} satisfies Record<string, Setting<unknown>>

/** How one check is made: the global settings that a backend's overrides replace. */
export interface ProbeDefaults {
  type: ProbeType
  path: string
  /** 0 = each backend's data port. */
  port: number
  timeoutMs: number
  /** undefined = the backend's id. */
  sni?: string
}

export interface HealthConfig {
  /** Active checks on. The defaults below also serve one-off checks (`backend check`) when off. */
  isEnabled: boolean
  probe: ProbeDefaults
  timing: CheckTiming
  thresholds: CheckThresholds
  concurrency: number
  /** Present when the circuit breaker is on. */
  circuit?: CircuitOptions
}

const ms = (secs: number) => Math.round(secs * 1000)

export function resolveHealthConfig(v: SettingValues<typeof HEALTH_SETTINGS>): HealthConfig {
  const intervalMs = ms(v.healthCheckIntervalSecs!)
  const timeoutMs = ms(v.healthCheckTimeoutSecs!)
  if (v.healthCheckEnabled && timeoutMs >= intervalMs) {
    throw new ConfigError(
      `the health check timeout (${timeoutMs / 1000} s, EDGEPROXY_HEALTH_CHECK_TIMEOUT_SECS) must be shorter than the interval (${intervalMs / 1000} s, EDGEPROXY_HEALTH_CHECK_INTERVAL_SECS)`,
      {field: 'EDGEPROXY_HEALTH_CHECK_TIMEOUT_SECS', suggestion: 'lower EDGEPROXY_HEALTH_CHECK_TIMEOUT_SECS or raise EDGEPROXY_HEALTH_CHECK_INTERVAL_SECS'},
    )
  }
  return {
    isEnabled: v.healthCheckEnabled!,
    probe: {
      type: v.healthCheckType!,
      path: v.healthCheckPath!,
      port: v.healthCheckPort ?? 0,
      timeoutMs,
      sni: v.healthCheckSni,
    },
    timing: {
      intervalMs,
      fastIntervalMs: ms(v.healthCheckFastIntervalSecs!),
      downIntervalMs: v.healthCheckDownIntervalSecs === undefined ? intervalMs : ms(v.healthCheckDownIntervalSecs),
      jitterPercent: v.healthCheckJitterPercent!,
    },
    thresholds: {rise: v.healthHealthyThreshold!, fall: v.healthUnhealthyThreshold!},
    concurrency: v.healthCheckConcurrency!,
    circuit: v.circuitBreakerEnabled
      ? {
          failureThreshold: v.circuitFailureThreshold!,
          failureWindowMs: ms(v.circuitFailureWindowSecs!),
          baseOpenMs: ms(v.circuitTimeoutSecs!),
          maxOpenMs: Math.max(ms(v.circuitMaxTimeoutSecs!), ms(v.circuitTimeoutSecs!)),
          jitterPercent: 10,
          successThreshold: v.circuitSuccessThreshold!,
          maxEjectionPercent: v.circuitMaxEjectionPercent!,
        }
      : undefined,
  }
}
