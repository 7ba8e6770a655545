// The key admission counts a client under: its address masked to a prefix (HAProxy's ipmask), so a
// client that owns a whole IPv6 /64 cannot escape its limits by rotating addresses inside it; and
// the exempt list. Pure, and written for the accept path: the address is parsed once, by hand, into
// a reused buffer, and the key is written as four 32-bit words (what the shared client table stores
// and hashes) without allocating; the text form (`203.0.113.0/24`, `2001:db8::/64`) is for logs and the API.
import {ipv4ToInt} from '../net/address.js'

export interface KeyPrefixes {
  /** 32 = one key per IPv4 address. */
  ipv4: number
  /** 64 = one key per /64, the usual size of one customer's IPv6 network. */
  ipv6: number
}

function maskOf(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0
}

function ipv4Text(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/**
 * Parses an IPv6 literal (`::` shorthand, an embedded IPv4 tail, a `%zone`) into eight 16-bit groups
 * in `out`, without allocating for the usual forms; false when it is not one.
 */
export function parseIpv6Into(ip: string, out: Uint16Array): boolean {
  let end = ip.indexOf('%')
  if (end < 0) end = ip.length
  let n = 0
  let gap = -1
  let i = 0
  if (end >= 2 && ip.charCodeAt(0) === 58) {
    if (ip.charCodeAt(1) !== 58) return false
    gap = 0
    i = 2
  }
  while (i < end) {
    let value = 0
    let digits = 0
    let j = i
    for (; j < end; j++) {
      const d = hexDigit(ip.charCodeAt(j))
      if (d < 0) break
      if (++digits > 4) return false
      value = value * 16 + d
    }
    if (j < end && ip.charCodeAt(j) === 46) {
      // An IPv4 tail (::ffff:192.0.2.1): the last 32 bits.
      const v4 = ipv4ToInt(ip.slice(i, end))
      if (v4 < 0 || n > 6) return false
      out[n++] = v4 >>> 16
      out[n++] = v4 & 0xffff
      i = end
      break
    }
    if (digits === 0 || n >= 8) return false
    out[n++] = value
    i = j
    if (i === end) break
    if (ip.charCodeAt(i) !== 58) return false
    i++
    if (i < end && ip.charCodeAt(i) === 58) {
      if (gap >= 0) return false
      gap = n
      i++
    } else if (i === end) {
      return false
    }
  }
  if (gap < 0) return n === 8
  if (n >= 8) return false
  const tail = n - gap
  for (let k = 0; k < tail; k++) out[7 - k] = out[n - 1 - k]
  for (let k = gap; k < 8 - tail; k++) out[k] = 0
  return true
}

interface V6Range {
  groups: Uint16Array
  bits: number
}

function inV6Range(r: V6Range, groups: Uint16Array): boolean {
  let bits = r.bits
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff
    if ((groups[i] & mask) !== (r.groups[i] & mask)) return false
  }
  return true
}

/** What keyWordsInto() returns for an exempt address (neither limited nor counted). */
export const KEY_EXEMPT = 0
export const KEY_IPV4 = 4
export const KEY_IPV6 = 6
/** Not an address this parser reads (never from a socket): the words are hashes of the text. */
export const KEY_TEXT = 9

/**
 * Mixes a key (its kind and four words) into a 32-bit hash, never 0: murmur3's finaliser over each
 * word in turn, so keys differing in any bit spread over the whole table.
 */
export function hashKeyWords(kind: number, w: Int32Array): number {
  let h = Math.imul(kind, 0x9e3779b1)
  for (let i = 0; i < 4; i++) {
    h ^= w[i]
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
    h ^= h >>> 16
  }
  return h === 0 ? 1 : h
}

/** FNV-1a of a text with a seed (the words of a KEY_TEXT key). */
function textHash(text: string, seed: number): number {
  let h = seed
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h
}

/** Client keys and the exempt list of one configuration. Not reentrant (one scratch buffer). */
export class ClientKeys {
  private readonly v4Bases: Uint32Array
  private readonly v4Masks: Uint32Array
  private readonly v6Ranges: V6Range[]
  private readonly scratch = new Uint16Array(8)

