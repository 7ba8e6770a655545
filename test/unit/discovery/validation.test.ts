// Validation of what backends and operators send (pure): every rule of issue 3 (id, ip, port,
// country, soft ≤ hard, non-negative integers, unknown fields), the code and the field each refusal
// names, the exit code the CLI uses, and the defaults a minimal registration gets.
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {ExitCode} from '../../../src/errors.js'
import {
  BACKEND_STATES,
  ID_PATTERN,
  ID_RULE,
  MAX_LIMIT,
  MAX_WEIGHT,
  REGION_DEFAULT_COUNTRY,
  REGISTER_DEFAULTS,
  validateCountry,
  validateId,
  validateIdRef,
  validateRegion,
  validateRegister,
  validateState,
  validateWeight,
  ValidationError,
} from '../../../src/discovery/validation.js'

const VALID = {id: 'sa-node-1', app: 'myapp', region: 'sa', ip: '10.50.1.1', port: 9000} as const

/** Runs fn, asserts it throws a ValidationError with this API code and field, and returns it. */
function refused(fn: () => unknown, apiCode: string, field: string | undefined): ValidationError {
  let caught: unknown
  try {
    fn()
  } catch (error) {
    caught = error
  }
  assert.ok(caught instanceof ValidationError, `expected a ValidationError, got ${String(caught)}`)
  assert.equal(caught.apiCode, apiCode)
  assert.equal(caught.field, field)
  assert.equal(caught.status, 400)
  assert.equal(caught.code, `EP_${apiCode.toUpperCase()}`)
  assert.equal(caught.exitCode, ExitCode.invalid)
  // The message names the field it is about, so an operator knows what to fix.
  if (field !== undefined) assert.ok(caught.message.includes(field), caught.message)
  return caught
}

const register = (over: Record<string, unknown>) => () => validateRegister({...VALID, ...over})

