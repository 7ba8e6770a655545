import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {
  assertOutputWritable,
  commitOutput,
  OUTPUT_MANIFEST,
  OutputExistsError,
  OutputForeignError,
  redactSecrets,
  resolveClusterSecrets,
  writeFileAtomically,
  writeTreeAtomically,
  type PlannedFile,
} from '../../../src/generators/index.js'

function temp(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'write-output-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

const files: PlannedFile[] = [
  {path: 'a/secret.conf', content: 'secret\n', mode: 0o600},
  {path: 'a/run.sh', content: '#!/bin/sh\n', mode: 0o755},
  {path: 'b/deep/readme.md', content: 'hi\n', mode: 0o644},
]

const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8)

describe('writeTreeAtomically', () => {
  test('writes every file with its mode, whatever the umask, and leaves no temp dir', (t) => {
    const dir = temp(t)
    const out = path.join(dir, 'out')
    const umask = process.umask(0o077)
    try {
      writeTreeAtomically(out, files)
    } finally {
      process.umask(umask)
    }
    assert.equal(fs.readFileSync(path.join(out, 'a/secret.conf'), 'utf8'), 'secret\n')
    assert.equal(modeOf(path.join(out, 'a/secret.conf')), '600')
    assert.equal(modeOf(path.join(out, 'a/run.sh')), '755')
    assert.equal(modeOf(path.join(out, 'b/deep/readme.md')), '644')
    assert.equal(modeOf(out), '700')
    assert.deepEqual(fs.readdirSync(dir), ['out'])
  })

  test('replaces an existing tree as a whole: stale files go, nothing is left beside it', (t) => {
    const dir = temp(t)
    const out = path.join(dir, 'out')
    writeTreeAtomically(out, [...files, {path: 'stale.txt', content: 'old', mode: 0o644}])
    writeTreeAtomically(out, files)
    assert.equal(fs.existsSync(path.join(out, 'stale.txt')), false)
    assert.deepEqual(fs.readdirSync(dir), ['out'])
  })

  test('a failure while writing leaves the old tree in place and cleans up', (t) => {
    const dir = temp(t)
    const out = path.join(dir, 'out')
    writeTreeAtomically(out, files)
    assert.throws(() => writeTreeAtomically(out, [{path: 'ok.txt', content: 'x', mode: 0o644}, {path: '../escape.txt', content: 'x', mode: 0o644}]), /leaves the output directory/)
    assert.equal(fs.readFileSync(path.join(out, 'a/secret.conf'), 'utf8'), 'secret\n')
    assert.equal(fs.existsSync(path.join(out, 'ok.txt')), false)
    assert.deepEqual(fs.readdirSync(dir), ['out'])
  })

  test('writeFileAtomically sets the mode and replaces in one step', (t) => {
    const dir = temp(t)
    const file = path.join(dir, 'sub/secrets.json')
    writeFileAtomically(file, 'one', 0o600)
    writeFileAtomically(file, 'two', 0o600)
    assert.equal(fs.readFileSync(file, 'utf8'), 'two')
    assert.equal(modeOf(file), '600')
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['secrets.json'])
  })
})

describe('assertOutputWritable', () => {
  test('absent or empty is fine; non-empty needs --force; --force needs our manifest', (t) => {
    const dir = temp(t)
    assert.equal(assertOutputWritable(path.join(dir, 'absent'), {isForced: false}).exists, false)
    fs.mkdirSync(path.join(dir, 'empty'))
    assert.equal(assertOutputWritable(path.join(dir, 'empty'), {isForced: false}).isEmpty, true)
    fs.mkdirSync(path.join(dir, 'theirs'))
    fs.writeFileSync(path.join(dir, 'theirs/x'), '')
    assert.throws(() => assertOutputWritable(path.join(dir, 'theirs'), {isForced: false}), (e: unknown) => e instanceof OutputExistsError && /--force/.test(e.suggestion ?? ''))
    assert.throws(() => assertOutputWritable(path.join(dir, 'theirs'), {isForced: true}), OutputForeignError)
    fs.writeFileSync(path.join(dir, 'theirs', OUTPUT_MANIFEST), '{}')
    assert.equal(assertOutputWritable(path.join(dir, 'theirs'), {isForced: true}).hasManifest, true)
    fs.writeFileSync(path.join(dir, 'file'), '')
    assert.throws(() => assertOutputWritable(path.join(dir, 'file'), {isForced: true}), /is a file/)
  })
})

describe('commitOutput', () => {
  test('puts the secrets file and the manifest into the tree; dry run writes nothing', (t) => {
    const dir = temp(t)
    const out = path.join(dir, 'out')
    const secrets = resolveClusterSecrets(undefined, {cluster: 'edge'}, 'x')
    const request = {outDir: out, generator: 'test', files, secretsFile: path.join(out, 'secrets.json'), secrets, isForced: false}
    const dry = commitOutput({...request, isDryRun: true})
    assert.equal(fs.existsSync(out), false)
    assert.deepEqual(dry.files.map((f) => f.path), [OUTPUT_MANIFEST, 'a/run.sh', 'a/secret.conf', 'b/deep/readme.md', 'secrets.json'])
    commitOutput({...request, isDryRun: false})
    assert.equal(modeOf(path.join(out, 'secrets.json')), '600')
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, OUTPUT_MANIFEST), 'utf8')).files, ['a/run.sh', 'a/secret.conf', 'b/deep/readme.md', 'secrets.json'])
  })

  test('a secrets file outside the tree is written beside it only when it changed', (t) => {
    const dir = temp(t)
    const out = path.join(dir, 'out')
    const secretsFile = path.join(dir, 'keep/secrets.json')
    const fresh = resolveClusterSecrets(undefined, {cluster: 'edge'}, secretsFile)
    commitOutput({outDir: out, generator: 'test', files, secretsFile, secrets: fresh, isForced: false, isDryRun: false})
    assert.equal(modeOf(secretsFile), '600')
    const before = fs.statSync(secretsFile).mtimeMs
    const unchanged = {...fresh, isChanged: false, created: []}
    const r = commitOutput({outDir: out, generator: 'test', files, secretsFile, secrets: unchanged, isForced: true, isDryRun: false})
    assert.equal(r.isSecretsFileWritten, false)
    assert.equal(fs.statSync(secretsFile).mtimeMs, before)
    assert.ok(!fs.readdirSync(out).includes('secrets.json'))
  })
})

test('redactSecrets replaces every occurrence', () => {
  assert.equal(redactSecrets('a=TOKEN123 b=TOKEN123 c=other', ['TOKEN123', 'other-unused']), 'a=<redacted> b=<redacted> c=other')
})
