#!/usr/bin/env -S node --initial-old-space-size=64
// The V8 flag gives the old generation room to start with: the proxy's read buffers that get
// promoted would otherwise trigger a full mark-compact every few megabytes of bulk traffic (a
// third of the throughput, measured with scripts/bench.ts). `node bin/run.js` works too, without it.
import {execute} from '@oclif/core'

await execute({dir: import.meta.url})
