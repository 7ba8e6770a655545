// A mutex in one Int32 word of shared memory, for the critical sections that several threads share
// (the affinity table, inserts into the admission client table): a futex mutex, Drepper's "mutex2"
// ("Futexes Are Tricky"): 0 free, 1 held, 2 held with waiters. Uncontended, a lock is one
// compareExchange and an unlock one subtraction; a waiter sleeps in Atomics.wait, in rounds of at
// most 50 ms.

export function lockMutex(words: Int32Array, at: number): void {
  let c = Atomics.compareExchange(words, at, 0, 1)
  if (c === 0) return
  if (c !== 2) c = Atomics.exchange(words, at, 2)
  while (c !== 0) {
    Atomics.wait(words, at, 2, 50)
    c = Atomics.exchange(words, at, 2)
  }
}

export function unlockMutex(words: Int32Array, at: number): void {
  if (Atomics.sub(words, at, 1) !== 1) {
    Atomics.store(words, at, 0)
    Atomics.notify(words, at, 1)
  }
}
