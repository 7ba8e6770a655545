// RFC 4193 §3.2.2 Unique Local Address prefixes: fd00::/8 + a 40-bit pseudo-random Global ID = a
// /48 for one cluster. The clock and the node identifier are injected so tests are deterministic;
// nothing here stores the result (address-plan.ts and the secrets file do).
import crypto from 'node:crypto'

import {formatPrefix, type IpPrefix} from './ipv6.js'

/** Seconds from the NTP epoch (1900-01-01) to the Unix epoch. */
const NTP_UNIX_OFFSET_SECS = 2_208_988_800n

export interface UlaSource {
  /** Milliseconds since the Unix epoch (Date.now). */
  nowMs(): number
  /**
   * The 64-bit node identifier of step 2. RFC 4193 suggests an EUI-64 and allows any identifier
   * local to the node; 64 random bits are used by default, so two operators on look-alike VMs
   * (same MAC, same clock second) still get different networks.
   */
  systemId(): Buffer
}

export const SYSTEM_ULA_SOURCE: UlaSource = {
  nowMs: () => Date.now(),
  systemId: () => crypto.randomBytes(8),
}

/** Step 1: the 64-bit NTP timestamp (32-bit seconds since 1900, modulo the era; 32-bit fraction). */
export function ntpTimestamp(unixMs: number): Buffer {
  const ms = BigInt(Math.floor(unixMs))
  const seconds = (ms / 1000n + NTP_UNIX_OFFSET_SECS) & 0xffff_ffffn
  const fraction = ((ms % 1000n) << 32n) / 1000n
  const out = Buffer.alloc(8)
  out.writeUInt32BE(Number(seconds), 0)
  out.writeUInt32BE(Number(fraction), 4)
  return out
}

/** Steps 3-4: SHA-1 of timestamp ‖ node id; the Global ID is its least significant 40 bits. */
export function ulaGlobalId(ntp: Buffer, systemId: Buffer): Buffer {
  if (ntp.length !== 8 || systemId.length !== 8) throw new RangeError('the NTP timestamp and the node identifier are 8 bytes each')
  const digest = crypto.createHash('sha1').update(Buffer.concat([ntp, systemId])).digest()
  return digest.subarray(digest.length - 5)
}

/** Step 5: FC00::/7 with the L bit set (fd) followed by the Global ID: the cluster's /48. */
export function ulaPrefixFromGlobalId(globalId: Buffer): IpPrefix {
  if (globalId.length !== 5) throw new RangeError('a ULA Global ID is 40 bits')
  let address = 0xfdn
  for (const byte of globalId) address = (address << 8n) | BigInt(byte)
  return {family: 6, address: address << 80n, length: 48}
}

/** A fresh RFC 4193 /48, as text: `fdXX:XXXX:XXXX::/48`. */
export function generateUlaPrefix(source: UlaSource = SYSTEM_ULA_SOURCE): string {
  return formatPrefix(ulaPrefixFromGlobalId(ulaGlobalId(ntpTimestamp(source.nowMs()), source.systemId())))
}
