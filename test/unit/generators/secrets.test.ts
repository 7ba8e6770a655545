import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {
  generateToken,
  GeneratorInputError,
  parseSecretsJson,
  prepareSecrets,
  readSecretsFile,
  renderSecretsJson,
  resolveClusterSecrets,
  SecretsFileError,
  wireguardPublicKey,
} from '../../../src/generators/index.js'

const KEY = 'ULjeJ28aeEbtnvyFMXg2ZyniVLH6i8oO0GZI8uI2KUA='

describe('cluster secrets', () => {
  test('a first run makes every token and key; a second run reuses them all', () => {
    const first = resolveClusterSecrets(undefined, {cluster: 'edge', popNames: ['sa', 'us']}, 's.json')
    assert.deepEqual(first.created, ['corrosion_token', 'api_token', 'wireguard_private_keys.sa', 'wireguard_private_keys.us'])
    assert.equal(first.isChanged, true)
    assert.match(first.secrets.corrosionToken, /^[A-Za-z0-9_-]{43}$/)
    assert.notEqual(first.secrets.corrosionToken, first.secrets.apiToken)
    for (const key of Object.values(first.secrets.wireguardPrivateKeys)) assert.equal(wireguardPublicKey(key).length, 44)

    const text = renderSecretsJson(first.secrets)
    const second = resolveClusterSecrets(parseSecretsJson(text, 's.json'), {cluster: 'edge', popNames: ['us', 'sa']}, 's.json')
    assert.deepEqual(second.created, [])
    assert.equal(second.isChanged, false)
    assert.deepEqual(second.secrets, first.secrets)
    assert.equal(renderSecretsJson(second.secrets), text, 'same bytes')
  })

  test('a new POP gets a key; keys of POPs no longer listed are kept', () => {
    const existing = {cluster: 'edge', corrosionToken: generateToken(), apiToken: generateToken(), wireguardPrivateKeys: {old: KEY}}
    const r = resolveClusterSecrets(existing, {cluster: 'edge', popNames: ['new']}, 's.json')
    assert.deepEqual(r.created, ['wireguard_private_keys.new'])
    assert.equal(r.secrets.wireguardPrivateKeys.old, KEY)
    assert.deepEqual(Object.keys(JSON.parse(renderSecretsJson(r.secrets)).wireguard_private_keys), ['new', 'old'], 'sorted')
  })

  test('a flag replaces a stored token and says so; a bad one names its flag', () => {
    const existing = {cluster: 'edge', corrosionToken: 'stored-token-0123456789', apiToken: generateToken(), wireguardPrivateKeys: {}}
    const r = resolveClusterSecrets(existing, {cluster: 'edge', corrosionToken: {value: 'given-token-0123456789', flag: '--token'}}, 's.json')
    assert.equal(r.secrets.corrosionToken, 'given-token-0123456789')
    assert.deepEqual(r.replaced, ['corrosion_token'])
    assert.throws(
      () => resolveClusterSecrets(existing, {cluster: 'edge', apiToken: {value: 'short', flag: '--api-token'}}, 's.json'),
      (e: unknown) => e instanceof GeneratorInputError && e.field === '--api-token' && e.exitCode === 3,
    )
  })

  test("another cluster's file is refused", () => {
    const existing = {cluster: 'other', corrosionToken: generateToken(), apiToken: generateToken(), wireguardPrivateKeys: {}}
    assert.throws(
      () => resolveClusterSecrets(existing, {cluster: 'edge'}, 'x/secrets.json'),
      (e: unknown) => e instanceof SecretsFileError && e.code === 'EP_SECRETS_INVALID' && /belongs to cluster "other", not "edge"/.test(e.message) && e.field === '--secrets',
    )
  })

  test('malformed files are refused with the reason', () => {
    const good = JSON.parse(renderSecretsJson({cluster: 'edge', corrosionToken: generateToken(), apiToken: generateToken(), wireguardPrivateKeys: {sa: KEY}}))
    const cases: Array<[unknown, RegExp]> = [
      ['not json', /not valid JSON/],
      [[], /JSON object/],
      [{...good, format: 'v0'}, /format "v0"/],
      [{...good, corrosion_token: 'a b'}, /"corrosion_token" is not a token/],
      [{...good, wireguard_private_keys: {sa: 'nope'}}, /"wireguard_private_keys\.sa" is not a WireGuard key/],
      [{...good, wireguard_private_keys: []}, /must be an object/],
    ]
    for (const [value, message] of cases) {
      const text = typeof value === 'string' ? value : JSON.stringify(value)
      assert.throws(() => parseSecretsJson(text, 's.json'), (e: unknown) => e instanceof SecretsFileError && message.test(e.message), text)
    }
  })

  test('reading: absent is undefined; a loose mode is a warning', (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secrets-'))
    t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
    const file = path.join(dir, 'secrets.json')
    assert.equal(readSecretsFile(file), undefined)
    assert.deepEqual(prepareSecrets(file, {cluster: 'edge'}).warnings, [])
    fs.writeFileSync(file, renderSecretsJson({cluster: 'edge', corrosionToken: generateToken(), apiToken: generateToken(), wireguardPrivateKeys: {}}), {mode: 0o644})
    fs.chmodSync(file, 0o644)
    const loose = prepareSecrets(file, {cluster: 'edge'})
    assert.equal(loose.warnings.length, 1)
    assert.match(loose.warnings[0]!, /readable by other users \(mode 0644\); run chmod 600/)
    fs.chmodSync(file, 0o600)
    assert.deepEqual(prepareSecrets(file, {cluster: 'edge'}).warnings, [])
  })
})
