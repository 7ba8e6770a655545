// Helpers of the CLI-wide tests: every command id in the oclif manifest, and many CLI runs a few at
// a time (each is a Node process).
import fs from 'node:fs'
import path from 'node:path'

import {ROOT, type Exit} from './proxy-process.js'

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, {enableJsonFlag?: boolean}>
}

/** Every command of the manifest, with what its tests need to know about it. */
export const MANIFEST_COMMANDS = manifest.commands
/** Every command id, sorted. */
export const COMMANDS = Object.keys(manifest.commands).sort()

/** Runs many CLI invocations, a few at a time (each is a Node process). */
export async function runAll<T>(items: readonly T[], run: (item: T) => Promise<Exit>): Promise<Array<[T, Exit]>> {
  const results: Array<[T, Exit]> = []
  let next = 0
  await Promise.all(
    Array.from({length: 3}, async () => {
      while (next < items.length) {
        const item = items[next++]!
        results.push([item, await run(item)])
      }
    }),
  )
  return results
}
