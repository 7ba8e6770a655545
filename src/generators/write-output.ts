// Puts a planned file tree on disk at once (temp directory next to the target, then renamed into
// place), writes single files atomically, and refuses to overwrite without --force or to replace a
// directory edgeproxy did not write. It knows nothing of what the files contain.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {OutputExistsError, OutputForeignError, OutputWriteError} from './errors.js'

export interface PlannedFile {
  /** Relative, `/`-separated path inside the output directory. */
  path: string
  content: string
  /** 0o600 for files holding secrets, 0o755 for scripts, 0o644 otherwise. */
  mode: number
}

export interface FileSummary {
  path: string
  bytes: number
  mode: string
}

/** Marks a directory as edgeproxy output, so --force may replace it. */
export const OUTPUT_MANIFEST = '.edgeproxy-output.json'

export function formatMode(mode: number): string {
  return '0' + (mode & 0o777).toString(8)
}

export function summarizeFiles(files: readonly PlannedFile[]): FileSummary[] {
  return [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => ({path: f.path, bytes: Buffer.byteLength(f.content), mode: formatMode(f.mode)}))
}

/** The manifest file itself, listing every other file (sorted; no dates, so reruns match). */
export function manifestFile(generator: string, files: readonly PlannedFile[]): PlannedFile {
  const content = JSON.stringify({generator, files: summarizeFiles(files).map((f) => f.path)}, null, 2) + '\n'
  return {path: OUTPUT_MANIFEST, content, mode: 0o644}
}

/** Replaces every occurrence of each secret with a placeholder, for --dry-run output. */
export function redactSecrets(content: string, secrets: readonly string[]): string {
  let out = content
  for (const secret of secrets) if (secret.length >= 8) out = out.split(secret).join('<redacted>')
  return out
}

export interface OutputDirState {
  exists: boolean
  isEmpty: boolean
  hasManifest: boolean
}

export function inspectOutputDir(dir: string): OutputDirState {
  let stat: fs.Stats
  try {
    stat = fs.statSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {exists: false, isEmpty: true, hasManifest: false}
    throw new OutputWriteError(dir, (error as Error).message, error)
  }
  if (!stat.isDirectory()) throw new OutputForeignError(dir, 'it is a file, not a directory')
  const entries = fs.readdirSync(dir)
  return {exists: true, isEmpty: entries.length === 0, hasManifest: entries.includes(OUTPUT_MANIFEST)}
}

/** Throws unless `dir` may be (re)written: absent, empty, or edgeproxy output replaced with --force. */
export function assertOutputWritable(dir: string, options: {isForced: boolean}): OutputDirState {
  const state = inspectOutputDir(dir)
  if (!state.exists || state.isEmpty) return state
  if (!options.isForced) throw new OutputExistsError(dir)
  if (!state.hasManifest) throw new OutputForeignError(dir, `it holds files edgeproxy did not write (no ${OUTPUT_MANIFEST})`)
  return state
}

function safeRelative(file: string): string {
  const normal = path.posix.normalize(file)
  if (normal.startsWith('../') || normal === '..' || path.posix.isAbsolute(normal) || normal === '.') throw new Error(`planned path ${JSON.stringify(file)} leaves the output directory`)
  return normal
}

function writeTree(root: string, files: readonly PlannedFile[]): void {
  for (const file of files) {
    const target = path.join(root, ...safeRelative(file.path).split('/'))
    fs.mkdirSync(path.dirname(target), {recursive: true, mode: 0o755})
    fs.writeFileSync(target, file.content, {mode: file.mode, flag: 'wx'})
    fs.chmodSync(target, file.mode) // the umask must not loosen or tighten what the plan says
  }
}

function ioReason(error: unknown): string {
  const e = error as NodeJS.ErrnoException
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied'
  if (e.code === 'ENOSPC') return 'no space left on the device'
  return e.message
}

/**
 * Writes `files` as the whole content of `dir`, atomically: readers see the old tree or the new
 * one, never a mix. Call assertOutputWritable() first. The directory itself ends up mode 0700,
 * since it holds secrets.
 */
export function writeTreeAtomically(dir: string, files: readonly PlannedFile[]): void {
  const target = path.resolve(dir)
  const parent = path.dirname(target)
  const base = path.basename(target)
  let temp: string
  try {
    fs.mkdirSync(parent, {recursive: true})
    temp = fs.mkdtempSync(path.join(parent, `.${base}.tmp-`))
  } catch (error) {
    throw new OutputWriteError(parent, ioReason(error), error)
  }
  try {
    writeTree(temp, files)
    fs.chmodSync(temp, 0o700)
  } catch (error) {
    fs.rmSync(temp, {recursive: true, force: true})
    if (error instanceof Error && !(error as NodeJS.ErrnoException).code) throw error
    throw new OutputWriteError(dir, ioReason(error), error)
  }
  const old = path.join(parent, `.${base}.old-${crypto.randomBytes(6).toString('hex')}`)
  let hasMovedOld = false
  try {
    if (fs.existsSync(target)) {
      fs.renameSync(target, old)
      hasMovedOld = true
    }
    fs.renameSync(temp, target)
  } catch (error) {
    if (hasMovedOld && !fs.existsSync(target)) fs.renameSync(old, target)
    fs.rmSync(temp, {recursive: true, force: true})
    throw new OutputWriteError(dir, ioReason(error), error)
  }
  if (hasMovedOld) fs.rmSync(old, {recursive: true, force: true})
}

/** Writes one file atomically (temp file in the same directory, then rename), with `mode`. */
export function writeFileAtomically(file: string, content: string, mode: number): void {
  const target = path.resolve(file)
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${crypto.randomBytes(6).toString('hex')}`)
  try {
    fs.mkdirSync(path.dirname(target), {recursive: true})
    fs.writeFileSync(temp, content, {mode, flag: 'wx'})
    fs.chmodSync(temp, mode)
    fs.renameSync(temp, target)
  } catch (error) {
    fs.rmSync(temp, {force: true})
    throw new OutputWriteError(file, ioReason(error), error)
  }
}