describe('validateRegister', () => {
  test('a minimal body gets the reference defaults and a country derived from the region', () => {
    assert.deepEqual(validateRegister({...VALID}), {
      id: 'sa-node-1',
      app: 'myapp',
      region: 'sa',
      country: 'BR',
      ip: '10.50.1.1',
      port: 9000,
      weight: REGISTER_DEFAULTS.weight,
      softLimit: REGISTER_DEFAULTS.softLimit,
      hardLimit: REGISTER_DEFAULTS.hardLimit,
      checkType: '',
      checkPort: 0,
      checkPath: '',
      countryDerived: true,
    })
    assert.deepEqual(REGISTER_DEFAULTS, {weight: 2, softLimit: 100, hardLimit: 150})
    for (const [region, country] of Object.entries(REGION_DEFAULT_COUNTRY)) {
      assert.equal(validateRegister({...VALID, region}).country, country)
    }
  })

  test('every optional field is taken as given; region and country are normalised', () => {
    const input = validateRegister({...VALID, region: 'EU', country: 'fr', weight: 0, soft_limit: 0, hard_limit: 0})
    assert.equal(input.region, 'eu')
    assert.equal(input.country, 'FR')
    assert.equal(input.countryDerived, false)
    assert.deepEqual([input.weight, input.softLimit, input.hardLimit], [0, 0, 0])
    const max = validateRegister({...VALID, weight: MAX_WEIGHT, soft_limit: MAX_LIMIT, hard_limit: MAX_LIMIT})
    assert.deepEqual([max.weight, max.softLimit, max.hardLimit], [MAX_WEIGHT, MAX_LIMIT, MAX_LIMIT])
  })

  test('a null or empty country is derived, like an absent one', () => {
    assert.equal(validateRegister({...VALID, country: null}).countryDerived, true)
    assert.equal(validateRegister({...VALID, country: ''}).country, 'BR')
  })

  test('the body must be a JSON object', () => {
    for (const body of [null, [], 'text', 42, true, undefined]) refused(() => validateRegister(body), 'invalid_body', undefined)
  })

  test('each required field is named when missing', () => {
    for (const field of ['id', 'app', 'region', 'ip', 'port']) {
      const body: Record<string, unknown> = {...VALID}
      delete body[field]
      refused(() => validateRegister(body), 'missing_field', field)
    }
    refused(register({app: ''}), 'missing_field', 'app')
    refused(register({ip: null}), 'missing_field', 'ip')
  })

  test('an unknown field is refused by its own name (a typo is not silently ignored)', () => {
    refused(register({soft_limt: 10}), 'unknown_field', 'soft_limt')
    refused(register({healthy: 1}), 'unknown_field', 'healthy')
    refused(register({lease_expires_at_ms: 0}), 'unknown_field', 'lease_expires_at_ms')
  })

  test('id: 1-64 of [A-Za-z0-9._-] starting with a letter or digit; anything a URL would normalise or re-encode is refused', () => {
    assert.equal(validateRegister({...VALID, id: 'a'}).id, 'a')
    assert.equal(validateRegister({...VALID, id: '9'}).id, '9')
    assert.equal(validateRegister({...VALID, id: 'a..b.'}).id, 'a..b.')
    assert.equal(validateRegister({...VALID, id: 'A.b_c-9'.padEnd(64, 'x')}).id.length, 64)
    const refusedIds = ["x'); DROP TABLE backends;--", '', 'a'.repeat(65), 'a b', 'a/b', '../etc', '.', '..', '...', '.hidden', '-x', '_x', 'a%2F', 'a?b', 'a#b', 'a\\b', 'café', 'a\n', 'a\u0000', 42, null, ['a']]
    for (const id of refusedIds) {
      refused(register({id}), 'invalid_field', 'id')
      assert.throws(register({id}), (e: unknown) => e instanceof ValidationError && e.message.includes(ID_RULE), `the rule is in the message for ${JSON.stringify(id)}`)
    }
  })

  test('app: the same rule as id (the README says so); SQL-looking text, spaces and control characters are refused', () => {
    assert.equal(validateRegister({...VALID, app: 'my-app.v2_1'}).app, 'my-app.v2_1')
    for (const app of ["web'; DELETE FROM backends;--", 'my app', 'a'.repeat(65), 'a\nb', '   ', '.', '-a', 'a/b', 7]) {
      refused(register({app}), 'invalid_field', 'app')
    }
  })

  test('region: one of sa, us, eu, ap', () => {
    refused(register({region: 'mars'}), 'invalid_field', 'region')
    refused(register({region: "sa' OR '1'='1"}), 'invalid_field', 'region')
    refused(register({region: 1}), 'invalid_field', 'region')
  })

  test('ip: an IPv4 or IPv6 literal, never a host name or an address with a port', () => {
    assert.equal(validateRegister({...VALID, ip: '::1'}).ip, '::1')
    assert.equal(validateRegister({...VALID, ip: 'fd00:50::1'}).ip, 'fd00:50::1')
    for (const ip of ['example.com', 'localhost', '10.0.0.256', '10.0.0', '10.0.0.1:80', '[::1]', ' 10.0.0.1', "1.1.1.1' OR 1=1", 10]) {
      refused(register({ip}), 'invalid_field', 'ip')
    }
  })

  test('port: a whole number 1-65535 (not 0, not 65536, not a string, not a fraction)', () => {
    assert.equal(validateRegister({...VALID, port: 1}).port, 1)
    assert.equal(validateRegister({...VALID, port: 65_535}).port, 65_535)
    for (const port of [0, 65_536, -1, '80', 80.5, null, Number.NaN, true]) refused(register({port}), 'invalid_field', 'port')
  })

  test('country: an assigned ISO 3166 alpha-2 code', () => {
    for (const country of ['XX', 'usa', 'UK', 'EU', 'B', 7, "BR'--"]) refused(register({country}), 'invalid_field', 'country')
  })

  test('weight, soft_limit, hard_limit: non-negative whole numbers within their bounds', () => {
    for (const field of ['weight', 'soft_limit', 'hard_limit']) {
      for (const value of [-1, 1.5, '5', null, Number.POSITIVE_INFINITY]) refused(register({[field]: value}), 'invalid_field', field)
    }
    refused(register({weight: MAX_WEIGHT + 1}), 'invalid_field', 'weight')
    refused(register({soft_limit: MAX_LIMIT + 1, hard_limit: 0}), 'invalid_field', 'soft_limit')
    refused(register({hard_limit: MAX_LIMIT + 1}), 'invalid_field', 'hard_limit')
  })

  test('soft_limit must not exceed hard_limit, unless hard_limit is 0 (no limit)', () => {
    refused(register({soft_limit: 200, hard_limit: 150}), 'invalid_field', 'soft_limit')
    refused(register({soft_limit: 151}), 'invalid_field', 'soft_limit') // against the default hard_limit 150
    assert.equal(validateRegister({...VALID, soft_limit: 150, hard_limit: 150}).softLimit, 150)
    assert.equal(validateRegister({...VALID, soft_limit: 500, hard_limit: 0}).softLimit, 500)
  })

  test('fields are checked in a fixed order, so one body always gets the same refusal', () => {
    // id before app before region before ip before port before country before the numbers.
    refused(() => validateRegister({id: 'bad id', app: 'bad\napp', region: 'x', ip: 'x', port: 0}), 'invalid_field', 'id')
    refused(() => validateRegister({...VALID, app: 'bad\napp', region: 'x', ip: 'x', port: 0}), 'invalid_field', 'app')
    refused(() => validateRegister({...VALID, region: 'x', ip: 'x', port: 0}), 'invalid_field', 'region')
    refused(() => validateRegister({...VALID, ip: 'x', port: 0}), 'invalid_field', 'ip')
    refused(() => validateRegister({...VALID, port: 0, country: 'XX'}), 'invalid_field', 'port')
    refused(() => validateRegister({...VALID, country: 'XX', weight: -1}), 'invalid_field', 'country')
  })
})

