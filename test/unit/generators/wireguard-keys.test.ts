import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import {describe, test} from 'node:test'

import {decodeWireguardKey, generateWireguardKeyPair, generateWireguardPrivateKey, wireguardPublicKey} from '../../../src/generators/index.js'

const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex')
const b64 = (h: string) => Buffer.from(h, 'hex').toString('base64')

describe('WireGuard keys', () => {
  test('derives the RFC 7748 §6.1 public keys', () => {
    assert.equal(hex(wireguardPublicKey(b64('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'))), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
    assert.equal(hex(wireguardPublicKey(b64('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'))), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
  })

  test('generated keys look like `wg genkey`: 32 bytes, base64, clamped; the pair agrees', () => {
    for (let i = 0; i < 20; i++) {
      const {privateKey, publicKey} = generateWireguardKeyPair()
      const raw = decodeWireguardKey(privateKey)
      assert.equal(raw.length, 32)
      assert.equal(privateKey.length, 44)
      assert.equal(raw[0]! & 7, 0, 'low 3 bits cleared')
      assert.equal(raw[31]! & 0xc0, 0x40, 'bit 255 cleared, bit 254 set')
      assert.equal(wireguardPublicKey(privateKey), publicKey)
      assert.equal(decodeWireguardKey(publicKey).length, 32)
    }
    assert.notEqual(generateWireguardPrivateKey(), generateWireguardPrivateKey())
  })

  test('a shared secret computed from both sides matches (the keys really are X25519)', () => {
    const a = generateWireguardKeyPair()
    const b = generateWireguardKeyPair()
    const der = (priv: string) => crypto.createPrivateKey({key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), Buffer.from(priv, 'base64')]), format: 'der', type: 'pkcs8'})
    const pub = (p: string) => crypto.createPublicKey({key: {kty: 'OKP', crv: 'X25519', x: Buffer.from(p, 'base64').toString('base64url')}, format: 'jwk'})
    const ab = crypto.diffieHellman({privateKey: der(a.privateKey), publicKey: pub(b.publicKey)})
    const ba = crypto.diffieHellman({privateKey: der(b.privateKey), publicKey: pub(a.publicKey)})
    assert.deepEqual(ab, ba)
  })

  test('refuses what is not a 32-byte base64 key', () => {
    for (const bad of ['', 'abc', Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64'), 'A'.repeat(43) + '!', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=']) {
      assert.throws(() => decodeWireguardKey(bad), /not a WireGuard key/, bad)
    }
  })
})
