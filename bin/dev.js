#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources directly (no build step); for development only. The oclif manifest
// is ignored so commands added since the last build are found.
import {dirname} from 'node:path'
import {fileURLToPath} from 'node:url'

import {execute} from '@oclif/core'

await execute({development: true, loadOptions: {root: dirname(dirname(fileURLToPath(import.meta.url))), ignoreManifest: true}})
