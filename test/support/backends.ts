// Real backend servers for tests: TCP servers on loopback that greet each connection with their
// own id, then echo. They count live connections and can hold connections open on demand.
import {once} from 'node:events'
import net from 'node:net'

export interface TestBackend {
  id: string
  host: string
  port: number
  /** Connections currently open on this backend. */
  readonly open: number
  /** Total connections accepted. */
  readonly accepted: number
  /** Bytes read from all connections so far. */
  readonly received: number
  server: net.Server
  close(): Promise<void>
}

export interface BackendOptions {
  host?: string
  /** Greet with `${id}\n` on connect (default true). */
  greet?: boolean
}

export async function startBackend(id: string, options: BackendOptions = {}): Promise<TestBackend> {
  const sockets = new Set<net.Socket>()
  let accepted = 0
  let received = 0
  const server = net.createServer({allowHalfOpen: true}, (socket) => {
    accepted++
    socket.on('data', (chunk: Buffer) => (received += chunk.length))
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    if (options.greet !== false) socket.write(`${id}\n`)
    // Echo, and answer a half-close with our own once everything is echoed.
    socket.pipe(socket)
  })
  server.listen(0, options.host ?? '127.0.0.1')
  await once(server, 'listening')
  const address = server.address() as net.AddressInfo
  return {
    id,
    host: address.address,
    port: address.port,
    server,
    get open() {
      return sockets.size
    },
    get accepted() {
      return accepted
    },
    get received() {
      return received
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A port on which nothing listens (bound once, then closed). */
export async function closedPort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const {port} = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Reads from a socket until `predicate(text)` holds; rejects on close first. */
export function readUntil(socket: net.Socket, predicate: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms; got ${JSON.stringify(text)}`)), timeoutMs)
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8')
      if (predicate(text)) finish()
    }
    const onClose = () => finish(new Error(`closed before the expected data; got ${JSON.stringify(text)}`))
    const finish = (error?: Error) => {
      clearTimeout(timer)
      socket.removeListener('data', onData)
      socket.removeListener('close', onClose)
      socket.removeListener('end', onClose)
      if (error) reject(error)
      else resolve(text)
    }
    socket.on('data', onData)
    socket.once('end', onClose)
    socket.once('close', onClose)
  })
}

export interface ClientOptions {
  host?: string
  /** Bytes sent first (a PROXY header). */
  preamble?: Buffer
  /** Source address, e.g. 127.0.0.2: every 127/8 address is loopback, so tests get distinct clients. */
  localAddress?: string
}

/** Connects, sends the preamble, and resolves with the backend id from the greeting line. */
export async function connectAndGreet(port: number, options: ClientOptions = {}): Promise<{socket: net.Socket; id: string}> {
  const socket = net.connect({host: options.host ?? '127.0.0.1', port, allowHalfOpen: true, localAddress: options.localAddress})
  socket.on('error', () => {})
  await once(socket, 'connect')
  if (options.preamble) socket.write(options.preamble)
  const text = await readUntil(socket, (t) => t.includes('\n'))
  return {socket, id: text.slice(0, text.indexOf('\n'))}
}

/** Resolves when the socket closes (either side); with whether any data arrived first. */
export function closed(socket: net.Socket): Promise<{data: string}> {
  return new Promise((resolve) => {
    let data = ''
    socket.on('data', (c: Buffer) => (data += c.toString()))
    // A half-open client must answer the peer's FIN for the socket to close.
    socket.on('end', () => socket.end())
    socket.resume()
    if (socket.destroyed) resolve({data})
    socket.once('close', () => resolve({data}))
  })
}

/** Polls a condition every 10 ms (for state with no event of its own); fails after timeoutMs. */
export async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
