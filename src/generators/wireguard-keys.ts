// WireGuard's X25519 keys as `wg genkey` / `wg pubkey` print them: the raw 32-byte keys in standard
// base64. Made with node:crypto; no wg binary needed. It knows nothing of files or POPs.
import crypto from 'node:crypto'

// PKCS#8 DER header of an X25519 private key (RFC 8410): the raw 32 bytes follow it.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

export interface WireguardKeyPair {
  privateKey: string
  publicKey: string
}

/** Decodes a base64 key and checks it is exactly 32 bytes; throws Error(reason) otherwise. */
export function decodeWireguardKey(key: string): Buffer {
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(key)) throw new Error('not a WireGuard key (44 characters of base64 encoding 32 bytes)')
  return Buffer.from(key, 'base64')
}

/** Clamps as `wg genkey` does (RFC 7748 §5), so stored keys match what wg itself would write. */
function clamp(raw: Buffer): Buffer {
  const k = Buffer.from(raw)
  k[0]! &= 248
  k[31] = (k[31]! & 127) | 64
  return k
}

/** `wg pubkey`: the public key of a base64 private key. */
export function wireguardPublicKey(privateKey: string): string {
  const raw = decodeWireguardKey(privateKey)
  const key = crypto.createPrivateKey({key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8'})
  const jwk = crypto.createPublicKey(key).export({format: 'jwk'})
  return Buffer.from(jwk.x!, 'base64url').toString('base64')
}

/** `wg genkey`: a fresh clamped private key, in base64. */
export function generateWireguardPrivateKey(): string {
  const {privateKey} = crypto.generateKeyPairSync('x25519')
  const jwk = privateKey.export({format: 'jwk'})
  return clamp(Buffer.from(jwk.d!, 'base64url')).toString('base64')
}

export function generateWireguardKeyPair(): WireguardKeyPair {
  const privateKey = generateWireguardPrivateKey()
  return {privateKey, publicKey: wireguardPublicKey(privateKey)}
}
