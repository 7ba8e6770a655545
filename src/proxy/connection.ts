// One client connection through the proxy: optional PROXY header, optional TLS handshake, a backend
// pick (with bounded failover on refused or timed-out connects), then a relay that carries bytes,
// half-closes and backpressure both ways. It owns exactly one router.acquire() at a time and
// releases it exactly once, which is what keeps connection counts exact.
import net from 'node:net'
import tls from 'node:tls'

import {REFUSED, UNCOUNTED, type Admission} from '../admission/admission.js'
import type {BackendCounters} from '../balancer/backend-counters.js'
import type {Backend} from '../balancer/backend.js'
import type {Router} from '../balancer/router.js'
import type {GeoResolver} from '../geo/geo-resolver.js'
import type {Logger} from '../log/logger.js'
import {formatHostPort, normalizeIp, type CidrList} from '../net/address.js'
import type {OpenConnections} from './open-connections.js'
import {parseProxyHeader} from './proxy-protocol.js'
import type {ListenerStats, ProxyStats} from './stats.js'

export type Dial = (host: string, port: number) => net.Socket

export const defaultDial: Dial = (host, port) => net.connect({host, port, allowHalfOpen: true, noDelay: true})

/** What every connection of one listener shares. */
export interface ConnectionContext {
  readonly listener: 'tcp' | 'tls'
  readonly router: Router
  readonly geo: GeoResolver
  readonly logger: Logger
  readonly stats: ProxyStats
  /** This listener's own counters (connections and bytes per listener). */
  readonly listenerStats: ListenerStats
  readonly connections: OpenConnections
  readonly connectTimeoutMs: number
  readonly connectAttempts: number
  readonly handshakeTimeoutMs: number
  readonly proxyProtocol?: {trusted: CidrList}
  readonly tlsContext?: () => tls.SecureContext
  /** Per-client admission at accept; undefined when off (then it costs one test per connection). */
  readonly admission?: Admission
  /** Most open connections over all listeners (EDGEPROXY_MAX_CONNECTIONS); 0 = no cap. */
  readonly maxConnections: number
  /**
   * With several workers and a cap: the process-wide open count in shared memory (this listener's
   * accept counts in with a compare-and-swap, finish() counts out). Undefined: `connections` is all.
   */
  readonly sharedOpen?: SharedOpenCount
  readonly warnMaxConnections: (msg: string, fields?: Record<string, string | number | null>) => void
  readonly dial: Dial
  /** The worker this listener runs in (logged per connection); undefined with one thread. */
  readonly worker?: number
  readonly warnNoBackend: (msg: string, fields?: Record<string, string | number | null>) => void
  readonly warnBackendFailed: (msg: string, fields?: Record<string, string | number | null>) => void
}

function ignore(): void {}

/** The process-wide open-connection count of several workers (src/workers/shared-memory.ts implements it). */
export interface SharedOpenCount {
  /** Counts one more unless `max` are open; false (nothing counted) at the cap. */
  tryOpen(max: number): boolean
  closed(): void
}

// Listeners shared by every connection: the socket carries its connection under a symbol, so a
// new connection allocates no closures (this is the per-connection hot path).
const kConnection = Symbol('edgeproxy.connection')
/** The other side of the relay: the socket this one's bytes are written to. */
const kPeer = Symbol('edgeproxy.peer')
type Owned = net.Socket & {[kConnection]: ProxyConnection; [kPeer]: net.Socket}

