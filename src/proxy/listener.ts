// A TCP or TLS listening socket of the proxy. It only accepts: everything after accept belongs to
// ProxyConnection. listen() resolves with the bound address (port 0 asks the OS for a free port);
// stopAccepting() closes the socket while open connections carry on.
import net from 'node:net'

import {EdgeproxyError, ExitCode} from '../errors.js'
import type {Logger} from '../log/logger.js'
import {formatHostPort, type HostPort} from '../net/address.js'
import {ProxyConnection, type ConnectionContext} from './connection.js'

export class ListenError extends EdgeproxyError {
  constructor(message: string, suggestion: string, cause: unknown) {
    super('EP_LISTEN_FAILED', message, ExitCode.invalid, {suggestion, cause})
  }
}

/** Turns a failed bind into a message naming the address and the setting to change. */
export function listenError(error: NodeJS.ErrnoException, address: string, setting: string): ListenError {
  switch (error.code) {
    case 'EADDRINUSE':
      return new ListenError(`${address} is already in use`, `stop the process listening there, or set ${setting} to another address`, error)
    case 'EACCES':
      return new ListenError(
        `no permission to listen on ${address}`,
        `use a port above 1023, grant CAP_NET_BIND_SERVICE, or set ${setting} to another address`,
        error,
      )
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ListenError(`${address} is not an address of this host`, `set ${setting} to a local address such as 0.0.0.0 or [::]`, error)
    default:
      return new ListenError(`cannot listen on ${address}: ${error.message}`, `check ${setting}`, error)
  }
}

/** `isShared`: several sockets (workers) listen on the address together (SO_REUSEPORT, Node 22.12+). */
export async function listenOn(server: net.Server, address: HostPort, setting: string, isShared = false): Promise<HostPort> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(listenError(error, formatHostPort(address.host, address.port), setting))
    server.once('error', onError)
    const options: net.ListenOptions & {reusePort?: boolean} = {host: address.host, port: address.port, ipv6Only: false}
    if (isShared) options.reusePort = true
    server.listen(options, () => {
      server.removeListener('error', onError)
      resolve()
    })
  })
  const bound = server.address() as net.AddressInfo
  return {host: bound.address, port: bound.port}
}

function ignore(): void {}

/** Closed at once, before any byte is read or anything dialled; counted, and logged at most once a second. */
function refuseOverCap(ctx: ConnectionContext, socket: net.Socket): void {
  socket.on('error', ignore)
  socket.destroy()
  ctx.stats.refusedMaxConnections++
  ctx.warnMaxConnections('EDGEPROXY_MAX_CONNECTIONS reached: closing new connections at accept', {
    max_connections: ctx.maxConnections,
    listener: ctx.listener,
  })
}

export class ProxyListener {
  private readonly server: net.Server
  private boundAddress?: HostPort

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly logger: Logger,
  ) {
    this.server = net.createServer({allowHalfOpen: true, noDelay: true}, (socket) => {
      // The whole proxy's cap, counted over every listener (a per-server maxConnections would not be).
      if (ctx.maxConnections > 0 && (ctx.sharedOpen === undefined ? ctx.connections.size >= ctx.maxConnections : !ctx.sharedOpen.tryOpen(ctx.maxConnections))) {
        refuseOverCap(ctx, socket)
      }
      else new ProxyConnection(ctx, socket)
    })
  }

  async listen(address: HostPort, setting: string, isShared = false): Promise<HostPort> {
    this.boundAddress = await listenOn(this.server, address, setting, isShared)
    // Later failures (EMFILE on accept and the like) must not kill the process; they are logged.
    this.server.on('error', (error: NodeJS.ErrnoException) =>
      this.logger.error('listener_error', `${this.ctx.listener} listener error: ${error.message}`, {code: error.code ?? null}),
    )
    return this.boundAddress
  }

  get address(): HostPort | undefined {
    return this.boundAddress
  }

  /** Stops accepting; open connections are untouched. */
  stopAccepting(): void {
    if (this.server.listening) this.server.close()
  }
}
