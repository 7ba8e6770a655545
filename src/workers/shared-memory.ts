// The memory every worker of one process shares (a SharedArrayBuffer, read and written with
// Atomics): per backend slot the live connection count (a compare-and-swap that refuses at the hard
// limit, so the limit is exact across workers), the last pick, the health code the control plane
// publishes, the half-open trial's holder and the cooldown; per worker the connections it holds on
// each slot (so a crashed worker's counts can be given back); the pick sequence; and the affinity
// table (src/workers/shared-affinity.ts). It knows no backend, only slot numbers.

// Read once per thread (the getter costs more than performance.now() itself).
const TIME_ORIGIN = performance.timeOrigin

/** The clock every thread agrees on (ms): performance.now() alone starts at each thread's birth. */
export function sharedNow(): number {
  return TIME_ORIGIN + performance.now()
}

export interface SharedLayout {
  /** Backend slots (most backends in one routing table, with room for churn). */
  slots: number
  /** Most workers at once (their held counts are kept apart). */
  workers: number
  /** Affinity entries: a power of two at least the binding cap. */
  affinityCapacity: number
}

// Header words (Int32).
export const H_PICK_SEQ = 0
export const H_AFFINITY_LOCK = 1
export const H_AFFINITY_SIZE = 2
export const H_AFFINITY_EVICTED = 3
/** Bumped by the control plane each time it serves a renewed TLS certificate. */
export const H_CERTIFICATE = 4
/** Bumped (and notified) by a worker each time it installed a routing table. */
export const H_TABLE_SIGNAL = 5
/** Client connections open over every worker (counted only under EDGEPROXY_MAX_CONNECTIONS). */
export const H_OPEN = 6
const HEADER_WORDS = 8

/** Health codes the control plane publishes per slot. */
export const HEALTH_OK = 0
export const HEALTH_DOWN = 1
export const HEALTH_OPEN = 2
export const HEALTH_HALF_OPEN = 3

/** Slots and generations share one word in affinity entries: 16 bits each. */
export const MAX_SLOTS = 0xffff

export class SharedMemory {
  readonly buffer: SharedArrayBuffer
  readonly layout: SharedLayout
  readonly header: Int32Array
  /** Connections open per slot (all workers). */
  readonly active: Int32Array
  /** Pick sequence number of the slot's last pick (0: never). */
  readonly lastPick: Int32Array
  /** Bumped each time a slot is handed to another backend. */
  readonly generation: Int32Array
  /** HEALTH_* per slot, written by the control plane only. */
  readonly health: Int32Array
  /** Worker index + 1 holding the half-open trial of the slot; 0 = free. */
  readonly trial: Int32Array
  /** 1 while the control plane wants every connect outcome of the slot (its circuit has an entry). */
  readonly attention: Int32Array
  /** Shared-clock ms until which the slot is cooling down (a failed connect) or its circuit stays open. */
  readonly coolingUntil: Float64Array
  readonly openUntil: Float64Array
  /** The routing table version each worker routes on (the control plane waits for them). */
  readonly tableVersion: Int32Array
  /** Client connections each worker has counted in H_OPEN (given back when it dies). */
  readonly openHeld: Int32Array
  /** Connections each worker holds per slot: held[worker * slots + slot]; written by that worker only. */
  readonly held: Int32Array
  /** Affinity entries: hash1, hash2, slot word; and their last use (shared-clock ms). */
  readonly affinityKeys: Int32Array
  readonly affinityUsed: Float64Array

  constructor(layout: SharedLayout, buffer?: SharedArrayBuffer) {
    if (layout.slots > MAX_SLOTS) throw new RangeError(`at most ${MAX_SLOTS} backend slots`)
    if ((layout.affinityCapacity & (layout.affinityCapacity - 1)) !== 0) throw new RangeError('affinity capacity must be a power of two')
    this.layout = layout
    const {slots, workers, affinityCapacity: cap} = layout
    // Float64 arrays first (8-byte alignment), then Int32 arrays.
    const f64 = slots * 2 + cap
    const i32 = HEADER_WORDS + slots * 6 + workers * 2 + workers * slots + cap * 3
    this.buffer = buffer ?? new SharedArrayBuffer(f64 * 8 + i32 * 4)
    let at = 0
    const f = (n: number) => {
      const a = new Float64Array(this.buffer, at, n)
      at += n * 8
      return a
    }
    const i = (n: number) => {
      const a = new Int32Array(this.buffer, at, n)
      at += n * 4
      return a
    }
    this.coolingUntil = f(slots)
    this.openUntil = f(slots)
    this.affinityUsed = f(cap)
    this.header = i(HEADER_WORDS)
    this.active = i(slots)
    this.lastPick = i(slots)
    this.generation = i(slots)
    this.health = i(slots)
    this.trial = i(slots)
    this.attention = i(slots)
    this.tableVersion = i(workers)
    this.openHeld = i(workers)
    this.held = i(workers * slots)
    this.affinityKeys = i(cap * 3)
  }