// The relay, one direction per socket. It is what `a.pipe(b); b.pipe(a)` does for two sockets,
// without the stream machinery a pipe sets up and tears down around every connection: a write
// that fills the peer's buffer pauses this side until the peer drains (backpressure), and an end
// of input ends the peer's output (half-close). Errors and closes are the connection's business.
function onRelayData(this: Owned, chunk: Buffer): void {
  const peer = this[kPeer]
  if (!peer.write(chunk)) this.pause()
}
function onRelayDrain(this: Owned): void {
  this[kPeer].resume()
}
function onRelayEnd(this: Owned): void {
  const peer = this[kPeer]
  if (!peer.writableEnded && !peer.destroyed) peer.end()
}
function relay(from: Owned, to: net.Socket): void {
  from[kPeer] = to
  from.on('data', onRelayData)
  from.on('end', onRelayEnd)
  from.on('drain', onRelayDrain)
  // A paused socket (after a PROXY header) stays paused when a 'data' listener is added.
  from.resume()
  // A client that half-closed while the backend connect was under way has already emitted 'end'
  // (a probe that connects and closes at once): pass it on, or both sides would wait forever.
  if (from.readableEnded) onRelayEnd.call(from as Owned)
}
function onClientError(this: Owned, error: Error): void {
  this[kConnection].clientError(error)
}
function onClientClose(this: Owned): void {
  this[kConnection].clientClosed()
}
function onHeaderData(this: Owned, chunk: Buffer): void {
  this[kConnection].headerData(chunk)
}
// The client half-closed before its PROXY header was complete (a TCP health check, a port scan):
// with allowHalfOpen nothing else would end the socket before the handshake timeout.
function onHeaderEnd(this: Owned): void {
  this[kConnection].headerEnded()
}
function onBackendConnect(this: Owned): void {
  this[kConnection].backendConnected()
}
function onBackendError(this: Owned, error: Error): void {
  this[kConnection].backendError(error)
}
function onBackendClose(this: Owned): void {
  this[kConnection].backendClosed()
}
function onHandshakeTimeout(connection: ProxyConnection): void {
  connection.handshakeTimeout()
}
function onConnectTimeout(connection: ProxyConnection): void {
  connection.connectTimedOut()
}

function errorCode(error: Error): string {
  return (error as NodeJS.ErrnoException).code ?? error.message
}

export class ProxyConnection {
  private readonly startedAt: number
  private readonly raw: net.Socket
  /** The client side as the backend sees it: the raw socket, or the TLS socket over it. */
  private client: net.Socket
  private backend?: net.Socket
  /** The current attempt's backend as the router picked it (what release() and the health calls take). */
  private picked?: Backend
  private backendId?: string
  /** The current attempt's backend counters, and when its connect began (performance.now()). */
  private counters?: BackendCounters
  private connectStartedAt = 0
  private clientIp: string
  private country: string | null = null
  private tried?: Set<string>
  private attempts = 0
  private timer?: NodeJS.Timeout
  private header?: Buffer
  /** The client table entry this connection counts in (released when it closes); UNCOUNTED: none. */
  private admitted = UNCOUNTED
  /** Idle timeout: bytes moved both ways at the last sweep, and since when they have not changed. */
  private idleBytes = -1
  private idleSinceMs = 0
  private isConnected = false
  private isTlsPending = false
  private isClientClosed = false
  private isBackendClosed = false
  private isDone = false
  private reason = ''

  constructor(
    private readonly ctx: ConnectionContext,
    socket: net.Socket,
  ) {
    this.raw = socket
    this.client = socket
    this.startedAt = ctx.logger.isDebug ? performance.now() : 0
    this.clientIp = normalizeIp(socket.remoteAddress ?? '')
    ctx.stats.accepted++
    ctx.listenerStats.accepted++
    ctx.connections.add(this)
    ;(socket as Owned)[kConnection] = this
    socket.on('error', onClientError)
    socket.on('close', onClientClose)
    if (this.clientIp === '') {
      this.finish('client_gone')
      return
    }
    if (ctx.proxyProtocol) {
      if (!ctx.proxyProtocol.trusted.contains(this.clientIp)) {
        ctx.stats.proxyHeaderUntrusted++
        this.finish('proxy_header_untrusted')
        return
      }
      this.timer = setTimeout(onHandshakeTimeout, ctx.handshakeTimeoutMs, this)
      socket.on('data', onHeaderData)
      socket.on('end', onHeaderEnd)
      socket.resume()
      return
    }
    this.afterHeader()
  }

  headerData(chunk: Buffer): void {
    const buf = this.header === undefined ? chunk : Buffer.concat([this.header, chunk])
    const parsed = parseProxyHeader(buf)
    if (parsed.kind === 'incomplete') {
      this.header = buf
      return
    }
    this.raw.removeListener('data', onHeaderData)
    this.raw.removeListener('end', onHeaderEnd)
    this.raw.pause()
    this.header = undefined
    if (parsed.kind === 'invalid') {
      this.ctx.stats.proxyHeaderInvalid++
      this.finish(`proxy_header_invalid: ${parsed.reason}`)
      return
    }
    if (parsed.source !== null) this.clientIp = normalizeIp(parsed.source.address)
    if (buf.length > parsed.length) this.raw.unshift(buf.subarray(parsed.length))
    clearTimeout(this.timer)
    this.timer = undefined
    this.afterHeader()
  }

