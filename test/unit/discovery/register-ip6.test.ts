// The optional `ip6` of a register (stored in `wg_ip6`): validated as an IPv6 literal, stored and
// read back as the backend's second address, cleared by a register without it.
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, test} from 'node:test'

import {backendJson} from '../../../src/discovery/backend-json.js'
import {validateRegister, ValidationError} from '../../../src/discovery/validation.js'
import {SqliteBackendStore} from '../../../src/store/sqlite-backend-store.js'
import {tempDir} from '../../support/proxy-process.js'

const base = {id: 'n1', app: 'web', region: 'sa', ip: '10.0.0.1', port: 80}

describe('register ip6 (wg_ip6)', () => {
  test('validation: optional, an IPv6 literal without brackets', () => {
    assert.equal(validateRegister(base).ip6, undefined)
    assert.equal(validateRegister({...base, ip6: ''}).ip6, undefined)
    assert.equal(validateRegister({...base, ip6: 'fd00::7'}).ip6, 'fd00::7')
    for (const bad of ['10.0.0.1', '[fd00::7]', 'host.example', 42]) {
      assert.throws(
        () => validateRegister({...base, ip6: bad}),
        (e: unknown) => e instanceof ValidationError && e.field === 'ip6' && e.code === 'EP_INVALID_FIELD',
        String(bad),
      )
    }
  })

  test('stored in wg_ip6, shown as ip6, cleared by a register without it', async () => {
    const tmp = tempDir()
    const store = SqliteBackendStore.open(path.join(tmp.dir, 'routing.db'), {create: true})
    try {
      const {countryDerived, ...input} = validateRegister({...base, ip6: 'fd00::7'})
      assert.ok(countryDerived)
      const {backend} = await store.register(input, 1000, 60_000)
      assert.equal(backend.host6, 'fd00::7')
      assert.equal(backendJson(backend, 1000, null).ip6, 'fd00::7')
      const again = await store.register(validateRegister(base), 2000, 60_000)
      assert.equal(again.backend.host6, undefined)
      assert.equal('ip6' in backendJson(again.backend, 2000, null), false)
    } finally {
      await store.close()
      tmp.cleanup()
    }
  })
})
