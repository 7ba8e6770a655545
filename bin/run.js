#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=33554432 node --initial-old-space-size=64 --max-semi-space-size=2 --no-memory-reducer
// Memory settings for the proxy's data path, measured with scripts/bench.ts:
// - MALLOC_TRIM_THRESHOLD_ (glibc): every socket read is a 64 KB buffer from malloc. With glibc's
//   default, a process can fall into a state where each free() hands the top of the heap back to the
//   kernel (brk) and the next read faults the pages back in: a third of bulk throughput, decided at
//   random per process. Keeping up to 32 MB of free heap removes that state. Ignored by other libcs.
// - a V8 young generation of at most 2 MB keeps the short-lived read buffers in cache-warm memory
//   (V8 grows it to 16 MB under bulk traffic, which cost a quarter of the throughput; 1 MB is best
//   for bulk but costs new connections);
// - room in the old generation from the start, or the buffers that do get promoted trigger a full
//   mark-compact every few megabytes of traffic;
// - no memory reducer: a relay allocates few JS objects per megabyte, so V8 takes bulk traffic for
//   idleness, shrinks the heap and then frees read buffers in batches of hundreds of MB, which glibc
//   hands back to the kernel and faults in again (150,000 page faults per GB and a quarter of bulk
//   throughput, for minutes after every idle spell).
// `node bin/run.js` works too, without them.
import {main} from '../dist/src/cli/main.js'

await main(process.argv.slice(2), {load: import.meta.url})
