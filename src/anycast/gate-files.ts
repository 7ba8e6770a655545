// The gate's files on disk: the gate BIRD includes (rewritten atomically, temp file + rename, so
// BIRD never reads half a file), the maintenance file (a JSON note, or any file at all: `touch`
// works too) and the watcher's status file. Reads and writes only; decisions are gate-machine's.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {AnycastFileError} from './errors.js'
import {parseGateFile, renderGateFile, type GatePhase} from './gate.js'
import type {Maintenance} from './gate-machine.js'
import type {AnycastFiles} from './settings.js'

function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied'
  if (e.code === 'ENOENT') return 'its directory does not exist'
  if (e.code === 'ENOSPC') return 'no space left on the device'
  return e.message
}

/** Writes `content` to `file` atomically with `mode` (and `gid` when given). */
export function writeAtomically(file: string, content: string, mode: number, flag: string, gid?: number): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${crypto.randomBytes(6).toString('hex')}`)
  try {
    fs.writeFileSync(temp, content, {mode, flag: 'wx'})
    fs.chmodSync(temp, mode)
    if (gid !== undefined) fs.chownSync(temp, -1, gid)
    fs.renameSync(temp, file)
  } catch (error) {
    fs.rmSync(temp, {force: true})
    throw new AnycastFileError(file, flag, reason(error), error)
  }
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new AnycastFileError(file, '', reason(error), error)
  }
}

export interface WatcherStatusFile {
  pid: number
  startedAt: string
  updatedAt: string
  phase: GatePhase
  isUp: boolean
  /** Probes in a row that disagree with isUp (progress towards the next change). */
  streak: number
  since: string
  check: {intervalMs: number; timeoutMs: number; rise: number; fall: number}
  lastProbe?: {
    at: string
    isOk: boolean
    reason?: string
    probes: Array<{kind: string; target: string; isOk: boolean; detail: string; ms: number}>
  }
  bird: {isReachable: boolean; lastConfiguredAt?: string; error?: string}
}

export class GateFiles {
  constructor(readonly files: AnycastFiles) {}

  /** The phase the gate file says; undefined when it is missing or not one edgeproxy wrote. */
  readPhase(): GatePhase | undefined {
    const text = readText(this.files.gateFile)
    return text === undefined ? undefined : parseGateFile(text)
  }

  writePhase(phase: GatePhase): void {
    writeAtomically(this.files.gateFile, renderGateFile(phase), 0o644, '--gate-file')
  }

  /** Writes the gate when it says something else; true when it did. */
  ensurePhase(phase: GatePhase): boolean {
    if (this.readPhase() === phase) return false
    this.writePhase(phase)
    return true
  }

  readMaintenance(): Maintenance | undefined {
    let stat: fs.Stats
    try {
      stat = fs.statSync(this.files.maintenanceFile)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new AnycastFileError(this.files.maintenanceFile, '--maintenance-file', reason(error), error)
    }
    const fallback: Maintenance = {reason: 'maintenance file', sinceMs: stat.mtimeMs}
    try {
      const data = JSON.parse(fs.readFileSync(this.files.maintenanceFile, 'utf8')) as Partial<Maintenance>
      if (typeof data !== 'object' || data === null || typeof data.sinceMs !== 'number') return fallback
      return {
        reason: typeof data.reason === 'string' ? data.reason : fallback.reason,
        sinceMs: data.sinceMs,
        ...(typeof data.drainUntilMs === 'number' ? {drainUntilMs: data.drainUntilMs} : {}),
      }
    } catch {
      // An empty or hand-made file counts as "keep withdrawn".
      return fallback
    }
  }

  writeMaintenance(maintenance: Maintenance): void {
    writeAtomically(this.files.maintenanceFile, JSON.stringify(maintenance) + '\n', 0o644, '--maintenance-file')
  }

  /** True when there was one to remove. */
  removeMaintenance(): boolean {
    try {
      fs.rmSync(this.files.maintenanceFile)
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw new AnycastFileError(this.files.maintenanceFile, '--maintenance-file', reason(error), error)
    }
  }

  writeStatus(status: WatcherStatusFile): void {
    writeAtomically(this.files.statusFile, JSON.stringify(status, null, 2) + '\n', 0o644, '--status-file')
  }

  readStatus(): WatcherStatusFile | undefined {
    const text = readText(this.files.statusFile)
    if (text === undefined) return undefined
    try {
      return JSON.parse(text) as WatcherStatusFile
    } catch {
      return undefined
    }
  }

  removeStatus(): void {
    fs.rmSync(this.files.statusFile, {force: true})
  }
}
