// Several emulated agents that replicate committed changes to each other after a configurable delay,
// like gossip would. A stopped agent receives what it missed when it starts again (a sync).
import {EmulatorAgent, type Changeset, type ClusterLink, type EmulatorOptions} from './agent.js'

export interface ClusterOptions extends Omit<EmulatorOptions, 'dbPath' | 'api' | 'adminSocket'> {
  /** Delay between a commit on one agent and its application on the others (default 0). */
  delayMs?: number
  /** Per-agent options (db path, api address, admin socket, schema paths…), by index. */
  agents?: EmulatorOptions[]
}

export class EmulatorCluster implements ClusterLink {
  readonly agents: EmulatorAgent[]
  delayMs: number
  private timers = new Set<NodeJS.Timeout>()
  private idleWaiters: (() => void)[] = []

  constructor(n: number, options: ClusterOptions = {}) {
    const {delayMs, agents, ...shared} = options
    this.delayMs = delayMs ?? 0
    this.agents = Array.from({length: n}, (_, i) => {
      const agent = new EmulatorAgent({...shared, ...agents?.[i]})
      agent.cluster = this
      return agent
    })
  }

  async start(): Promise<this> {
    for (const a of this.agents) await a.start()
    return this
  }

  broadcast(from: EmulatorAgent, changeset: Changeset): void {
    for (const agent of this.agents) {
      if (agent === from) continue
      const timer = setTimeout(() => {
        this.timers.delete(timer)
        agent.applyRemote(changeset)
        if (this.timers.size === 0) for (const w of this.idleWaiters.splice(0)) w()
      }, this.delayMs)
      this.timers.add(timer)
    }
  }

  /** Resolves once every change broadcast so far has been delivered (or queued on a stopped agent). */
  delivered(): Promise<void> {
    if (this.timers.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  aliveMembers(except: EmulatorAgent): number {
    return this.agents.filter((a) => a !== except && a.running).length
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    for (const a of this.agents) await a.close()
  }
}

/** n agents sharing a replication delay; call `.start()` (or use createCluster, which does). */
export async function createCluster(n: number, options: ClusterOptions = {}): Promise<EmulatorCluster> {
  return new EmulatorCluster(n, options).start()
}