describe('single values', () => {
  test('validateId returns the id, names the field it is given, and matches ID_PATTERN', () => {
    assert.equal(validateId('a.b-c_9'), 'a.b-c_9')
    refused(() => validateId('a b'), 'invalid_field', 'id')
    refused(() => validateId('x/y', 'backend'), 'invalid_field', 'backend')
    assert.equal(ID_PATTERN.test("x'); DROP TABLE backends;--"), false)
  })

  test('validateWeight: 0..MAX_WEIGHT', () => {
    assert.equal(validateWeight(0), 0)
    assert.equal(validateWeight(MAX_WEIGHT), MAX_WEIGHT)
    for (const w of [-1, 'x', '5', 1.5, MAX_WEIGHT + 1, null, undefined]) refused(() => validateWeight(w), 'invalid_field', 'weight')
  })

  test('validateRegion and validateCountry normalise case and refuse the rest', () => {
    assert.equal(validateRegion(' AP '), 'ap')
    refused(() => validateRegion('asia'), 'invalid_field', 'region')
    assert.equal(validateCountry('de'), 'DE')
    refused(() => validateCountry('XX'), 'invalid_field', 'country')
  })

  test('validateIdRef accepts any id a row can hold except what cannot travel in a URL path segment', () => {
    for (const id of ['a', 'a b', '-x', '.hidden', '...', "x'); DROP TABLE backends;--", 'café', 'a/b', 'x'.repeat(256)]) assert.equal(validateIdRef(id), id)
    for (const id of ['', '.', '..', 'a\nb', 'x'.repeat(257), 7, null]) refused(() => validateIdRef(id), 'invalid_field', 'id')
  })

  test('validateState accepts exactly the four states (no tombstones: a deregistered backend is gone)', () => {
    assert.deepEqual([...BACKEND_STATES], ['healthy', 'expired', 'unhealthy', 'draining'])
    for (const s of BACKEND_STATES) assert.equal(validateState(s), s)
    for (const s of ['HEALTHY', 'alive', '', 'expired ']) refused(() => validateState(s), 'invalid_field', 'state')
  })
})