  private afterHeader(): void {
    // Admission: after the PROXY header (the key is the real client), before any TLS handshake.
    const admission = this.ctx.admission
    if (admission !== undefined) {
      const entry = admission.admit(this.clientIp)
      if (entry === REFUSED) {
        if (admission.lastRefusal === 'rate_limited') this.ctx.stats.refusedRateLimit++
        else this.ctx.stats.refusedConnLimit++
        this.finish(admission.lastRefusal!)
        return
      }
      this.admitted = entry
    }
    if (this.ctx.tlsContext === undefined) {
      this.route()
      return
    }
    const secure = new tls.TLSSocket(this.raw, {isServer: true, secureContext: this.ctx.tlsContext()})
    this.client = secure
    this.isTlsPending = true
    ;(secure as unknown as Owned)[kConnection] = this
    secure.on('error', onClientError)
    secure.on('close', onClientClose)
    this.timer ??= setTimeout(onHandshakeTimeout, this.ctx.handshakeTimeoutMs, this)
    secure.once('secure', () => {
      this.isTlsPending = false
      clearTimeout(this.timer)
      this.timer = undefined
      this.route()
    })
  }

  headerEnded(): void {
    this.finish('client_closed_before_header')
  }

  handshakeTimeout(): void {
    this.timer = undefined
    this.ctx.stats.handshakeTimeouts++
    this.finish(this.client === this.raw && this.ctx.proxyProtocol ? 'proxy_header_timeout' : 'tls_handshake_timeout')
  }

  private route(): void {
    this.country = this.ctx.geo.country(this.clientIp)
    this.connectNext()
  }

  private connectNext(): void {
    const ctx = this.ctx
    const pick = ctx.router.acquire(this.clientIp, this.country, this.tried)
    if (pick === null) {
      if (this.attempts === 0) {
        ctx.stats.noBackend++
        ctx.warnNoBackend('no eligible backend; closing client connections', {
          client: this.clientIp,
          country: this.country,
          listener: ctx.listener,
        })
        this.finish('no_backend')
      } else {
        ctx.stats.connectGaveUp++
        this.finish('all_backends_failed')
      }
      return
    }
    const {backend} = pick
    this.picked = backend
    this.backendId = backend.id
    this.counters = pick.counters
    this.attempts++
    this.connectStartedAt = performance.now()
    const socket = ctx.dial(backend.host, backend.port)
    this.backend = socket
    ;(socket as Owned)[kConnection] = this
    socket.on('connect', onBackendConnect)
    socket.on('error', onBackendError)
    socket.on('close', onBackendClose)
    this.timer = setTimeout(onConnectTimeout, ctx.connectTimeoutMs, this)
  }

  backendConnected(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.isConnected = true
    this.counters!.observeConnectMs(performance.now() - this.connectStartedAt)
    this.ctx.router.markConnected(this.picked!)
    const backend = this.backend!
    relay(this.client as Owned, backend)
    relay(backend as Owned, this.client)
  }

  connectTimedOut(): void {
    this.timer = undefined
    this.connectFailed('timeout')
  }

