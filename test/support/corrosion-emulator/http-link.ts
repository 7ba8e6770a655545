// Replication between emulated agents in different processes (or network namespaces): each agent
// serves POST /replicate on its "gossip" address and POSTs its committed changesets to every peer
// URL, in order, retrying a peer that cannot be reached until it can (like a sync after a partition).
// A TEST PEER like the rest of the emulator: HTTP stands in for Corrosion's QUIC gossip, so what a
// test checks is the path (which addresses carry replication), not the gossip protocol.
import {once} from 'node:events'
import http from 'node:http'
import type net from 'node:net'

import type {Changeset, ClusterLink, EmulatorAgent} from './agent.js'

/** Row values are bigints (safe integers on), Buffers, numbers, strings or null: tag what JSON cannot carry. */
export function encodeChangeset(changeset: Changeset): string {
  return JSON.stringify(changeset, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key]
    if (typeof raw === 'bigint') return {$bigint: raw.toString()}
    if (Buffer.isBuffer(raw) || raw instanceof Uint8Array) return {$bytes: Buffer.from(raw as Uint8Array).toString('base64')}
    return value
  })
}

export function decodeChangeset(text: string): Changeset {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const v = value as Record<string, unknown>
      if (typeof v.$bigint === 'string' && Object.keys(v).length === 1) return BigInt(v.$bigint)
      if (typeof v.$bytes === 'string' && Object.keys(v).length === 1) return Buffer.from(v.$bytes, 'base64')
    }
    return value
  }) as Changeset
}

interface PeerQueue {
  url: string
  queue: string[]
  isSending: boolean
  isReachable: boolean
  timer?: NodeJS.Timeout
}

export interface HttpLinkOptions {
  /** `host:port` to serve POST /replicate on (an IP literal; IPv6 without brackets is accepted). */
  listen: {host: string; port: number}
  /** Base URLs of the other agents' replication listeners. */
  peers: string[]
  /** Delay before retrying a peer that failed (default 200 ms). */
  retryMs?: number
  log?: (line: string) => void
}

export class HttpClusterLink implements ClusterLink {
  private server?: http.Server
  private readonly peers: PeerQueue[]
  private isClosed = false
  private idleWaiters: (() => void)[] = []

  constructor(
    private readonly agent: EmulatorAgent,
    private readonly options: HttpLinkOptions,
  ) {
    this.peers = options.peers.map((url) => ({url: url.replace(/\/$/, ''), queue: [], isSending: false, isReachable: false}))
    agent.cluster = this
  }

  async start(): Promise<this> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'POST' || req.url !== '/replicate') {
        res.writeHead(404).end()
        return
      }
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        try {
          this.agent.applyRemote(decodeChangeset(Buffer.concat(chunks).toString('utf8')))
          res.writeHead(204).end()
        } catch (error) {
          this.options.log?.(`replicate: ${(error as Error).message}`)
          res.writeHead(400, {'content-type': 'text/plain'}).end((error as Error).message)
        }
      })
    })
    server.listen(this.options.listen.port, this.options.listen.host)
    await once(server, 'listening')
    this.server = server
    // Learn who is up (for /v1/health `members`) without waiting for a first change.
    for (const peer of this.peers) void this.probe(peer)
    return this
  }

  get address(): net.AddressInfo {
    return this.server!.address() as net.AddressInfo
  }

  broadcast(_from: EmulatorAgent, changeset: Changeset): void {
    const body = encodeChangeset(changeset)
    for (const peer of this.peers) {
      peer.queue.push(body)
      void this.drain(peer)
    }
  }

  /** Another agent to replicate to (e.g. once its port 0 is known). */
  addPeer(url: string): void {
    const peer: PeerQueue = {url: url.replace(/\/$/, ''), queue: [], isSending: false, isReachable: false}
    this.peers.push(peer)
    void this.probe(peer)
  }

  /** Resolves once every change broadcast so far has been applied by every peer. */
  delivered(): Promise<void> {
    if (this.peers.every((p) => p.queue.length === 0)) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** The peers as /v1/health and `__corro_members` show them: alive while the last probe or send reached them. */
  members(): {actorId: string; address: string; isAlive: boolean}[] {
    return this.peers.map((p) => ({actorId: p.url, address: p.url.replace(/^https?:\/\//, ''), isAlive: p.isReachable}))
  }

  membershipChanged(): void {
    // Peers live in other processes: reachability is learnt by probing and sending.
  }

  private setReachable(peer: PeerQueue, isReachable: boolean): void {
    if (peer.isReachable === isReachable) return
    peer.isReachable = isReachable
    this.agent.writeBookkeeping()
  }

  private async probe(peer: PeerQueue): Promise<void> {
    try {
      const res = await fetch(`${peer.url}/replicate`, {method: 'GET', signal: AbortSignal.timeout(1000)})
      await res.arrayBuffer()
      this.setReachable(peer, true)
    } catch {
      this.setReachable(peer, false)
    }
  }

  /** Sends a peer's queue in order; on failure, retries the head after retryMs. */
  private async drain(peer: PeerQueue): Promise<void> {
    if (peer.isSending || this.isClosed) return
    peer.isSending = true
    try {
      while (peer.queue.length > 0 && !this.isClosed) {
        try {
          const res = await fetch(`${peer.url}/replicate`, {
            method: 'POST',
            headers: {'content-type': 'application/json'},
            body: peer.queue[0],
            signal: AbortSignal.timeout(2000),
          })
          await res.arrayBuffer()
          if (res.status >= 500) throw new Error(`status ${res.status}`)
          this.setReachable(peer, true)
          peer.queue.shift()
          if (this.peers.every((p) => p.queue.length === 0)) for (const w of this.idleWaiters.splice(0)) w()
        } catch (error) {
          if (peer.isReachable) this.options.log?.(`peer ${peer.url} unreachable: ${(error as Error).message}; retrying`)
          this.setReachable(peer, false)
          await new Promise<void>((resolve) => {
            peer.timer = setTimeout(resolve, this.options.retryMs ?? 200)
          })
        }
      }
    } finally {
      peer.isSending = false
    }
  }

  async close(): Promise<void> {
    this.isClosed = true
    for (const peer of this.peers) clearTimeout(peer.timer)
    const server = this.server
    if (server) {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
