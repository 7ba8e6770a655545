// The DNS server's sockets: for every configured address one UDP socket (bound to that address, so a
// reply leaves from the address the query came to) and one TCP listener (RFC 7766: 2-byte length
// prefix, pipelined queries answered in order, an idle timeout, bounded buffers). It knows nothing
// of records: every message goes to `handle`, which returns the reply bytes or null.
import dgram from 'node:dgram'
import net from 'node:net'

import type {Logger} from '../log/logger.js'
import {formatHostPort, type HostPort} from '../net/address.js'
import {listenError} from '../proxy/listener.js'
import type {Transport} from './dns-message.js'

export type MessageHandler = (message: Buffer, transport: Transport, remoteAddress: string, localAddress: string) => Buffer | null

export interface DnsServerOptions {
  handle: MessageHandler
  logger: Logger
  /** The setting to name when an address cannot be bound. */
  setting: string
  /** A TCP connection with no complete query for this long is closed (RFC 7766 §6.2.3). */
  idleTimeoutMs?: number
  /** Open TCP connections at most; more are closed at once. */
  maxTcpConnections?: number
}

export const DEFAULT_TCP_IDLE_TIMEOUT_MS = 10_000
export const DEFAULT_MAX_TCP_CONNECTIONS = 256
/** Replies a client has not read yet; above this the connection stops being read until it drains. */
const MAX_UNSENT_BYTES = 256 * 1024
/** Tries to find a port free for both UDP and TCP when port 0 is asked for. */
const PORT_ZERO_ATTEMPTS = 8

export interface DnsServerStats {
  udpMessages: number
  tcpMessages: number
  tcpConnections: number
  tcpRefused: number
  tcpIdleClosed: number
}

interface Endpoint {
  udp: dgram.Socket
  tcp: net.Server
  address: HostPort
}

export class DnsServer {
  readonly stats: DnsServerStats = {udpMessages: 0, tcpMessages: 0, tcpConnections: 0, tcpRefused: 0, tcpIdleClosed: 0}
  private readonly endpoints: Endpoint[] = []
  private readonly sockets = new Set<net.Socket>()
  private readonly idleTimeoutMs: number
  private readonly maxTcpConnections: number

