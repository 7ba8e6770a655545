// Which POPs each Corrosion agent lists in gossip.bootstrap, and the check that those lists join
// every POP into one cluster. Works on names only; addresses and ports are the generators' job.

// Shape: the POPs sorted by name form a ring and each lists its next k POPs on it, with
// k = 1 for 2-3 POPs and k = 2 from 4 POPs up. So every list is partial (never all the others once
// there are 3 or more POPs), consecutive lists overlap from 4 POPs up, nobody lists itself, and the
// ring alone connects everyone. Bootstrap only matters for the first join: an agent persists the
// members it has met and SWIM spreads the rest, so 1-2 seeds per agent are enough.

/** Seeds per POP for a cluster of `count` POPs. */
export function bootstrapFanout(count: number): number {
  if (count <= 1) return 0
  if (count <= 3) return 1
  return 2
}

/** POP name → the names it bootstraps from, both sorted; deterministic whatever the input order. */
export function bootstrapPeers(names: readonly string[]): Map<string, string[]> {
  const ring = [...new Set(names)].sort()
  const k = bootstrapFanout(ring.length)
  const peers = new Map<string, string[]>()
  ring.forEach((name, i) => {
    const listed: string[] = []
    for (let step = 1; step <= k; step++) listed.push(ring[(i + step) % ring.length]!)
    peers.set(name, listed.sort())
  })
  return peers
}

/** True when the bootstrap lists, taken as undirected edges, reach every node from the first (BFS). */
export function isBootstrapGraphConnected(peers: ReadonlyMap<string, readonly string[]>): boolean {
  const nodes = [...peers.keys()]
  if (nodes.length <= 1) return true
  const adjacent = new Map<string, Set<string>>(nodes.map((n) => [n, new Set<string>()]))
  for (const [from, tos] of peers) {
    for (const to of tos) {
      adjacent.get(from)?.add(to)
      adjacent.get(to)?.add(from)
    }
  }
  const seen = new Set([nodes[0]!])
  const queue = [nodes[0]!]
  while (queue.length > 0) {
    for (const next of adjacent.get(queue.shift()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next)
        queue.push(next)
      }
    }
  }
  return nodes.every((n) => seen.has(n))
}
