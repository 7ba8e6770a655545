// The set of connections a POP is carrying, with a promise for "all closed" that drain awaits.
import type {ProxyConnection} from './connection.js'

export class OpenConnections {
  private readonly set = new Set<ProxyConnection>()
  private waiters: (() => void)[] = []

  add(connection: ProxyConnection): void {
    this.set.add(connection)
  }

  delete(connection: ProxyConnection): void {
    if (!this.set.delete(connection) || this.set.size > 0 || this.waiters.length === 0) return
    const waiters = this.waiters
    this.waiters = []
    for (const resolve of waiters) resolve()
  }

  get size(): number {
    return this.set.size
  }

  /** Iterates without copying (a connection may close, and leave the set, while it is visited). */
  values(): IterableIterator<ProxyConnection> {
    return this.set.values()
  }

  snapshot(): ProxyConnection[] {
    return [...this.set]
  }

  whenEmpty(): Promise<void> {
    if (this.set.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push(resolve))
  }
}
