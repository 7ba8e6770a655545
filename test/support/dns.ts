// DNS clients for tests, independent of the server's own code: Node's resolver (c-ares) for what
// applications see, and raw UDP/TCP exchanges of dns-packet-encoded bytes for flags, TTLs and TC.
import dgram from 'node:dgram'
import dns from 'node:dns'
import net from 'node:net'

import dnsPacket, {type Answer, type DecodedPacket, type RecordType} from 'dns-packet'

export type Decoded = DecodedPacket & {rcode: string}

export function resolver(host: string, port: number): dns.promises.Resolver {
  const r = new dns.promises.Resolver({timeout: 2000, tries: 1})
  r.setServers([host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`])
  return r
}

/** The error code Node's resolver fails with (ENOTFOUND = NXDOMAIN, ENODATA = NODATA, EREFUSED). */
export async function resolveError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'no code'
  }
  return 'resolved'
}

/** Whether this machine has an IPv6 loopback to bind (some containers run without one). */
export function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket({type: 'udp6', ipv6Only: true})
    socket.once('error', () => resolve(false))
    socket.bind(0, '::1', () => {
      socket.close()
      resolve(true)
    })
  })
}

let nextId = 1

export function encodeQuery(name: string, type: string, options: {ednsSize?: number; id?: number} = {}): Buffer {
  const additionals: Answer[] =
    options.ednsSize === undefined ? [] : [{name: '.', type: 'OPT', udpPayloadSize: options.ednsSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: []}]
  return dnsPacket.encode({type: 'query', id: options.id ?? nextId++ & 0xffff, flags: dnsPacket.RECURSION_DESIRED, questions: [{name, type: type as RecordType, class: 'IN'}], additionals})
}

/** One datagram out, the first reply back, with the address it came from. */
export function udpExchange(host: string, port: number, message: Buffer, timeoutMs = 2000): Promise<{reply: Buffer; from: string; decoded: Decoded}> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close()
      reject(new Error(`no UDP reply from ${host}:${port} in ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('error', reject)
    socket.on('message', (reply, rinfo) => {
      clearTimeout(timer)
      socket.close()
      resolve({reply, from: rinfo.address, decoded: dnsPacket.decode(reply) as Decoded})
    })
    socket.send(message, port, host)
  })
}

/** Sends raw bytes over one TCP connection and collects `expected` length-prefixed replies. */
export function tcpExchange(host: string, port: number, bytes: Buffer, expected: number, timeoutMs = 3000): Promise<Decoded[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host, port})
    const replies: Decoded[] = []
    let buffer = Buffer.alloc(0)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`${replies.length} of ${expected} TCP replies in ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('error', reject)
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      while (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) {
        const length = buffer.readUInt16BE(0)
        replies.push(dnsPacket.decode(buffer.subarray(2, 2 + length)) as Decoded)
        buffer = buffer.subarray(2 + length)
      }
      if (replies.length >= expected) {
        clearTimeout(timer)
        socket.destroy()
        resolve(replies)
      }
    })
    socket.write(bytes)
  })
}

export function frame(message: Buffer): Buffer {
  const out = Buffer.alloc(2 + message.length)
  out.writeUInt16BE(message.length, 0)
  message.copy(out, 2)
  return out
}

export const ttlsOf = (p: {answers?: Answer[]; authorities?: Answer[]}, section: 'answers' | 'authorities' = 'answers') =>
  (p[section] ?? []).map((a) => (a as {ttl?: number}).ttl)
