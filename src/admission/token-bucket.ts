// The token bucket of per-client admission, as pure arithmetic on numbers (the client table keeps
// the numbers in shared memory and calls these under the entry's lock): a bucket of `burst` tokens
// refilling continuously at `refillPerMs`; a new connection takes one whole token.

export interface BucketOptions {
  /** Tokens added per millisecond (max_requests / window). */
  refillPerMs: number
  /** Bucket size: the most new connections in a burst. */
  burst: number
}

/** The tokens of a bucket that held `tokens` at `atMs`, as of `nowMs` (never above the burst; a clock that went back adds nothing). */
export function refilled(tokens: number, atMs: number, nowMs: number, o: BucketOptions): number {
  const elapsed = nowMs - atMs
  if (elapsed <= 0) return tokens
  const t = tokens + elapsed * o.refillPerMs
  return t > o.burst ? o.burst : t
}

/** Whether a bucket holding `tokens` (already refilled) has a whole token to take. */
export function hasToken(tokens: number): boolean {
  return tokens >= 1
}
