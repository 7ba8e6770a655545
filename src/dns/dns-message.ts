// Bytes in, bytes out: one DNS message as a UDP datagram or a TCP frame payload becomes the reply to
// send, or nothing. dns-packet is only the codec here; every decode and encode sits in a try, so
// no packet can throw out of a socket handler. A message with a readable header gets FORMERR when
// it cannot be decoded; shorter ones and responses (QR set) are dropped.
import dnsPacket, {type Answer, type DecodedPacket, type Packet} from 'dns-packet'

import {answer, FLAG_RD, FLAG_TC, RCODE, type QueryContext, type RcodeName} from './answer.js'
import type {RecordTable} from './record-table.js'

const HEADER_BYTES = 12
const FLAG_QR = 1 << 15
/** The most a DNS message can be: the 16-bit length prefix of TCP (RFC 1035 §4.2.2). */
export const MAX_TCP_MESSAGE = 65_535

export type Transport = 'udp' | 'tcp'

export interface Handled {
  /** The bytes to send back (without the TCP length prefix), or null to drop the message. */
  reply: Buffer | null
  qtype: string
  /** NOERROR, NXDOMAIN, …, or DROPPED when nothing is sent. */
  rcode: RcodeName | 'DROPPED'
  isTruncated: boolean
}

const dropped: Handled = {reply: null, qtype: 'NONE', rcode: 'DROPPED', isTruncated: false}

export function handleMessage(bytes: Buffer, transport: Transport, table: RecordTable, ctx: QueryContext): Handled {
  if (bytes.length < HEADER_BYTES) return dropped
  const flags = bytes.readUInt16BE(2)
  if ((flags & FLAG_QR) !== 0) return dropped
  let query: DecodedPacket
  try {
    query = dnsPacket.decode(bytes)
  } catch {
    return {reply: headerOnly(bytes, 'FORMERR'), qtype: 'NONE', rcode: 'FORMERR', isTruncated: false}
  }
  try {
    const response = answer(query, table, ctx)
    const limit = transport === 'udp' ? response.udpLimit : MAX_TCP_MESSAGE
    const {bytes: reply, isTruncated} = encodeWithin(response.packet, limit)
    return {reply, qtype: response.qtype, rcode: response.rcode, isTruncated}
  } catch {
    // A bug in an answer or a record the codec refuses: the client gets SERVFAIL, the server carries on.
    return {reply: headerOnly(bytes, 'SERVFAIL'), qtype: 'NONE', rcode: 'SERVFAIL', isTruncated: false}
  }
}

/** A reply with no sections: the query's id, opcode and RD, and the rcode. */
function headerOnly(query: Buffer, rcode: RcodeName): Buffer {
  const reply = Buffer.alloc(HEADER_BYTES)
  const flags = query.readUInt16BE(2)
  reply.writeUInt16BE(query.readUInt16BE(0), 0)
  reply.writeUInt16BE(FLAG_QR | (flags & ((0xf << 11) | FLAG_RD)) | (RCODE[rcode] & 0xf), 2)
  return reply
}

const recordLength = (a: Answer) => dnsPacket.encodingLength({answers: [a]}) - HEADER_BYTES

/**
 * Encodes the response within `limit` bytes. Too big: the additional records go first (without
 * TC, RFC 2181 §9: extra information is optional); still too big: TC is set and answers are kept
 * whole, as many as fit, so the client retries over TCP.
 */
export function encodeWithin(packet: Packet, limit: number): {bytes: Buffer; isTruncated: boolean} {
  const full = dnsPacket.encode(packet)
  if (full.length <= limit) return {bytes: full, isTruncated: false}
  const opt = (packet.additionals ?? []).filter((a) => a.type === 'OPT')
  const lean: Packet = {...packet, additionals: opt}
  if (dnsPacket.encodingLength(lean) <= limit) return {bytes: dnsPacket.encode(lean), isTruncated: false}
  const answers = packet.answers ?? []
  let size = dnsPacket.encodingLength({...lean, answers: []})
  let kept = 0
  while (kept < answers.length) {
    const next = recordLength(answers[kept])
    if (size + next > limit) break
    size += next
    kept++
  }
  return {bytes: dnsPacket.encode({...lean, flags: (packet.flags ?? 0) | FLAG_TC, answers: answers.slice(0, kept)}), isTruncated: true}
}
