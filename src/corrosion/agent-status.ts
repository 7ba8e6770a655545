// `edgeproxy corrosion status` without the CLI: reachability, auth, /v1/health (a quiet cluster's
// "no p99 lag information available" is idle, not down), members (too few alive: the agent is cut off
// from its cluster), gaps, the backends row count and the schema, folded into one verdict and exit
// code. It reads only; it never changes the agent.
import {ExitCode, errorMessage, isEdgeproxyError} from '../errors.js'
import {BACKEND_COLUMNS, BACKENDS_TABLE} from '../store/schema.js'
import type {CorrosionClient, HealthParams, HealthResult} from './client.js'
import {readMembership} from './agent-membership.js'
import {CorrosionAuthError, CorrosionUnavailableError} from './errors.js'
import {readTableState} from './init-schema.js'

export interface CorrosionStatusResult {
  url: string
  isReachable: boolean
  /** `accepted`: the token was sent and taken; `open`: no token sent, none required; `refused`: 401. */
  auth: 'accepted' | 'open' | 'refused' | 'unknown'
  health: HealthResult | null
  /** Other agents this one sees alive (from /v1/health, or its own tables when /v1/health is idle). */
  members: number | null
  /** Fewer members than this is a problem (exit 4); 0 = a one-agent cluster, not checked. */
  minMembers: number
  gaps: number | null
  backends: {rowCount: number | null; error?: string}
  schema: {isPresent: boolean; isCrr: boolean; missingColumns: string[]; extraColumns: string[]; error?: string}
  isHealthy: boolean
  problems: string[]
  /** 0 healthy, 3 something the operator fixes (token, schema), 4 the agent is down or unhealthy. */
  exitCode: number
}

export interface CorrosionStatusOptions {
  /** Fewest other agents the agent must see alive (EDGEPROXY_CORROSION_MIN_MEMBERS); default 0, unchecked. */
  minMembers?: number
}

export async function corrosionStatus(client: CorrosionClient, healthParams: HealthParams = {}, options: CorrosionStatusOptions = {}): Promise<CorrosionStatusResult> {
  const minMembers = options.minMembers ?? 0
  const result: CorrosionStatusResult = {
    url: client.url,
    isReachable: false,
    auth: 'unknown',
    health: null,
    members: null,
    minMembers,
    gaps: null,
    backends: {rowCount: null},
    schema: {isPresent: false, isCrr: false, missingColumns: [], extraColumns: []},
    isHealthy: false,
    problems: [],
    exitCode: ExitCode.unavailable,
  }
  try {
    result.health = await client.health(healthParams)
    result.isReachable = true
    result.auth = client.hasToken ? 'accepted' : 'open'
  } catch (error) {
    if (error instanceof CorrosionAuthError) {
      result.isReachable = true
      result.auth = 'refused'
      result.problems.push(error.message)
      result.exitCode = ExitCode.invalid
      return result
    }
    if (error instanceof CorrosionUnavailableError || isEdgeproxyError(error)) {
      result.problems.push(error.message)
      return result
    }
    throw error
  }
  const health = result.health
  if (health.members !== undefined) result.members = health.members
  if (health.gaps !== undefined) result.gaps = health.gaps
  let exitCode: number = ExitCode.ok
  if (health.state === 'unhealthy') {
    result.problems.push(`health check failed (${health.status}${health.error ? `: ${health.error}` : ''})`)
    exitCode = ExitCode.unavailable
  }
  if (health.state !== 'unsupported' && (result.members === null || result.gaps === null)) {
    // An idle /v1/health leaves them out: the agent's own tables say the same thing.
    try {
      const m = await readMembership(client, health)
      result.members = m.members
      result.gaps = m.gaps
    } catch {
      // An agent without the bookkeeping tables: members stay unknown.
    }
  }
  if (result.members !== null && result.members < minMembers) {
    result.problems.push(
      `the agent sees ${result.members} other member(s) alive, fewer than ${minMembers}: it is cut off from its cluster (check gossip and the bootstrap list; --min-members 0 for a one-agent cluster)`,
    )
    exitCode = ExitCode.unavailable
  }

  try {
    const stats = await client.tableStats([BACKENDS_TABLE])
    result.backends.rowCount = stats.invalidTables.includes(BACKENDS_TABLE) ? null : stats.totalRowCount
  } catch (error) {
    result.backends.error = errorMessage(error)
  }

  try {
    const state = await readTableState(client, BACKENDS_TABLE)
    const wanted = BACKEND_COLUMNS.map((c) => c.name)
    result.schema = {
      isPresent: state.sql !== undefined,
      isCrr: state.isCrr,
      missingColumns: state.sql === undefined ? [] : wanted.filter((c) => !state.columns.includes(c)),
      extraColumns: state.columns.filter((c) => !wanted.includes(c)),
    }
    if (!result.schema.isPresent) result.problems.push(`table ${BACKENDS_TABLE} does not exist (run edgeproxy corrosion init-schema)`)
    else if (!result.schema.isCrr) result.problems.push(`table ${BACKENDS_TABLE} is not replicated: no ${BACKENDS_TABLE}__crsql_clock (run edgeproxy corrosion init-schema)`)
    else if (result.schema.missingColumns.length > 0) {
      result.problems.push(`table ${BACKENDS_TABLE} lacks column(s) ${result.schema.missingColumns.join(', ')} (run edgeproxy corrosion init-schema)`)
    }
    if (result.problems.length > 0 && exitCode === ExitCode.ok) exitCode = ExitCode.invalid
  } catch (error) {
    result.schema.error = errorMessage(error)
    result.problems.push(`schema check failed: ${result.schema.error}`)
    if (exitCode === ExitCode.ok) exitCode = isEdgeproxyError(error) ? error.exitCode : ExitCode.unavailable
  }
  if (result.backends.rowCount === null && result.backends.error === undefined && result.schema.isPresent) {
    result.backends.error = 'table_stats does not know the table'
  }
  result.exitCode = exitCode
  result.isHealthy = exitCode === ExitCode.ok
  return result
}
