// Helpers for end-to-end tests with several POPs (`bin/run.js start` in Corrosion mode): start a POP
// on an agent, read its API, wait for its routing view on its own log events, record when an
// emulated agent applied replicated changes, and a TCP relay that makes an agent unreachable.
import assert from 'node:assert/strict'
import {once} from 'node:events'
import net from 'node:net'

import {backendState} from '../../src/balancer/backend.js'
import {rowToBackend, type BackendRow} from '../../src/store/schema.js'
import {connectAndGreet} from './backends.js'
import type {Changeset, EmulatorAgent} from './corrosion-emulator/index.js'
import {startProxy, type LogEvent, type ProxyProcess} from './proxy-process.js'

export interface Pop {
  region: string
  proxy: ProxyProcess
  api: string
  tcpPort: number
}

export interface PopOptions {
  region: string
  corrosionUrl: string
  corrosionToken?: string
  pollSecs?: number
  env?: Record<string, string | undefined>
}

/**
 * `edgeproxy start` in Corrosion mode on `corrosionUrl`, its API on 127.0.0.1:0, JSON logs with
 * EDGEPROXY_DEBUG on (the feed logs `store_reloaded` at debug level, each time its routing table changes).
 */
export async function startPop(options: PopOptions): Promise<Pop> {
  const proxy = await startProxy({
    // Several POPs (and their agents) start at once: give a busy machine time.
    startTimeoutMs: 45_000,
    env: {
      EDGEPROXY_REGION: options.region,
      EDGEPROXY_CORROSION_ENABLED: 'true',
      EDGEPROXY_CORROSION_API_URL: options.corrosionUrl,
      EDGEPROXY_CORROSION_TOKEN: options.corrosionToken,
      EDGEPROXY_CORROSION_POLL_SECS: String(options.pollSecs ?? 0.2),
      EDGEPROXY_HEARTBEAT_TTL_SECS: '600',
      EDGEPROXY_CONNECT_TIMEOUT_SECS: '1',
      EDGEPROXY_SHUTDOWN_TIMEOUT_SECS: '1',
      EDGEPROXY_DEBUG: 'true',
      ...options.env,
    },
  })
  const started = proxy.events.find((e) => e.event === 'started')!
  return {region: options.region, proxy, api: `http://${String(started.api)}`, tcpPort: proxy.tcpPort}
}

/** One API call; the parsed JSON body and the status. */
export async function apiCall(pop: Pop, method: string, path: string, body?: unknown): Promise<{status: number; body: any}> {
  const res = await fetch(pop.api + path, {
    method,
    ...(body === undefined ? {} : {headers: {'content-type': 'application/json'}, body: JSON.stringify(body)}),
  })
  const text = await res.text()
  return {status: res.status, body: text === '' ? null : JSON.parse(text)}
}

export interface Candidate {
  id: string
  state: string
  eligible: boolean
  skipped: string | null
}

/** The POP's routing view (its router's table, not the agent's rows): GET /api/v1/route. */
export async function routeView(pop: Pop): Promise<Candidate[]> {
  const r = await apiCall(pop, 'GET', '/api/v1/route?ip=127.0.0.1')
  assert.equal(r.status, 200, JSON.stringify(r.body))
  return r.body.candidates as Candidate[]
}

export async function health(pop: Pop): Promise<any> {
  return (await apiCall(pop, 'GET', '/health')).body
}

/**
 * Resolves once `check` holds for the POP's routing view. It is re-checked after every
 * `store_reloaded` event the POP logs (the feed logs one before each new table reaches the
 * router), so nothing sleeps; fails after `timeoutMs`.
 */
export async function untilView(pop: Pop, check: (view: Candidate[]) => boolean, timeoutMs = 5000, what = 'routing view'): Promise<Candidate[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const mark = pop.proxy.events.length
    const view = await routeView(pop)
    if (check(view)) return view
    const remaining = deadline - Date.now()
    try {
      if (remaining <= 0) throw new Error('deadline passed')
      await pop.proxy.waitFor('store_reloaded', (e) => pop.proxy.events.indexOf(e) >= mark, remaining)
    } catch {
      throw new Error(`POP ${pop.region}: ${what} not reached within ${timeoutMs} ms; view: ${JSON.stringify(view.map((c) => [c.id, c.state]))}`)
    }
  }
}

/** id → state as a routing view shows it. */
export function states(view: Candidate[]): Record<string, string> {
  return Object.fromEntries(view.map((c) => [c.id, c.state]))
}

/** id → state as an emulated agent's rows say it (what every POP's view must converge to). */
export function rowStates(agent: EmulatorAgent): Record<string, string> {
  const now = Date.now()
  const out: Record<string, string> = {}
  for (const row of agent.rows('SELECT * FROM backends ORDER BY id') as BackendRow[]) {
    const {backend} = rowToBackend(row)
    if (backend) out[backend.id] = backendState(backend, now)
  }
  return out
}

export function sameStates(view: Candidate[], expected: Record<string, string>): boolean {
  return view.length === Object.keys(expected).length && JSON.stringify(Object.entries(states(view)).sort()) === JSON.stringify(Object.entries(expected).sort())
}

/** The ids the view would route new connections to. */
export function eligible(view: Candidate[]): string[] {
  return view
    .filter((c) => c.eligible)
    .map((c) => c.id)
    .sort()
}

/** The next event named `event` logged at or after index `mark` of the POP's events. */
export function eventSince(pop: Pop, mark: number, event: string, predicate: (e: LogEvent) => boolean = () => true, timeoutMs = 5000): Promise<LogEvent> {
  return pop.proxy.waitFor(event, (e) => pop.proxy.events.indexOf(e) >= mark && predicate(e), timeoutMs)
}

/** Connects through the POP from `localAddress` (a distinct 127/8 client, so no affinity carries over). */
export async function greet(pop: Pop, localAddress: string): Promise<string> {
  const c = await connectAndGreet(pop.tcpPort, {localAddress})
  c.socket.destroy()
  return c.id
}

/** Wall-clock times at which an emulated agent applied changes replicated from its peers. */
export function recordApplies(agent: EmulatorAgent): {at: number; changeset: Changeset}[] {
  const applied: {at: number; changeset: Changeset}[] = []
  const original = agent.applyRemote.bind(agent)
  agent.applyRemote = (changeset: Changeset) => {
    original(changeset)
    if (agent.running) applied.push({at: Date.now(), changeset})
  }
  return applied
}

/**
 * A TCP relay on 127.0.0.1 in front of an HTTP address: stop() cuts every connection and closes the
 * port (the agent looks dead to whoever uses the relay), start() listens on the same port again.
 */
export class TcpRelay {
  port = 0
  private server?: net.Server
  private readonly sockets = new Set<net.Socket>()

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static forUrl(url: string): TcpRelay {
    const u = new URL(url)
    return new TcpRelay(u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 80))
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    const server = net.createServer((client) => {
      const upstream = net.connect({host: this.targetHost, port: this.targetPort})
      for (const s of [client, upstream]) {
        this.sockets.add(s)
        s.on('close', () => this.sockets.delete(s))
        s.on('error', () => {
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream)
      upstream.pipe(client)
    })
    server.listen(this.port, '127.0.0.1')
    await once(server, 'listening')
    this.port = (server.address() as net.AddressInfo).port
    this.server = server
    return this
  }

  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = undefined
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
