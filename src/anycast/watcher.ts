// `edgeproxy anycast watch` without the CLI: probe, feed the hysteresis, decide the phase (with the
// maintenance file), rewrite the gate only when it says something else and then reconfigure BIRD,
// every interval (jittered). A failed reconfigure is retried on the next tick. stop() withdraws.
// Probes, BIRD, files, clock, randomness and sleeping are injected, so tests drive ticks directly.
import type {Logger} from '../log/logger.js'
import {errorMessage, isEdgeproxyError} from '../errors.js'
import type {GateFiles, WatcherStatusFile} from './gate-files.js'
import {decidePhase, initialHealth, nextDelayMs, recordProbe, type HealthState} from './gate-machine.js'
import type {GatePhase} from './gate.js'
import type {ProbeReport} from './probes.js'

export interface WatcherOptions {
  files: GateFiles
  bird: {configure(): Promise<string>}
  probe: () => Promise<ProbeReport>
  check: {intervalMs: number; timeoutMs: number; rise: number; fall: number}
  logger: Logger
  now?: () => number
  random?: () => number
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
}

export interface TickResult {
  report: ProbeReport
  isUp: boolean
  phase: GatePhase
  /** The gate file was rewritten on this tick. */
  isChanged: boolean
  /** BIRD was told (configure) on this tick and answered. */
  isConfigured: boolean
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, {once: true})
  })
}

export class AnycastWatcher {
  private health: HealthState
  private needsConfigure = false
  private bird: WatcherStatusFile['bird'] = {isReachable: false}
  private lastReport?: ProbeReport
  private phase: GatePhase = 'withdrawn'
  private readonly abort = new AbortController()
  private running?: Promise<void>
  private readonly now: () => number
  private readonly startedAtMs: number

  constructor(private readonly options: WatcherOptions) {
    this.now = options.now ?? Date.now
    this.startedAtMs = this.now()
    this.health = initialHealth(this.startedAtMs)
  }

  get state(): {isUp: boolean; phase: GatePhase} {
    return {isUp: this.health.isUp, phase: this.phase}
  }

  /** One probe and its consequences. */
  async tick(): Promise<TickResult> {
    const {files, logger, check} = this.options
    const report = await this.options.probe()
    const before = this.health
    this.health = recordProbe(before, report.isOk, check, this.now())
    if (before.lastIsOk !== report.isOk) {
      const log = report.isOk ? logger.info : logger.warn
      log.call(logger, 'probe', report.isOk ? 'probes pass' : `probe failed: ${report.reason}`, {ok: report.isOk, reason: report.reason})
    }
    if (before.isUp !== this.health.isUp) {
      logger.info('health', this.health.isUp ? `up: ${check.rise} good probes in a row` : `down: ${check.fall} failed probes in a row (${report.reason})`, {
        up: this.health.isUp,
      })
    }
    const maintenance = files.readMaintenance()
    const phase = decidePhase(this.health.isUp, maintenance, this.now())
    const previous = files.readPhase()
    const isChanged = files.ensurePhase(phase)
    this.phase = phase
    if (isChanged) {
      logger.info('gate', `gate ${previous ?? 'missing'} → ${phase}`, {
        phase,
        from: previous ?? null,
        maintenance: maintenance?.reason,
      })
    }
    let isConfigured = false
    if (isChanged || this.needsConfigure) isConfigured = await this.configure(phase)
    this.lastReport = report
    this.writeStatus()
    return {report, isUp: this.health.isUp, phase, isChanged, isConfigured}
  }

  private async configure(phase: GatePhase): Promise<boolean> {
    const {logger} = this.options
    try {
      const reply = await this.options.bird.configure()
      if (this.needsConfigure) logger.info('bird', `BIRD reconfigured after earlier failures: ${reply}`, {phase})
      else logger.info('bird', `BIRD reconfigured: ${reply}`, {phase})
      this.needsConfigure = false
      this.bird = {isReachable: true, lastConfiguredAt: new Date(this.now()).toISOString()}
      return true
    } catch (error) {
      if (!isEdgeproxyError(error)) throw error
      // Logged once per outage; retried on every tick until BIRD takes it.
      if (!this.needsConfigure) logger.error('bird', `BIRD did not take the gate (retrying every probe): ${error.message}`, {phase, code: error.code})
      this.needsConfigure = true
      this.bird = {...this.bird, isReachable: false, error: error.message}
      return false
    }
  }

  private writeStatus(): void {
    const r = this.lastReport
    const status: WatcherStatusFile = {
      pid: process.pid,
      startedAt: new Date(this.startedAtMs).toISOString(),
      updatedAt: new Date(this.now()).toISOString(),
      phase: this.phase,
      isUp: this.health.isUp,
      streak: this.health.streak,
      since: new Date(this.health.sinceMs).toISOString(),
      check: {...this.options.check},
      ...(r ? {lastProbe: {at: new Date(r.atMs).toISOString(), isOk: r.isOk, ...(r.reason ? {reason: r.reason} : {}), probes: r.probes}} : {}),
      bird: this.bird,
    }
    try {
      this.options.files.writeStatus(status)
    } catch (error) {
      this.options.logger.debug('status', `cannot write the status file: ${errorMessage(error)}`)
    }
  }

  /** Probes until stop(); the first tick's errors (a gate file that cannot be written) are thrown. */
  run(): Promise<void> {
    this.running ??= this.loop()
    return this.running
  }

  private async loop(): Promise<void> {
    const {check, logger} = this.options
    const random = this.options.random ?? Math.random
    const sleep = this.options.sleep ?? abortableSleep
    let isFirst = true
    while (!this.abort.signal.aborted) {
      const started = this.now()
      try {
        await this.tick()
      } catch (error) {
        if (isFirst) throw error
        logger.error('tick', `probe round failed: ${errorMessage(error)}`)
      }
      isFirst = false
      if (this.abort.signal.aborted) break
      await sleep(Math.max(0, started + nextDelayMs(check.intervalMs, random) - this.now()), this.abort.signal)
    }
  }

  /** Stops probing and withdraws (BIRD and its sessions stay up). */
  async stop(): Promise<{phase: GatePhase; isConfigured: boolean}> {
    this.abort.abort()
    await this.running?.catch(() => undefined)
    const isChanged = this.options.files.ensurePhase('withdrawn')
    this.phase = 'withdrawn'
    const isConfigured = isChanged || this.needsConfigure ? await this.configure('withdrawn') : false
    this.options.files.removeStatus()
    this.options.logger.info('stopped', 'watcher stopped; the anycast route is withdrawn', {configured: isConfigured})
    return {phase: 'withdrawn', isConfigured}
  }
}