  /** `exempt`: a CIDR list as EDGEPROXY_RATE_LIMIT_EXEMPT takes it, already validated. */
  constructor(
    readonly prefixes: KeyPrefixes,
    exempt: string,
  ) {
    const bases: number[] = []
    const masks: number[] = []
    this.v6Ranges = []
    for (const entry of exempt.split(',').map((s) => s.trim()).filter(Boolean)) {
      const slash = entry.indexOf('/')
      const address = slash < 0 ? entry : entry.slice(0, slash)
      const v4 = ipv4ToInt(address)
      if (v4 >= 0) {
        const mask = maskOf(slash < 0 ? 32 : Number(entry.slice(slash + 1)))
        masks.push(mask)
        bases.push((v4 & mask) >>> 0)
        continue
      }
      const groups = new Uint16Array(8)
      if (!parseIpv6Into(address, groups)) throw new Error(`"${entry}" is not an IP address or CIDR block`)
      this.v6Ranges.push({groups, bits: slash < 0 ? 128 : Number(entry.slice(slash + 1))})
    }
    this.v4Bases = Uint32Array.from(bases)
    this.v4Masks = Uint32Array.from(masks)
  }

  /**
   * The key `ip` is counted under, or null when it is exempt: `203.0.113.7` (or `203.0.113.0/24`
   * with a shorter IPv4 prefix), `2001:db8:1:2::/64` for any address in that /64.
   */
  keyOf(ip: string): string | null {
    const v4 = ipv4ToInt(ip)
    if (v4 >= 0) {
      for (let i = 0; i < this.v4Bases.length; i++) if (((v4 & this.v4Masks[i]) >>> 0) === this.v4Bases[i]) return null
      const bits = this.prefixes.ipv4
      return bits >= 32 ? ip : `${ipv4Text((v4 & maskOf(bits)) >>> 0)}/${bits}`
    }
    const groups = this.scratch
    if (!parseIpv6Into(ip, groups)) return ip
    for (const r of this.v6Ranges) if (inV6Range(r, groups)) return null
    return ipv6Key(groups, this.prefixes.ipv6)
  }

  /**
   * The key of `ip` as words in `out` (four: an IPv4 key in out[0], an IPv6 prefix in all four,
   * masked) and its kind (KEY_IPV4, KEY_IPV6), or KEY_EXEMPT (out untouched). Allocates nothing for
   * an address a socket reports.
   */
  keyWordsInto(ip: string, out: Int32Array, isExemptChecked = true): number {
    const v4 = ipv4ToInt(ip)
    if (v4 >= 0) {
      if (isExemptChecked) for (let i = 0; i < this.v4Bases.length; i++) if (((v4 & this.v4Masks[i]) >>> 0) === this.v4Bases[i]) return KEY_EXEMPT
      out[0] = v4 & maskOf(this.prefixes.ipv4)
      out[1] = 0
      out[2] = 0
      out[3] = 0
      return KEY_IPV4
    }
    const groups = this.scratch
    if (!parseIpv6Into(ip, groups)) {
      for (let i = 0; i < 4; i++) out[i] = textHash(ip, 0x811c9dc5 + i * 0x3c6ef372)
      return KEY_TEXT
    }
    if (isExemptChecked) for (const r of this.v6Ranges) if (inV6Range(r, groups)) return KEY_EXEMPT
    let bits = Math.min(128, Math.max(0, this.prefixes.ipv6))
    for (let i = 0; i < 4; i++, bits -= 32) {
      const word = ((groups[i * 2] << 16) | groups[i * 2 + 1]) >>> 0
      out[i] = bits >= 32 ? word : bits <= 0 ? 0 : word & maskOf(bits)
    }
    return KEY_IPV6
  }

  /** The key whether or not the address is exempt (for `route explain`). */
  describe(ip: string): {key: string; isExempt: boolean} {
    const key = this.keyOf(ip)
    if (key !== null) return {key, isExempt: false}
    const bare = new ClientKeys(this.prefixes, '')
    return {key: bare.keyOf(ip)!, isExempt: true}
  }
}

function ipv6Key(groups: Uint16Array, prefix: number): string {
  const bits = Math.min(128, Math.max(0, prefix))
  let key = ''
  let remaining = bits
  for (let i = 0; i < 8 && remaining > 0; i++, remaining -= 16) {
    const mask = remaining >= 16 ? 0xffff : (0xffff << (16 - remaining)) & 0xffff
    key += (i === 0 ? '' : ':') + (groups[i] & mask).toString(16)
  }
  return bits === 128 ? key : `${key}::/${bits}`
}
