#!/usr/bin/env node
// The installed CLI. `edgeproxy start` runs itself again once with the data path's runtime settings
// (malloc and V8 heap: src/cli/node-tuning.ts) when it was launched without them, so `./bin/run.js`,
// `node bin/run.js`, npx, a Dockerfile's CMD ["node", …] and BusyBox env all run the same proxy.
import {main} from '../dist/src/cli/main.js'

await main(process.argv.slice(2), {load: import.meta.url})