  /** The current attempt failed before connecting: release it, cool the backend down, try the next. */
  private connectFailed(why: string): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const socket = this.backend!
    const picked = this.picked!
    const id = picked.id
    this.backend = undefined
    this.picked = undefined
    this.backendId = undefined
    socket.removeAllListeners()
    socket.on('error', ignore)
    socket.destroy()
    const ctx = this.ctx
    ctx.router.release(picked)
    ctx.stats.connectFailures++
    this.counters!.connectErrors++
    this.counters = undefined
    const wasCooling = ctx.router.isCooling(picked)
    ctx.router.markFailed(picked, why)
    if (!wasCooling) {
      ctx.warnBackendFailed('backend connect failed; trying the next best and avoiding it for the cooldown', {
        backend: id,
        address: formatHostPort(picked.host, picked.port),
        error: why,
      })
    }
    if (this.isDone || this.isClientClosed) {
      this.finish(this.reason || 'client_closed')
      return
    }
    ;(this.tried ??= new Set()).add(id)
    if (this.attempts >= ctx.connectAttempts) {
      ctx.stats.connectGaveUp++
      this.finish(`all_backends_failed: ${why}`)
      return
    }
    ctx.stats.failovers++
    this.connectNext()
  }

  backendError(error: Error): void {
    if (!this.isConnected) {
      this.connectFailed(errorCode(error))
      return
    }
    this.reason ||= `backend_error: ${errorCode(error)}`
    this.client.destroy()
  }

  clientError(error: Error): void {
    this.reason ||= `client_error: ${errorCode(error)}`
    if (this.isTlsPending) {
      this.isTlsPending = false
      this.ctx.stats.tlsHandshakeFailures++
    }
    this.backend?.destroy()
  }

  clientClosed(): void {
    if (this.isClientClosed) return
    this.isClientClosed = true
    if (this.backend === undefined || this.isBackendClosed) {
      this.finish(this.reason || 'client_closed')
      return
    }
    // A clean close means both directions already ended through the relay; anything else cuts the backend.
    if (!this.isConnected || this.reason !== '') this.backend.destroy()
    else if (!this.backend.writableEnded) this.backend.end()
  }

  backendClosed(): void {
    this.isBackendClosed = true
    if (this.isClientClosed) {
      this.finish(this.reason || 'closed')
      return
    }
    this.reason ||= 'backend_closed'
    // Usually the relay has already ended the client; end() again would only build an error object.
    if (!this.client.writableEnded) this.client.end()
  }

  /**
   * Called by the idle sweep (src/proxy/idle-sweep.ts): closes a relayed connection when no byte
   * moved either way since `idleMs` ago. Reading two byte counters per sweep instead of arming a
   * timer per connection or touching one per chunk keeps the relay untouched.
   */
  checkIdle(nowMs: number, idleMs: number): boolean {
    if (!this.isConnected || this.isDone) return false
    const bytes = this.raw.bytesRead + this.backend!.bytesRead
    if (bytes !== this.idleBytes) {
      this.idleBytes = bytes
      this.idleSinceMs = nowMs
      return false
    }
    if (nowMs - this.idleSinceMs < idleMs) return false
    this.reason ||= 'idle_timeout'
    this.backend!.destroy()
    this.client.destroy()
    this.finish('idle_timeout')
    return true
  }

  /** Cuts the connection (shutdown timeout) with a reset, so neither peer mistakes it for a clean end. */
  destroy(reason: string): void {
    this.reason ||= reason
    this.backend?.resetAndDestroy()
    this.raw.resetAndDestroy()
    this.client.destroy()
    this.finish(reason)
  }

  private finish(reason: string): void {
    if (this.isDone) return
    this.isDone = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    const ctx = this.ctx
    ctx.connections.delete(this)
    if (ctx.sharedOpen !== undefined) ctx.sharedOpen.closed()
    ctx.stats.completed++
    if (this.admitted !== UNCOUNTED) {
      ctx.admission!.release(this.admitted)
      this.admitted = UNCOUNTED
    }
    const backend = this.backend
    const picked = this.picked
    if (picked !== undefined) {
      ctx.router.release(picked)
      if (!this.isConnected) ctx.router.abandonConnect(picked)
    }
    if (!this.client.destroyed) this.client.destroy()
    if (!this.raw.destroyed) this.raw.destroy()
    if (backend !== undefined && !backend.destroyed) backend.destroy()
    const toBackend = backend?.bytesWritten ?? 0
    const toClient = backend?.bytesRead ?? 0
    ctx.stats.bytesFromClients += toBackend
    ctx.stats.bytesToClients += toClient
    const listenerStats = ctx.listenerStats
    listenerStats.completed++
    listenerStats.bytesFromClients += toBackend
    listenerStats.bytesToClients += toClient
    if (ctx.logger.isDebug) {
      ctx.logger.debug('connection', 'connection closed', {
        listener: ctx.listener,
        worker: ctx.worker,
        client: this.clientIp,
        country: this.country,
        backend: this.backendId ?? null,
        attempts: this.attempts,
        bytes_in: toBackend,
        bytes_out: toClient,
        duration_ms: Math.round(performance.now() - this.startedAt),
        reason: this.reason || reason,
      })
    }
  }
}
