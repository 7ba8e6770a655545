// What the local Corrosion agent says about its cluster, judged: too few members alive (an agent
// cut off from the others still answers, and a POP on it would look fine while its table goes stale),
// or gaps (change versions it knows it misses) that do not shrink. Pure: samples in, reasons out;
// the service around it does the requests and the timer.

export interface AgentSample {
  /** Other agents the agent sees alive (SWIM `Alive` in `__corro_members`). */
  members: number
  /** Versions it knows it misses (`__corro_bookkeeping_gaps`). */
  gaps: number
}

export interface AgentViewOptions {
  /** Fewer members alive than this is degraded; 0 turns the check off (a one-agent cluster). */
  minMembers: number
  /** Gaps that have not shrunk for this long are degraded (sync is not catching up). */
  gapsStuckMs: number
}

export class AgentView {
  private sample?: AgentSample
  private sampledAtMs = 0
  /** When the gaps last appeared or shrank; undefined while there are none. */
  private gapsSinceMs?: number

  constructor(private readonly options: AgentViewOptions) {}

  observe(sample: AgentSample, atMs: number): void {
    const before = this.sample?.gaps ?? 0
    if (sample.gaps === 0) this.gapsSinceMs = undefined
    else if (before === 0 || sample.gaps < before || this.gapsSinceMs === undefined) this.gapsSinceMs = atMs
    this.sample = sample
    this.sampledAtMs = atMs
  }

  /** The agent could not be read: nothing is known (the feed already reports an unreachable agent). */
  unknown(): void {
    this.sample = undefined
    this.gapsSinceMs = undefined
  }

  degraded(nowMs: number): string[] {
    const s = this.sample
    if (s === undefined) return []
    const reasons: string[] = []
    if (s.members < this.options.minMembers) {
      reasons.push(
        `the Corrosion agent sees ${s.members} other member(s) alive, fewer than ${this.options.minMembers} (EDGEPROXY_CORROSION_MIN_MEMBERS): it is cut off from the cluster, so this POP's table may be stale`,
      )
    }
    if (this.gapsSinceMs !== undefined && nowMs - this.gapsSinceMs >= this.options.gapsStuckMs) {
      reasons.push(`the Corrosion agent misses ${s.gaps} change version(s) (gaps) and they have not shrunk for ${Math.round((nowMs - this.gapsSinceMs) / 1000)} s`)
    }
    return reasons
  }

  /** For /health: the last sample, or nulls when the agent could not be read. */
  fields(nowMs: number): {members: number | null; gaps: number | null; min_members: number; checked_age_secs: number | null} {
    return {
      members: this.sample?.members ?? null,
      gaps: this.sample?.gaps ?? null,
      min_members: this.options.minMembers,
      checked_age_secs: this.sample === undefined ? null : Math.round((nowMs - this.sampledAtMs) / 100) / 10,
    }
  }
}
