// The `corrosion` service of a Corrosion-mode POP: every EDGEPROXY_CORROSION_POLL_SECS it reads what
// the local agent says about its cluster (members alive, gaps) and /health turns the verdict of
// agent-view.ts into `degraded` reasons, with the agent's columns the feed found missing. The client
// is loaded when the service starts, so a SQLite-mode POP never loads it.
import type {EngineParts} from '../engine.js'
import type {Service} from '../server/service.js'
import {AgentView} from './agent-view.js'
import type {CorrosionClient} from './client.js'
import type {CorrosionFeed} from './corrosion-feed.js'

/** Gaps that have not shrunk for this long mean sync is not catching up. */
export const GAPS_STUCK_MS = 60_000

export function corrosionAgentService(parts: EngineParts, options: {gapsStuckMs?: number; now?: () => number} = {}): Service {
  const c = parts.config.corrosion!
  const now = options.now ?? Date.now
  const view = new AgentView({minMembers: c.minMembers, gapsStuckMs: options.gapsStuckMs ?? GAPS_STUCK_MS})
  let client: CorrosionClient | undefined
  let timer: NodeJS.Timeout | undefined
  let isChecking = false
  let lastReasons = ''

  const reasons = (): string[] => {
    const out = view.degraded(now())
    const missing = (parts.feed as Partial<Pick<CorrosionFeed, 'lacksColumns'>>).lacksColumns?.call(parts.feed) ?? []
    if (missing.length > 0) out.push(`the agent's backends table lacks column(s) ${missing.join(', ')}: run \`edgeproxy corrosion init-schema\` on it`)
    return out
  }

  const check = async (): Promise<void> => {
    if (isChecking || !client) return
    isChecking = true
    try {
      const {readMembership} = await import('./agent-membership.js')
      const m = await readMembership(client)
      view.observe({members: m.members, gaps: m.gaps}, now())
    } catch {
      view.unknown() // unreachable: the feed reports that
    } finally {
      isChecking = false
    }
    const current = reasons()
    const text = current.join('; ')
    if (text === lastReasons) return
    lastReasons = text
    if (current.length > 0) parts.logger.warn('corrosion_agent_degraded', text, {...view.fields(now())})
    else parts.logger.info('corrosion_agent_ok', 'the Corrosion agent sees its cluster again', {...view.fields(now())})
  }

  return {
    name: 'corrosion',
    async start() {
      const {CorrosionClient} = await import('./client.js')
      client = new CorrosionClient({url: c.apiUrl, token: c.token})
      timer = setInterval(() => void check(), c.pollMs)
      timer.unref()
      // Usually the feed has just read the agent, so this answers at once and /health is meaningful
      // from the start; an agent that does not answer (a POP on its saved table) delays start 1 s at most.
      let waited: NodeJS.Timeout | undefined
      await Promise.race([check(), new Promise<void>((resolve) => (waited = setTimeout(resolve, 1000)))])
      clearTimeout(waited)
    },
    health() {
      const degraded = reasons()
      return {...(degraded.length > 0 ? {degraded} : {}), fields: view.fields(now())}
    },
    async close() {
      if (timer) clearInterval(timer)
      await client?.close()
    },
  }
}