  /**
   * Counts one more connection on the slot unless that would pass `hardLimit` (0 = none). The
   * compare-and-swap makes the check and the count one step for every worker together.
   */
  tryCount(slot: number, hardLimit: number): boolean {
    const active = this.active
    if (hardLimit <= 0) {
      Atomics.add(active, slot, 1)
      return true
    }
    let n = Atomics.load(active, slot)
    for (;;) {
      if (n >= hardLimit) return false
      const seen = Atomics.compareExchange(active, slot, n, n + 1)
      if (seen === n) return true
      n = seen
    }
  }

  /**
   * The next pick sequence number. It wraps after 2^32 picks: for one round the backends picked
   * since look least recently picked, which only reorders ties once.
   */
  nextPick(): number {
    return (Atomics.add(this.header, H_PICK_SEQ, 1) + 1) | 0
  }

  /** Worker `worker`'s view of the process-wide open count (EDGEPROXY_MAX_CONNECTIONS). */
  openCount(worker: number): {tryOpen(max: number): boolean; closed(): void} {
    const header = this.header
    const held = this.openHeld
    return {
      tryOpen(max: number): boolean {
        let n = Atomics.load(header, H_OPEN)
        for (;;) {
          if (n >= max) return false
          const seen = Atomics.compareExchange(header, H_OPEN, n, n + 1)
          if (seen === n) break
          n = seen
        }
        held[worker]++
        return true
      },
      closed(): void {
        held[worker]--
        Atomics.sub(header, H_OPEN, 1)
      },
    }
  }

  /** A worker routes on table `version` now: noted, and the control plane woken if it waits. */
  installed(worker: number, version: number): void {
    Atomics.store(this.tableVersion, worker, version)
    Atomics.add(this.header, H_TABLE_SIGNAL, 1)
    Atomics.notify(this.header, H_TABLE_SIGNAL)
  }

  /**
   * Blocks until every worker of `workers` routes on `version` or `timeoutMs` passed; returns the
   * workers still behind. Tables change rarely (a store reload, an API write) and a worker installs
   * one in microseconds, so the control plane may wait: what it says after is true of every worker.
   */
  waitInstalled(workers: readonly number[], version: number, timeoutMs: number): number {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const signal = Atomics.load(this.header, H_TABLE_SIGNAL)
      let behind = 0
      for (const w of workers) if (Atomics.load(this.tableVersion, w) < version) behind++
      const left = deadline - performance.now()
      if (behind === 0 || left <= 0) return behind
      Atomics.wait(this.header, H_TABLE_SIGNAL, signal, left)
    }
  }

  /** Gives back every count a (dead) worker held; returns how many connections that was. */
  releaseWorker(worker: number): number {
    const {slots} = this.layout
    Atomics.sub(this.header, H_OPEN, this.openHeld[worker])
    this.openHeld[worker] = 0
    let released = 0
    for (let s = 0; s < slots; s++) {
      const at = worker * slots + s
      const n = this.held[at]
      if (n !== 0) {
        Atomics.sub(this.active, s, n)
        this.held[at] = 0
        released += n
      }
      Atomics.compareExchange(this.trial, s, worker + 1, 0)
    }
    return released
  }
}

/** A layout for a routing table of up to `slots` backends, `workers` workers and `bindings` bindings. */
export function layoutFor(workers: number, bindings: number, slots = 16_384): SharedLayout {
  let cap = 1024
  // Room for a probe window of free entries at the cap: about 1.5 entries per binding.
  while (cap < bindings * 1.5 && cap < 1 << 24) cap *= 2
  return {slots, workers, affinityCapacity: cap}
}
