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
    assert.deepEqual(first.created, ['corrosion_token', 'api_token', 'metrics_token', 'wireguard_private_keys.sa', 'wireguard_private_keys.us'])
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
    const existing = {cluster: 'edge', corrosionToken: generateToken(), apiToken: generateToken(), metricsToken: generateToken(), wireguardPrivateKeys: {old: KEY}}
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

  test('the 6PN plan is made once, stored after the keys, and reused byte for byte', () => {
    const first = resolveClusterSecrets(undefined, {cluster: 'edge', popNames: ['us', 'sa'], sixpn: 'auto', generateUla: () => 'fd2d:198b:9d66::/48'}, 's.json')
    assert.deepEqual(first.created.slice(-3), ['ipv6_network', 'pop_ids.sa', 'pop_ids.us'])
    const text = renderSecretsJson(first.secrets)
    const doc = JSON.parse(text)
    assert.deepEqual(Object.keys(doc), ['format', 'cluster', 'corrosion_token', 'api_token', 'metrics_token', 'wireguard_private_keys', 'ipv6_network', 'pop_ids'])
    assert.equal(doc.ipv6_network, 'fd2d:198b:9d66::/48')
    assert.deepEqual(doc.pop_ids, {sa: 1, us: 2})
    const second = resolveClusterSecrets(parseSecretsJson(text, 's.json'), {
      cluster: 'edge',
      popNames: ['sa', 'us'],
      sixpn: 'auto',
      generateUla: () => assert.fail('the stored network is reused'),
    }, 's.json')
    assert.deepEqual(second.created, [])
    assert.equal(second.isChanged, false)
    assert.equal(renderSecretsJson(second.secrets), text)
  })

  test('a file written before 6PN gets the plan added (and is rewritten); commands without 6PN keep a stored plan', () => {
    const old = {cluster: 'edge', corrosionToken: generateToken(), apiToken: generateToken(), metricsToken: generateToken(), wireguardPrivateKeys: {sa: KEY}}
    const upgraded = resolveClusterSecrets(old, {cluster: 'edge', popNames: ['sa'], sixpn: {prefix: 'fd12:3456:789a::/48'}}, 's.json')
    assert.deepEqual(upgraded.created, ['ipv6_network', 'pop_ids.sa'])
    assert.equal(upgraded.isChanged, true)
    const kept = resolveClusterSecrets(upgraded.secrets, {cluster: 'edge'}, 's.json')
    assert.deepEqual(kept.secrets.sixpn, {network: 'fd12:3456:789a::/48', popIds: {sa: 1}}, 'corrosion bootstrap leaves it alone')
    assert.equal(kept.isChanged, false)
  })

  test('a stored 6PN plan is checked: colliding or bad ids and a bad network are refused, naming the key', () => {
    const good = JSON.parse(renderSecretsJson({cluster: 'edge', corrosionToken: generateToken(), apiToken: generateToken(), wireguardPrivateKeys: {}, sixpn: {network: 'fd12:3456:789a::/48', popIds: {sa: 1, us: 2}}}))
    assert.deepEqual(parseSecretsJson(JSON.stringify(good), 's.json').sixpn, {network: 'fd12:3456:789a::/48', popIds: {sa: 1, us: 2}})
    assert.equal(parseSecretsJson(JSON.stringify({...good, ipv6_network: 'FD12:3456:789A:0::/48'}), 's.json').sixpn!.network, 'fd12:3456:789a::/48', 'canonical')
    const cases: Array<[unknown, RegExp]> = [
      [{...good, pop_ids: {sa: 1, us: 1}}, /"pop_ids\.us" is 1, already the id of POP "sa"/],
      [{...good, pop_ids: {sa: 70000}}, /"pop_ids\.sa" is 70000, not a POP id/],
      [{...good, pop_ids: []}, /"pop_ids" must be an object/],
      [{...good, ipv6_network: 'fd12:3456:789a::/64'}, /"ipv6_network" "fd12:3456:789a::\/64" is a \/64/],
      [{...good, ipv6_network: undefined}, /"ipv6_network" must be a string/],
    ]
    for (const [value, message] of cases) {
      const text = JSON.stringify(value)
      assert.throws(() => parseSecretsJson(text, 's.json'), (e: unknown) => e instanceof SecretsFileError && e.field === '--secrets' && e.exitCode === 3 && message.test(e.message), text)
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
