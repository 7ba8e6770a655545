// Where client and feed tests run: always against a fresh emulator, and also against a real agent
// when CORROSION_TEST_URL is set (CORROSION_TEST_TOKEN for its bearer token). The real agent must
// have the backends table (run `edgeproxy corrosion init-schema` against it first); tests only touch
// rows whose id starts with their own prefix and delete them afterwards.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {backendsTableDdl} from '../../../src/store/schema.js'
import {startEmulator, type EmulatorAgent, type EmulatorOptions} from './index.js'

export interface Target {
  name: 'emulator' | 'real agent'
  url: string
  token?: string
  /** Present only for the emulator: test controls (restart, shedding, request log). */
  emulator?: EmulatorAgent
  /** A unique prefix for row ids written by one test. */
  prefix: string
  close(): Promise<void>
}

let hasExplained = false

/** The real agent, or undefined after printing once why those runs are skipped. */
export function realAgentUrl(): {url: string; token?: string} | undefined {
  const url = process.env.CORROSION_TEST_URL
  if (url) return {url, ...(process.env.CORROSION_TEST_TOKEN ? {token: process.env.CORROSION_TEST_TOKEN} : {})}
  if (!hasExplained) {
    hasExplained = true
    process.stdout.write('# corrosion: CORROSION_TEST_URL is not set, so client and feed tests run against the emulator only\n')
  }
  return undefined
}

/** A schema directory holding the backends table, the way init-schema writes it. */
export function backendsSchemaDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corro-schema-'))
  fs.writeFileSync(path.join(dir, 'backends.sql'), backendsTableDdl())
  return dir
}

export async function emulatorTarget(options: EmulatorOptions = {}): Promise<Target & {emulator: EmulatorAgent}> {
  const schemaDir = options.schemaPaths ? undefined : backendsSchemaDir()
  const emulator = await startEmulator({schemaPaths: schemaDir ? [schemaDir] : [], ...options})
  return {
    name: 'emulator',
    url: emulator.url,
    ...(options.token ? {token: options.token} : {}),
    emulator,
    prefix: `t${crypto.randomBytes(4).toString('hex')}-`,
    async close() {
      await emulator.close()
      if (schemaDir) fs.rmSync(schemaDir, {recursive: true, force: true})
    },
  }
}

/** Factories for every target this run has: the emulator, plus the real agent when configured. */
export function targets(): {name: Target['name']; open: () => Promise<Target>}[] {
  const list: {name: Target['name']; open: () => Promise<Target>}[] = [{name: 'emulator', open: () => emulatorTarget()}]
  const real = realAgentUrl()
  if (real) {
    list.push({
      name: 'real agent',
      open: async () => ({
        name: 'real agent',
        url: real.url,
        ...(real.token ? {token: real.token} : {}),
        prefix: `t${crypto.randomBytes(4).toString('hex')}-`,
        async close() {},
      }),
    })
  }
  return list
}

/** Polls `check` until it returns a value (not undefined), for the few things with no event to await. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
