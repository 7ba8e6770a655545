// What `edgeproxy anycast check|drain|withdraw|resume|prepare|status` do, without the CLI: each
// takes the resolved config and its collaborators (BIRD, clock, sleep) and returns the object the
// command prints and returns as JSON. The watcher's loop is in watcher.ts.
import fs from 'node:fs'
import path from 'node:path'

import {BirdUnavailableError} from './errors.js'
import {BirdControl, type BirdProtocol, type ExportedRoute} from './bird-control.js'
import {GateFiles, writeAtomically, type WatcherStatusFile} from './gate-files.js'
import type {Maintenance} from './gate-machine.js'
import type {GatePhase} from './gate.js'
import {readPasswords, renderBirdPasswords} from './passwords.js'
import {probeOnce, type ProbeReport} from './probes.js'
import type {AnycastConfig} from './settings.js'

export interface GateChange {
  phase: GatePhase
  previous: GatePhase | null
  isChanged: boolean
  bird: {isReachable: boolean; reply?: string; note?: string}
}

export interface AnycastDeps {
  bird?: BirdControl
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

function birdOf(config: AnycastConfig, deps: AnycastDeps): BirdControl {
  return deps.bird ?? new BirdControl(config.bird)
}

/** BIRD is simply not running (its socket is absent or refuses): then nothing is announced either. */
function isBirdDown(error: BirdUnavailableError): boolean {
  return /No such file or directory|Connection refused/.test(error.message)
}

/** Writes `phase` (when the gate says something else) and tells BIRD. */
export async function applyPhase(config: AnycastConfig, phase: GatePhase, deps: AnycastDeps = {}, options: {isBirdDownOk?: boolean} = {}): Promise<GateChange> {
  const files = new GateFiles(config.files)
  const previous = files.readPhase() ?? null
  const isChanged = files.ensurePhase(phase)
  try {
    const reply = await birdOf(config, deps).configure()
    return {phase, previous, isChanged, bird: {isReachable: true, reply}}
  } catch (error) {
    if (options.isBirdDownOk && error instanceof BirdUnavailableError && isBirdDown(error)) {
      return {phase, previous, isChanged, bird: {isReachable: false, note: 'BIRD is not running: nothing is announced; it reads the gate when it starts'}}
    }
    throw error
  }
}

export interface WithdrawResult extends GateChange {
  /** A maintenance file now keeps the route withdrawn across restarts. */
  isHeld: boolean
}

/** Withdraw now; with `hold`, also keep it withdrawn (maintenance file) until `resume`. */
export async function withdraw(config: AnycastConfig, options: {hold: boolean}, deps: AnycastDeps = {}): Promise<WithdrawResult> {
  if (options.hold) new GateFiles(config.files).writeMaintenance({reason: 'withdraw --hold', sinceMs: (deps.now ?? Date.now)()})
  const change = await applyPhase(config, 'withdrawn', deps, {isBirdDownOk: true})
  return {...change, isHeld: options.hold || new GateFiles(config.files).readMaintenance() !== undefined}
}

export interface DrainResult {
  /** The route was announced when the drain began, so it carried 65535:0 for `drainedSecs`. */
  wasAnnounced: boolean
  drainedSecs: number
  phase: GatePhase
  maintenanceFile: string
  bird: GateChange['bird']
}

/**
 * Graceful shutdown of the announcement: the maintenance file (so a watcher and restarts agree),
 * the gate to `draining` for `secs`, then `withdrawn`. The route stays withdrawn until resume.
 */
export async function drain(config: AnycastConfig, secs: number, deps: AnycastDeps & {onDraining?: (change: GateChange) => void} = {}): Promise<DrainResult> {
  const now = deps.now ?? Date.now
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const files = new GateFiles(config.files)
  const current = files.readPhase()
  const wasAnnounced = current === 'announced' || current === 'draining'
  const startMs = now()
  const maintenance: Maintenance = {reason: 'drain', sinceMs: startMs, ...(wasAnnounced && secs > 0 ? {drainUntilMs: startMs + secs * 1000} : {})}
  files.writeMaintenance(maintenance)
  if (wasAnnounced && secs > 0) {
    const change = await applyPhase(config, 'draining', deps)
    deps.onDraining?.(change)
    await sleep(Math.max(0, startMs + secs * 1000 - now()))
  }
  const done = await applyPhase(config, 'withdrawn', deps, {isBirdDownOk: true})
  return {wasAnnounced, drainedSecs: wasAnnounced ? secs : 0, phase: 'withdrawn', maintenanceFile: config.files.maintenanceFile, bird: done.bird}
}

export interface ResumeResult {
  /** There was a maintenance file, now removed. */
  wasHeld: boolean
  maintenanceFile: string
  /** Whether a watcher is running to announce again (it does on its next probe if the POP is up). */
  isWatcherRunning: boolean
}

export function resume(config: AnycastConfig): ResumeResult {
  const files = new GateFiles(config.files)
  const wasHeld = files.removeMaintenance()
  return {wasHeld, maintenanceFile: config.files.maintenanceFile, isWatcherRunning: watcherOf(files.readStatus()) !== undefined}
}

export interface PrepareResult {
  gateFile: string
  phase: GatePhase
  passwordsFile?: string
  /** Variable names written (never the values). */
  passwords: string[]
}

/**
 * Before BIRD starts: the gate withdrawn (BIRD always starts withdrawn) and the BGP passwords from
 * the environment as BIRD constants, 0640 with the group of their directory (Debian: bird).
 */
export function prepare(config: AnycastConfig, passwordEnvs: readonly string[], env: Record<string, string | undefined>): PrepareResult {
  const passwords = readPasswords(passwordEnvs, env)
  fs.mkdirSync(path.dirname(config.files.gateFile), {recursive: true})
  let passwordsFile: string | undefined
  if (passwords.length > 0) {
    passwordsFile = config.birdPasswordsFile
    const gid = fs.statSync(path.dirname(passwordsFile), {throwIfNoEntry: false})?.gid
    writeAtomically(passwordsFile, renderBirdPasswords(passwords), 0o640, '--bird-passwords-file', process.getuid?.() === 0 ? gid : undefined)
  }
  new GateFiles(config.files).writePhase('withdrawn')
  return {gateFile: config.files.gateFile, phase: 'withdrawn', ...(passwordsFile ? {passwordsFile} : {}), passwords: passwords.map((p) => p.env)}
}

export interface CheckResult {
  /** This POP may announce: every probe passed. */
  isOk: boolean
  report: ProbeReport
}

export async function check(config: AnycastConfig): Promise<CheckResult> {
  const report = await probeOnce({targets: config.probe.targets, healthUrl: config.probe.healthUrl, timeoutMs: config.probe.timeoutMs})
  return {isOk: report.isOk, report}
}

export interface PeerStatus extends BirdProtocol {
  exported: ExportedRoute[]
}

export interface StatusResult {
  gate: {file: string; phase: GatePhase | null}
  maintenance: (Maintenance & {file: string}) | null
  watcher: WatcherStatusFile | null
  bird: {socket: string; isReachable: boolean; error?: string; protocols: BirdProtocol[]; peers: PeerStatus[]}
}

/** The watcher's status file, when its process is still there. */
function watcherOf(status: WatcherStatusFile | undefined): WatcherStatusFile | undefined {
  if (!status) return undefined
  try {
    process.kill(status.pid, 0)
    return status
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? status : undefined
  }
}

export async function status(config: AnycastConfig, deps: AnycastDeps = {}): Promise<StatusResult> {
  const files = new GateFiles(config.files)
  const maintenance = files.readMaintenance()
  const result: StatusResult = {
    gate: {file: config.files.gateFile, phase: files.readPhase() ?? null},
    maintenance: maintenance ? {...maintenance, file: config.files.maintenanceFile} : null,
    watcher: watcherOf(files.readStatus()) ?? null,
    bird: {socket: config.bird.socket, isReachable: false, protocols: [], peers: []},
  }
  const bird = birdOf(config, deps)
  try {
    const protocols = await bird.protocols()
    const peers: PeerStatus[] = []
    for (const p of protocols.filter((x) => x.proto === 'BGP')) peers.push({...p, exported: await bird.exportedRoutes(p.name)})
    result.bird = {...result.bird, isReachable: true, protocols, peers}
  } catch (error) {
    if (!(error instanceof BirdUnavailableError)) throw error
    result.bird.error = error.message
  }
  return result
}
