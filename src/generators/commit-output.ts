// The last step both generate commands share: load and complete the secrets, then check the target
// and either describe (--dry-run) or write the tree atomically, with the secrets file inside it or
// beside it (0600 either way) and a manifest that lets a later --force replace it. No CLI here.
import fs from 'node:fs'
import path from 'node:path'

import {
  readSecretsFile,
  renderSecretsJson,
  resolveClusterSecrets,
  type SecretsRequest,
  type SecretsResolution,
} from './secrets.js'
import {
  assertOutputWritable,
  manifestFile,
  summarizeFiles,
  writeFileAtomically,
  writeTreeAtomically,
  type FileSummary,
  type PlannedFile,
} from './write-output.js'

/** Reads `file` (if it exists) and completes it per `request`; nothing is written yet. */
export function prepareSecrets(file: string, request: SecretsRequest): SecretsResolution {
  const resolution = resolveClusterSecrets(readSecretsFile(file), request, file)
  const mode = fs.statSync(file, {throwIfNoEntry: false})?.mode
  if (mode !== undefined && (mode & 0o077) !== 0) {
    resolution.warnings.push(`secrets file ${file} is readable by other users (mode 0${(mode & 0o777).toString(8)}); run chmod 600 ${file}`)
  }
  return resolution
}

export interface CommitRequest {
  outDir: string
  /** The command, recorded in the manifest. */
  generator: string
  files: PlannedFile[]
  secretsFile: string
  secrets: SecretsResolution
  isForced: boolean
  isDryRun: boolean
}

export interface CommitResult {
  outDir: string
  secretsFile: string
  /** Whether the secrets file is (or would be) written: new, completed, or part of the tree. */
  isSecretsFileWritten: boolean
  isDryRun: boolean
  /** Whether an existing output directory is (or would be) replaced. */
  isReplacing: boolean
  /** Every file of the tree, sorted, secrets file and manifest included. */
  files: FileSummary[]
}

function inside(dir: string, file: string): string | undefined {
  const relative = path.relative(dir, file)
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return undefined
  return relative.split(path.sep).join('/')
}

export function commitOutput(request: CommitRequest): CommitResult {
  const outDir = path.resolve(request.outDir)
  const secretsFile = path.resolve(request.secretsFile)
  const secretsPath = inside(outDir, secretsFile)
  if (secretsPath !== undefined && request.files.some((f) => f.path === secretsPath)) {
    throw new Error(`the secrets file ${secretsPath} would overwrite a generated file`)
  }
  const tree: PlannedFile[] = [...request.files]
  if (secretsPath !== undefined) tree.push({path: secretsPath, content: renderSecretsJson(request.secrets.secrets), mode: 0o600})
  tree.push(manifestFile(`edgeproxy ${request.generator}`, tree))

  const state = assertOutputWritable(outDir, {isForced: request.isForced})
  const isSecretsFileWritten = secretsPath !== undefined || request.secrets.isChanged
  if (!request.isDryRun) {
    if (secretsPath === undefined && request.secrets.isChanged) writeFileAtomically(secretsFile, renderSecretsJson(request.secrets.secrets), 0o600)
    writeTreeAtomically(outDir, tree)
  }
  return {
    outDir,
    secretsFile,
    isSecretsFileWritten,
    isDryRun: request.isDryRun,
    isReplacing: state.exists && !state.isEmpty,
    files: summarizeFiles(tree),
  }
}
