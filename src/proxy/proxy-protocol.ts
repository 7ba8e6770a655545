// PROXY protocol v1 (text) and v2 (binary) header parsing, as HAProxy specifies it. Pure: give it
// the bytes received so far, it answers "need more", "invalid (why)" or the header's length and
// the client address it carries (null for LOCAL / UNKNOWN, meaning: use the connection's own).
import net from 'node:net'

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V1_PREFIX = Buffer.from('PROXY ')
const V1_MAX_LENGTH = 107
/** Headers beyond this (v2 with large TLVs) are refused rather than buffered. */
export const V2_MAX_LENGTH = 16 + 2048

export interface ProxiedAddress {
  address: string
  port: number
}

export type ProxyHeader =
  | {kind: 'incomplete'}
  | {kind: 'invalid'; reason: string}
  | {kind: 'ok'; version: 1 | 2; length: number; source: ProxiedAddress | null}

function startsWithPrefixOf(buf: Buffer, signature: Buffer): boolean {
  const n = Math.min(buf.length, signature.length)
  return buf.subarray(0, n).equals(signature.subarray(0, n))
}

export function parseProxyHeader(buf: Buffer): ProxyHeader {
  if (buf.length === 0) return {kind: 'incomplete'}
  if (startsWithPrefixOf(buf, V2_SIGNATURE)) return buf.length < 16 ? {kind: 'incomplete'} : parseV2(buf)
  if (startsWithPrefixOf(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? {kind: 'incomplete'} : parseV1(buf)
  return {kind: 'invalid', reason: 'no PROXY protocol signature'}
}

function parseV1(buf: Buffer): ProxyHeader {
  const limit = Math.min(buf.length, V1_MAX_LENGTH)
  const end = buf.subarray(0, limit).indexOf('\r\n')
  if (end < 0) {
    return buf.length >= V1_MAX_LENGTH ? {kind: 'invalid', reason: 'v1 header longer than 107 bytes'} : {kind: 'incomplete'}
  }
  const line = buf.toString('latin1', 0, end)
  const parts = line.split(' ')
  const length = end + 2
  if (parts[1] === 'UNKNOWN') return {kind: 'ok', version: 1, length, source: null}
  if (parts.length !== 6) return {kind: 'invalid', reason: `v1 header has ${parts.length} fields, 6 expected`}
  const [, proto, src, dst, srcPort, dstPort] = parts
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0
  if (family === 0) return {kind: 'invalid', reason: `v1 protocol ${JSON.stringify(proto)} is not TCP4, TCP6 or UNKNOWN`}
  if (net.isIP(src) !== family || net.isIP(dst) !== family) return {kind: 'invalid', reason: `v1 addresses are not ${proto}`}
  const sp = v1Port(srcPort)
  const dp = v1Port(dstPort)
  if (sp === null || dp === null) return {kind: 'invalid', reason: 'v1 port out of range'}
  return {kind: 'ok', version: 1, length, source: {address: src, port: sp}}
}

function v1Port(text: string): number | null {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return null
  const n = Number(text)
  return n <= 65_535 ? n : null
}

function parseV2(buf: Buffer): ProxyHeader {
  const verCmd = buf[12]
  if (verCmd >> 4 !== 2) return {kind: 'invalid', reason: `v2 version ${verCmd >> 4}, 2 expected`}
  const command = verCmd & 0x0f
  if (command > 1) return {kind: 'invalid', reason: `v2 command ${command} is neither LOCAL nor PROXY`}
  const famProto = buf[13]
  const bodyLength = buf.readUInt16BE(14)
  const length = 16 + bodyLength
  if (length > V2_MAX_LENGTH) return {kind: 'invalid', reason: `v2 header of ${length} bytes exceeds ${V2_MAX_LENGTH}`}
  if (buf.length < length) return {kind: 'incomplete'}
  if (command === 0) return {kind: 'ok', version: 2, length, source: null}
  const family = famProto >> 4
  const transport = famProto & 0x0f
  if (transport > 2) return {kind: 'invalid', reason: `v2 transport ${transport} is unknown`}
  if (family === 0x1) {
    if (bodyLength < 12) return {kind: 'invalid', reason: 'v2 IPv4 address block truncated'}
    const address = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`
    return {kind: 'ok', version: 2, length, source: {address, port: buf.readUInt16BE(24)}}
  }
  if (family === 0x2) {
    if (bodyLength < 36) return {kind: 'invalid', reason: 'v2 IPv6 address block truncated'}
    const groups: string[] = []
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16))
    const isV4Mapped = groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff'
    const address = isV4Mapped ? `${buf[28]}.${buf[29]}.${buf[30]}.${buf[31]}` : compressIpv6(groups)
    return {kind: 'ok', version: 2, length, source: {address, port: buf.readUInt16BE(48)}}
  }
  if (family === 0x0 || family === 0x3) return {kind: 'ok', version: 2, length, source: null}
  return {kind: 'invalid', reason: `v2 address family ${family} is unknown`}
}

/** Canonical RFC 5952 text of eight hex groups (longest run of zeros becomes ::). */
function compressIpv6(groups: string[]): string {
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen && j - i > 1) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  if (bestStart < 0) return groups.join(':')
  const head = groups.slice(0, bestStart).join(':')
  const tail = groups.slice(bestStart + bestLen).join(':')
  return `${head}::${tail}`
}

/** Builds a v1 header; for tests and the benchmark's PROXY-protocol run. */
export function encodeProxyV1(source: ProxiedAddress, destination: ProxiedAddress): Buffer {
  const family = net.isIPv6(source.address) ? 'TCP6' : 'TCP4'
  return Buffer.from(`PROXY ${family} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`, 'latin1')
}

/** Builds a v2 PROXY (or LOCAL, when source is null) header over TCP. */
export function encodeProxyV2(source: ProxiedAddress | null, destination?: ProxiedAddress): Buffer {
  if (source === null) return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])])
  const dst = destination ?? {address: net.isIPv6(source.address) ? '::' : '0.0.0.0', port: 0}
  const isV6 = net.isIPv6(source.address)
  const body = Buffer.alloc(isV6 ? 36 : 12)
  const addrBytes = (a: string) => (isV6 ? ipv6Bytes(a) : Buffer.from(a.split('.').map(Number)))
  addrBytes(source.address).copy(body, 0)
  addrBytes(dst.address).copy(body, isV6 ? 16 : 4)
  body.writeUInt16BE(source.port, isV6 ? 32 : 8)
  body.writeUInt16BE(dst.port, isV6 ? 34 : 10)
  const head = Buffer.from([0x21, isV6 ? 0x21 : 0x11, 0, 0])
  head.writeUInt16BE(body.length, 2)
  return Buffer.concat([V2_SIGNATURE, head, body])
}

function ipv6Bytes(address: string): Buffer {
  const [headText, tailText] = address.includes('::') ? address.split('::') : [address, undefined]
  const head = headText ? headText.split(':') : []
  const tail = tailText ? tailText.split(':') : []
  const zeros = tailText === undefined ? [] : new Array(8 - head.length - tail.length).fill('0')
  const groups = [...head, ...zeros, ...tail]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}
