// What the engine needs from a routing store on the read side: a first table, then every change,
// and whether the table it routes on is current. The SQLite poller and the Corrosion subscription
// both implement it; the engine does not know which one it runs on.
import type {Backend} from '../balancer/backend.js'

export interface FeedStatus {
  kind: 'sqlite' | 'corrosion'
  /** `sqlite:/abs/routing.db` or `corrosion:http://127.0.0.1:8090`. */
  target: string
  /** False while the last read failed: routing runs on the last good table. */
  isCurrent: boolean
  /** Unix ms of the last successful read. */
  lastSyncAtMs: number
  error?: string
  /** Corrosion mode: the subscription's state (connecting, connected, resyncing, down, failed, closed). */
  subscription?: string
}

export interface RoutingFeed {
  readonly kind: FeedStatus['kind']
  describe(): string
  /** Starts following the store; `onChange` gets the whole table after every change. */
  start(onChange: (backends: Backend[]) => void): Promise<Backend[]>
  /** Reads now instead of at the next interval (SIGHUP, tests). */
  refresh(): void
  status(): FeedStatus
  close(): Promise<void> | void
}
