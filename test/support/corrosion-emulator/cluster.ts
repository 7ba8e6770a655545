// Several emulated agents that replicate committed changes to each other after a configurable delay,
// like gossip would, merged with cr-sqlite's rules (crdt.ts). A stopped agent receives what it
// missed when it starts again (a sync). A partition cuts agents apart: each side keeps writing, sees
// the other side's agents as down, and what it missed arrives when the partition heals.
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
  /** The side of each agent while partitioned (agents on different sides cannot talk). */
  private sides = new Map<EmulatorAgent, number>()
  /** Changesets waiting for the partition to heal. */
  private held: {to: EmulatorAgent; changeset: Changeset}[] = []

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

  private canTalk(a: EmulatorAgent, b: EmulatorAgent): boolean {
    return (this.sides.get(a) ?? 0) === (this.sides.get(b) ?? 0)
  }

  broadcast(from: EmulatorAgent, changeset: Changeset): void {
    for (const agent of this.agents) {
      if (agent === from) continue
      if (!this.canTalk(from, agent)) this.held.push({to: agent, changeset})
      else this.deliver(agent, changeset)
    }
  }

  private deliver(agent: EmulatorAgent, changeset: Changeset): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      agent.applyRemote(changeset)
      if (this.timers.size === 0) for (const w of this.idleWaiters.splice(0)) w()
    }, this.delayMs)
    this.timers.add(timer)
  }

  /**
   * Cuts these agents off from the others (each listed group is a side; agents not listed stay
   * together on side 0). Both sides keep serving and writing; members on the far side count as down.
   */
  partition(...groups: EmulatorAgent[][]): void {
    this.sides.clear()
    groups.forEach((group, i) => group.forEach((a) => this.sides.set(a, i + 1)))
    for (const a of this.agents) a.writeBookkeeping()
  }

  /** Ends the partition: the held changes replicate (after the delay) as a sync would bring them. */
  heal(): void {
    this.sides.clear()
    const held = this.held.splice(0)
    for (const {to, changeset} of held) this.deliver(to, changeset)
    for (const a of this.agents) a.writeBookkeeping()
  }

  /** Resolves once every change broadcast so far has been delivered (or queued on a stopped agent); held ones wait for heal(). */
  delivered(): Promise<void> {
    if (this.timers.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  members(of: EmulatorAgent): {actorId: string; address: string; isAlive: boolean}[] {
    return this.agents
      .filter((a) => a !== of && a.actorId !== '') // an agent that never started is unknown to SWIM
      .map((a) => ({actorId: a.actorId, address: `${a.host}:${a.port}`, isAlive: a.running && this.canTalk(of, a)}))
  }

  membershipChanged(agent: EmulatorAgent): void {
    for (const a of this.agents) if (a !== agent) a.writeBookkeeping()
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