  constructor(private readonly options: DnsServerOptions) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_TCP_IDLE_TIMEOUT_MS
    this.maxTcpConnections = options.maxTcpConnections ?? DEFAULT_MAX_TCP_CONNECTIONS
  }

  /** Binds every address (UDP and TCP on the same port); resolves with the bound addresses in order. */
  async listen(addresses: readonly HostPort[]): Promise<HostPort[]> {
    try {
      for (const address of addresses) this.endpoints.push(await this.bind(address))
    } catch (error) {
      this.close()
      throw error
    }
    return this.endpoints.map((e) => e.address)
  }

  get addresses(): HostPort[] {
    return this.endpoints.map((e) => e.address)
  }

  get openConnections(): number {
    return this.sockets.size
  }

  /** No new queries: sockets and listeners close; open TCP connections finish what they read. */
  stopAccepting(): void {
    for (const e of this.endpoints) {
      if (e.tcp.listening) e.tcp.close()
      try {
        e.udp.close()
      } catch {
        // already closed
      }
    }
  }

  close(): void {
    this.stopAccepting()
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
  }

  private async bind(address: HostPort): Promise<Endpoint> {
    const text = formatHostPort(address.host, address.port)
    for (let attempt = 1; ; attempt++) {
      const udp = dgram.createSocket(net.isIPv6(address.host) ? {type: 'udp6', ipv6Only: true} : {type: 'udp4'})
      let port: number
      try {
        port = await new Promise<number>((resolve, reject) => {
          udp.once('error', reject)
          udp.bind({address: address.host, port: address.port, exclusive: true}, () => {
            udp.removeListener('error', reject)
            resolve(udp.address().port)
          })
        })
      } catch (error) {
        throw listenError(error as NodeJS.ErrnoException, `${text} (udp)`, this.options.setting)
      }
      const tcp = net.createServer({noDelay: true}, (socket) => this.accept(socket, address.host))
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject)
          tcp.listen({host: address.host, port, ipv6Only: true, exclusive: true}, () => {
            tcp.removeListener('error', reject)
            resolve()
          })
        })
      } catch (error) {
        udp.close()
        // Port 0 gave a UDP port whose TCP twin is taken: ask again.
        if (address.port === 0 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < PORT_ZERO_ATTEMPTS) continue
        throw listenError(error as NodeJS.ErrnoException, `${formatHostPort(address.host, port)} (tcp)`, this.options.setting)
      }
      const bound = {host: address.host, port}
      udp.on('message', (message, remote) => this.onDatagram(udp, message, remote, bound.host))
      udp.on('error', (error) => this.options.logger.error('dns_socket_error', `DNS UDP socket ${formatHostPort(bound.host, port)}: ${error.message}`))
      tcp.on('error', (error) => this.options.logger.error('dns_socket_error', `DNS TCP listener ${formatHostPort(bound.host, port)}: ${error.message}`))
      return {udp, tcp, address: bound}
    }
  }

  private onDatagram(udp: dgram.Socket, message: Buffer, remote: dgram.RemoteInfo, localAddress: string): void {
    this.stats.udpMessages++
    const reply = this.safeHandle(message, 'udp', remote.address, localAddress)
    if (reply === null) return
    udp.send(reply, remote.port, remote.address, (error) => {
      if (error) this.options.logger.debug('dns_send_failed', `DNS reply to ${formatHostPort(remote.address, remote.port)} failed: ${error.message}`)
    })
  }

  private safeHandle(message: Buffer, transport: Transport, remoteAddress: string, localAddress: string): Buffer | null {
    try {
      return this.options.handle(message, transport, remoteAddress, localAddress)
    } catch (error) {
      this.options.logger.error('dns_handler_failed', `DNS message handler threw: ${(error as Error).message}`)
      return null
    }
  }

  private accept(socket: net.Socket, localAddress: string): void {
    if (this.sockets.size >= this.maxTcpConnections) {
      this.stats.tcpRefused++
      socket.destroy()
      return
    }
    this.stats.tcpConnections++
    this.sockets.add(socket)
    const remoteAddress = socket.remoteAddress ?? ''
    // Bytes of a frame not complete yet. Chunks are only joined once the frame is whole, so a client
    // trickling a 64 KB frame byte by byte costs one copy, not one per byte; at most one partial
    // frame (≤ 65,537 bytes) and the chunk it came with are ever held.
    let chunks: Buffer[] = []
    let held = 0
    let needed = 2
    socket.setTimeout(this.idleTimeoutMs, () => {
      this.stats.tcpIdleClosed++
      socket.destroy()
    })
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      held += chunk.length
      if (held < needed) return
      const buffer = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, held)
      let offset = 0
      // Pipelined queries: each complete frame is answered in order.
      while (buffer.length - offset >= 2) {
        const length = buffer.readUInt16BE(offset)
        if (buffer.length - offset - 2 < length) break
        const message = buffer.subarray(offset + 2, offset + 2 + length)
        offset += 2 + length
        this.stats.tcpMessages++
        const reply = this.safeHandle(message, 'tcp', remoteAddress, localAddress)
        if (reply === null) continue
        const frame = Buffer.allocUnsafe(2 + reply.length)
        frame.writeUInt16BE(reply.length, 0)
        reply.copy(frame, 2)
        socket.write(frame)
      }
      const rest = buffer.subarray(offset)
      chunks = rest.length === 0 ? [] : [rest]
      held = rest.length
      needed = rest.length >= 2 ? 2 + rest.readUInt16BE(0) : 2
      if (socket.writableLength > MAX_UNSENT_BYTES && !socket.isPaused()) {
        socket.pause()
        socket.once('drain', () => socket.resume())
      }
    })
    socket.on('error', () => socket.destroy())
    socket.on('close', () => this.sockets.delete(socket))
  }
}
