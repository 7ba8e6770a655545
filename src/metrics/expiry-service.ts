// Watches the dates that go stale while a POP runs (the TLS certificate, the GeoIP database): logs
// each finding at start and once a day while it lasts, and reports them on /health (warnings; an
// expired certificate degrades the POP). The decisions are in expiry.ts; this owns the timer.
import type {EngineParts} from '../engine.js'
import type {Service} from '../server/service.js'
import {DailyReport, DAY_MS, expiryFindings, type ExpiryFinding} from './expiry.js'

export interface ExpiryServiceOptions {
  /** Wall clock (unix ms); tests inject one. */
  now?: () => number
  /** How often findings are re-evaluated; each one is still logged at most once a day. */
  checkIntervalMs?: number
}

type Parts = Pick<EngineParts, 'config' | 'logger' | 'certificate'> & {geo: Pick<EngineParts['geo'], 'builtAtMs' | 'isEmbedded' | 'source'>}

export function expiryService(parts: Parts, options: ExpiryServiceOptions = {}): Service & {check(): ExpiryFinding[]} {
  const {config, logger, certificate, geo} = parts
  const now = options.now ?? Date.now
  const report = new DailyReport()
  let timer: NodeJS.Timeout | undefined
  const findings = (): ExpiryFinding[] =>
    expiryFindings({
      nowMs: now(),
      certificate: certificate ? {subject: certificate.info.subject, notAfterMs: Date.parse(certificate.info.notAfter)} : undefined,
      geo,
      tlsExpiryWarnDays: config.metrics.tlsExpiryWarnDays,
      geoipMaxAgeDays: config.metrics.geoipMaxAgeDays,
    })
  /** Evaluates now and logs what is due; returns what was logged. */
  const check = (): ExpiryFinding[] => {
    const due = report.due(findings(), now())
    for (const f of due) logger[f.level](f.event, f.message, f.fields)
    return due
  }
  return {
    name: 'expiry',
    check,
    async start() {
      check()
      timer = setInterval(check, options.checkIntervalMs ?? 3_600_000)
      timer.unref()
    },
    health() {
      const all = findings()
      const degraded = all.filter((f) => f.isDegrading).map((f) => f.message)
      const warnings = all.filter((f) => !f.isDegrading).map((f) => f.message)
      // The dates themselves, so a reader (the status page) shows them before they become warnings.
      const at = now()
      const daysFrom = (ms: number) => Math.round((ms / DAY_MS) * 10) / 10
      const notAfterMs = certificate ? Date.parse(certificate.info.notAfter) : undefined
      const fields = {
        tls_certificate:
          certificate && notAfterMs !== undefined
            ? {subject: certificate.info.subject, expires_at: new Date(notAfterMs).toISOString(), days_left: daysFrom(notAfterMs - at)}
            : null,
        geoip: {source: geo.source, built_at: new Date(geo.builtAtMs).toISOString(), age_days: daysFrom(at - geo.builtAtMs)},
      }
      return {...(degraded.length > 0 ? {degraded} : {}), ...(warnings.length > 0 ? {warnings} : {}), fields}
    },
    close() {
      if (timer) clearInterval(timer)
    },
  }
}
