// How many cluster members the local agent sees alive and how many change versions it misses, read
// the way the agent's own /v1/health computes them (api/public/mod.rs check_health). /v1/health
// leaves them out when nothing replicated in the last 120 s (an idle cluster, or an agent cut off
// from it), so then the same two queries run through /v1/queries.
import type {CorrosionClient, HealthResult} from './client.js'

export const MEMBERSHIP_SQL =
  "SELECT (SELECT COUNT(*) FROM __corro_members WHERE json_extract(foca_state, '$.state') = 'Alive') AS members, " +
  '(SELECT COALESCE(SUM("end" - start + 1), 0) FROM __corro_bookkeeping_gaps) AS gaps'

export interface Membership {
  members: number
  gaps: number
  /** `health`: from /v1/health; `bookkeeping`: from the agent's tables (/v1/health had no lag data). */
  source: 'health' | 'bookkeeping'
}

/** Members and gaps; `health` is a /v1/health answer already in hand (it is read when absent). */
export async function readMembership(client: CorrosionClient, health?: HealthResult): Promise<Membership> {
  const h = health ?? (await client.health())
  if (h.members !== undefined && h.gaps !== undefined) return {members: h.members, gaps: h.gaps, source: 'health'}
  const [row] = await client.queryObjects(MEMBERSHIP_SQL)
  return {members: Number(row?.members ?? 0), gaps: Number(row?.gaps ?? 0), source: 'bookkeeping'}
}
