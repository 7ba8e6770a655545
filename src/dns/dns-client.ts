// A small stub client for `edgeproxy dns query` (like `fly dig`): one question to one server over
// UDP, retried once, then over TCP when the reply is truncated (or when asked). It reports the
// rcode, the flags and every section with TTLs. It knows nothing of the engine, so the command
// starts fast; dns-packet is the codec.
import dgram from 'node:dgram'
import net from 'node:net'

import dnsPacket, {type Answer, type DecodedPacket, type RecordType} from 'dns-packet'

import {UnavailableError} from '../errors.js'
import {formatHostPort, type HostPort} from '../net/address.js'

export const QUERY_TYPES = ['A', 'AAAA', 'SRV', 'TXT', 'SOA', 'NS', 'ANY'] as const
export type QueryType = (typeof QUERY_TYPES)[number]
export const DEFAULT_DNS_SERVER = '127.0.0.1:5353'
const DEFAULT_PORT = 5353

export interface DnsRecordJson {
  name: string
  type: string
  ttl: number
  /** A/AAAA/NS: the text; TXT: its strings; SRV and SOA: their fields. */
  data: unknown
}

export interface DnsQueryResult {
  server: string
  name: string
  type: QueryType
  transport: 'udp' | 'tcp'
  rcode: string
  flags: {aa: boolean; tc: boolean; rd: boolean; ra: boolean}
  elapsed_ms: number
  answers: DnsRecordJson[]
  authorities: DnsRecordJson[]
  additionals: DnsRecordJson[]
}

/** `127.0.0.1:5353`, `[fd00::3]:53`, or a bare address (port 5353). */
export function parseDnsServer(text: string): HostPort {
  const t = text.trim()
  if (net.isIP(t) !== 0) return {host: t, port: DEFAULT_PORT}
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(t)
  const plain = /^([^:[\]]+):(\d{1,5})$/.exec(t)
  const host = bracketed?.[1] ?? plain?.[1]
  const port = Number(bracketed?.[2] ?? plain?.[2] ?? DEFAULT_PORT)
  if (host === undefined || net.isIP(host) === 0 || port < 1 || port > 65_535) {
    throw new Error(`"${text}" is not an IP address with an optional port, for example 127.0.0.1:5353 or [fd00::3]:5353`)
  }
  return {host, port}
}

function recordJson(a: Answer): DnsRecordJson | null {
  if (a.type === 'OPT') return null
  const ttl = a.ttl ?? 0
  let data: unknown = a.data
  if (a.type === 'TXT') data = (Array.isArray(a.data) ? a.data : [a.data]).map((s) => s.toString())
  else if (Buffer.isBuffer(data)) data = data.toString('hex')
  return {name: a.name, type: a.type, ttl, data}
}

const records = (list: Answer[] | undefined) => (list ?? []).map(recordJson).filter((r): r is DnsRecordJson => r !== null)

/** The reply, 'refused' when the host answered that nothing listens (ICMP), or null on a timeout. */
function udpExchange(server: HostPort, query: Buffer, id: number, timeoutMs: number): Promise<Buffer | 'refused' | null> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4')
    const done = (reply: Buffer | 'refused' | null) => {
      clearTimeout(timer)
      socket.close()
      resolve(reply)
    }
    const timer = setTimeout(() => done(null), timeoutMs)
    // Connected: only replies from the server are read, and a closed port fails at once (ICMP).
    socket.on('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? 'refused' : null))
    socket.on('message', (reply) => {
      if (reply.length >= 2 && reply.readUInt16BE(0) === id) done(reply)
    })
    socket.connect(server.port, server.host, () => socket.send(query))
  })
}

function tcpExchange(server: HostPort, query: Buffer, timeoutMs: number): Promise<Buffer | 'refused' | null> {
  return new Promise((resolve) => {
    const socket = net.connect({host: server.host, port: server.port})
    let buffer = Buffer.alloc(0)
    const done = (reply: Buffer | 'refused' | null) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(reply)
    }
    const timer = setTimeout(() => done(null), timeoutMs)
    socket.on('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? 'refused' : null))
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      if (buffer.length >= 2 && buffer.length >= 2 + buffer.readUInt16BE(0)) done(buffer.subarray(2, 2 + buffer.readUInt16BE(0)))
    })
    const framed = Buffer.alloc(2 + query.length)
    framed.writeUInt16BE(query.length, 0)
    query.copy(framed, 2)
    socket.write(framed)
  })
}

export interface DnsQueryOptions {
  server: HostPort
  name: string
  type: QueryType
  /** Skip UDP. */
  isTcp?: boolean
  timeoutMs?: number
}

export async function queryDns(options: DnsQueryOptions): Promise<DnsQueryResult> {
  const timeoutMs = options.timeoutMs ?? 2000
  const id = Math.floor(Math.random() * 0x10000)
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{name: options.name, type: options.type as RecordType, class: 'IN'}],
    additionals: [{name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: []}],
  })
  const started = performance.now()
  let transport: 'udp' | 'tcp' = 'tcp'
  let reply: Buffer | 'refused' | null = null
  if (!options.isTcp) {
    transport = 'udp'
    for (let attempt = 0; attempt < 2 && reply === null; attempt++) reply = await udpExchange(options.server, query, id, timeoutMs)
    if (Buffer.isBuffer(reply) && (reply.readUInt16BE(2) & dnsPacket.TRUNCATED_RESPONSE) !== 0) {
      transport = 'tcp'
      reply = await tcpExchange(options.server, query, timeoutMs)
    }
  } else {
    reply = await tcpExchange(options.server, query, timeoutMs)
  }
  const server = formatHostPort(options.server.host, options.server.port)
  if (!Buffer.isBuffer(reply)) {
    const what = reply === 'refused' ? `nothing listens on ${server} (${transport}: refused)` : `no DNS answer from ${server} over ${transport} within ${timeoutMs / 1000} s`
    throw new UnavailableError('EP_DNS_UNREACHABLE', what, {
      suggestion: 'check that edgeproxy runs with --dns (EDGEPROXY_DNS_ENABLED=true) and listens there (EDGEPROXY_DNS_LISTEN_ADDR), or pass --server',
    })
  }
  let decoded: DecodedPacket & {rcode?: string}
  try {
    decoded = dnsPacket.decode(reply) as DecodedPacket & {rcode?: string}
  } catch (error) {
    throw new UnavailableError('EP_DNS_BAD_REPLY', `${server} sent a reply that does not decode: ${(error as Error).message}`, {
      suggestion: 'make sure --server names an edgeproxy DNS listener',
    })
  }
  return {
    server,
    name: options.name,
    type: options.type,
    transport,
    rcode: decoded.rcode ?? 'UNKNOWN',
    flags: {aa: decoded.flag_aa, tc: decoded.flag_tc, rd: decoded.flag_rd, ra: decoded.flag_ra},
    elapsed_ms: Math.round((performance.now() - started) * 10) / 10,
    answers: records(decoded.answers),
    authorities: records(decoded.authorities),
    additionals: records(decoded.additionals),
  }
}
