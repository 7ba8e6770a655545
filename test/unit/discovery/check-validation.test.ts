import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {validateCheck, validateRegister, ValidationError} from '../../../src/discovery/validation.js'

const VALID = {id: 'sa-node-1', app: 'myapp', region: 'sa', ip: '10.50.1.1', port: 9000}

function refused(fn: () => unknown): ValidationError {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof ValidationError, String(error))
    return error
  }
  assert.fail('expected a ValidationError')
}

describe('register body: "check" overrides', () => {
  test('absent means the global settings; every field is optional; type is normalised', () => {
    assert.deepEqual(validateCheck(undefined), {checkType: '', checkPort: 0, checkPath: ''})
    assert.deepEqual(validateCheck({}), {checkType: '', checkPort: 0, checkPath: ''})
    assert.deepEqual(validateCheck({type: 'HTTP', port: 8081, path: '/healthz?full=1'}), {checkType: 'http', checkPort: 8081, checkPath: '/healthz?full=1'})
    assert.deepEqual(validateCheck({type: 'none'}), {checkType: 'none', checkPort: 0, checkPath: ''})
    assert.deepEqual(validateCheck({path: '/ready'}), {checkType: '', checkPort: 0, checkPath: '/ready'}, 'a path for the global type (it may be http)')
    const input = validateRegister({...VALID, check: {type: 'tls', port: 9443}})
    assert.deepEqual([input.checkType, input.checkPort, input.checkPath], ['tls', 9443, ''])
  })

  test('bad values are refused naming the field', () => {
    const cases: [unknown, string, RegExp][] = [
      ['http', 'check', /must be an object/],
      [{type: 'udp'}, 'check.type', /one of tcp, tls, http, none/],
      [{type: 3}, 'check.type', /one of/],
      [{port: 65_536}, 'check.port', /0 to 65535/],
      [{port: '80'}, 'check.port', /whole number/],
      [{path: 'health'}, 'check.path', /start with \//],
      [{path: '/a b'}, 'check.path', /without spaces/],
      [{path: `/${'x'.repeat(300)}`}, 'check.path', /at most 256/],
      [{type: 'tcp', path: '/x'}, 'check.path', /only applies to http/],
      [{interval: 5}, 'check.interval', /unknown field check\.interval/],
    ]
    for (const [check, field, message] of cases) {
      const error = refused(() => validateRegister({...VALID, check}))
      assert.equal(error.field, field, JSON.stringify(check))
      assert.match(error.message, message)
      assert.equal(error.status, 400)
    }
  })
})
