// DNS queries counted by type and rcode, as plain numbers: the DNS service bumps them per query,
// /health and the metrics registry read them when asked. Type labels are already folded to a few
// names (answer.ts countedType), so the set of keys stays small.

export class DnsCounters {
  /** `${qtype} ${rcode}` → queries, e.g. `A NOERROR`, `NONE FORMERR`, `NONE DROPPED`. */
  private readonly counts = new Map<string, number>()
  /** UDP replies cut to fit (TC set). */
  truncated = 0

  count(qtype: string, rcode: string): void {
    const key = `${qtype} ${rcode}`
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
  }

  get(qtype: string, rcode: string): number {
    return this.counts.get(`${qtype} ${rcode}`) ?? 0
  }

  *entries(): IterableIterator<{qtype: string; rcode: string; queries: number}> {
    for (const [key, queries] of this.counts) {
      const space = key.indexOf(' ')
      yield {qtype: key.slice(0, space), rcode: key.slice(space + 1), queries}
    }
  }
}
