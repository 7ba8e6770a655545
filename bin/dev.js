#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources directly (no build step); for development only. The oclif manifest
// is ignored so commands added since the last build are found.
import {dirname} from 'node:path'
import {fileURLToPath} from 'node:url'

import {main} from '../src/cli/main.ts'

await main(process.argv.slice(2), {load: {root: dirname(dirname(fileURLToPath(import.meta.url))), ignoreManifest: true}, isDevelopment: true})
