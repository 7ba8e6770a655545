#!/usr/bin/env -S node --initial-old-space-size=64 --max-semi-space-size=2
// V8 heap flags for the proxy's data path, measured with scripts/bench.ts:
// - a young generation of at most 2 MB keeps the short-lived read buffers in cache-warm memory
//   (V8 grows it to 16 MB under bulk traffic, which cost a quarter of the throughput; 1 MB is best
//   for bulk but costs new connections);
// - room in the old generation from the start, or the buffers that do get promoted trigger a full
//   mark-compact every few megabytes of traffic.
// `node bin/run.js` works too, without them.
import {execute} from '@oclif/core'

await execute({dir: import.meta.url})
