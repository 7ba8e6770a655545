// Validation of what backends and operators send: a register body, ids, weights, list filters.
// The same checks run in the API server and in `edgeproxy backend … --db`, so a value refused by one
// is refused by the other with the same code, field and message. Pure: no I/O.
import net from 'node:net'

import {isRegion, REGIONS} from '../balancer/regions.js'
import {CHECK_TYPES, type BackendState} from '../balancer/backend.js'
import {isIsoCountryCode} from '../geo/country-codes.js'
import {EdgeproxyError, ExitCode} from '../errors.js'
import type {RegisterInput} from '../store/backend-store.js'

/** A request the caller must fix; `status` is the HTTP status the API answers with. */
export class ValidationError extends EdgeproxyError {
  constructor(
    readonly apiCode: string,
    message: string,
    readonly status: number,
    field?: string,
  ) {
    super(`EP_${apiCode.toUpperCase()}`, message, ExitCode.invalid, {
      field,
      suggestion: field ? `give ${field} a valid value (the rules are in edgeproxy backend register --help and the README)` : undefined,
    })
  }
}

/**
 * Ids and apps: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit. So an id is one URL path
 * segment that no client normalises or re-encodes (never `.` or `..`, no `/ % ? #`), and never
 * reads as a flag on a command line (`-x`).
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
export const ID_RULE = '1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit'
/** Ids stored by other means (plain SQL) are looked up as they are, up to this length. */
export const MAX_STORED_ID_LENGTH = 256
export const MAX_LIMIT = 1_000_000
export const MAX_WEIGHT = 1000
export const BACKEND_STATES: readonly BackendState[] = ['healthy', 'expired', 'unhealthy', 'draining']

/** Defaults of the optional register fields (the reference's). */
export const REGISTER_DEFAULTS = {weight: 2, softLimit: 100, hardLimit: 150} as const

/** The representative country of a region, used when a registration names none (as the reference does). */
export const REGION_DEFAULT_COUNTRY: Readonly<Record<string, string>> = {sa: 'BR', us: 'US', eu: 'DE', ap: 'JP'}

const REGISTER_FIELDS = new Set(['id', 'app', 'region', 'country', 'ip', 'ip6', 'port', 'weight', 'soft_limit', 'hard_limit', 'check'])
const CHECK_FIELDS = new Set(['type', 'port', 'path'])
/** A check path: absolute, printable, no spaces (it goes into an HTTP request line). */
const CHECK_PATH_PATTERN = /^\/[\x21-\x7e]{0,255}$/

const quote = (value: unknown) => {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/** An id a registration may create. */
export function validateId(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new ValidationError('invalid_field', `${field} ${quote(value)} must be ${ID_RULE}`, 400, field)
  }
  return value
}

/** An app a registration may name: the same rule as ids. */
export function validateApp(value: unknown, field = 'app'): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new ValidationError('invalid_field', `${field} ${quote(value)} must be ${ID_RULE}`, 400, field)
  }
  return value
}

/**
 * An id to look up (get, heartbeat, drain, deregister …): any id a row can hold, so a row inserted
 * by plain SQL with an id registration would refuse stays addressable (percent-encoded in a URL).
 * Only what cannot travel in a URL path segment is refused: empty, `.`, `..`, control characters.
 */
export function validateIdRef(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || value === '' || value === '.' || value === '..' || value.length > MAX_STORED_ID_LENGTH || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ValidationError('invalid_field', `${field} ${quote(value)} is not a backend id (${ID_RULE}; rows written by SQL: up to ${MAX_STORED_ID_LENGTH} characters, not . or ..)`, 400, field)
  }
  return value
}

/** A filter value (list ?app=, route ?app=): compared, never stored, so only its length is bounded. */
export function validateFilter(value: string, field: string): string {
  if (value.length > MAX_STORED_ID_LENGTH) throw new ValidationError('invalid_field', `${field} ${quote(value)} is longer than ${MAX_STORED_ID_LENGTH} characters`, 400, field)
  return value
}

function integer(body: Record<string, unknown>, field: string, min: number, max: number, fallback?: number): number {
  const value = body[field]
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError('invalid_field', `${field} ${quote(value)} must be a whole number from ${min} to ${max}`, 400, field)
  }
  return value
}

function text(body: Record<string, unknown>, field: string): string {
  const value = body[field]
  if (value === undefined || value === null || value === '') throw new ValidationError('missing_field', `${field} is required`, 400, field)
  if (typeof value !== 'string') throw new ValidationError('invalid_field', `${field} ${quote(value)} must be a string`, 400, field)
  return value
}

export function validateRegion(value: string, field = 'region'): string {
  const region = value.trim().toLowerCase()
  if (!isRegion(region)) throw new ValidationError('invalid_field', `${field} ${quote(value)} must be one of ${REGIONS.join(', ')}`, 400, field)
  return region
}

export function validateCountry(value: unknown, field = 'country'): string {
  if (typeof value !== 'string' || !isIsoCountryCode(value.trim().toUpperCase())) {
    throw new ValidationError('invalid_field', `${field} ${quote(value)} must be an ISO 3166 alpha-2 country code such as BR or DE`, 400, field)
  }
  return value.trim().toUpperCase()
}

export function validateIp(value: string, field = 'ip'): string {
  if (net.isIP(value) === 0) throw new ValidationError('invalid_field', `${field} ${quote(value)} must be an IPv4 or IPv6 address literal`, 400, field)
  return value
}

export function validatePort(value: unknown, field = 'port'): number {
  return integer({[field]: value}, field, 1, 65_535)
}

export function validateWeight(value: unknown, field = 'weight'): number {
  return integer({[field]: value}, field, 0, MAX_WEIGHT)
}

/**
 * A register body → RegisterInput. Every field is checked before anything is written; unknown
 * fields are refused (a typo such as `soft_limt` must not be silently ignored).
 */
export function validateRegister(body: unknown): RegisterInput & {countryDerived: boolean} {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError('invalid_body', 'the body must be a JSON object', 400)
  }
  const b = body as Record<string, unknown>
  for (const key of Object.keys(b)) {
    if (!REGISTER_FIELDS.has(key)) {
      throw new ValidationError('unknown_field', `unknown field ${quote(key)}; known fields: ${[...REGISTER_FIELDS].join(', ')}`, 400, key)
    }
  }
  if (b.id === undefined) throw new ValidationError('missing_field', 'id is required', 400, 'id')
  const id = validateId(b.id)
  const app = validateApp(text(b, 'app'))
  const region = validateRegion(text(b, 'region'))
  const ip = validateIp(text(b, 'ip'))
  // Optional second address of a dual-stack backend (DNS answers AAAA with it); the proxy dials `ip`.
  const ip6 = b.ip6 === undefined || b.ip6 === null || b.ip6 === '' ? '' : text(b, 'ip6')
  if (ip6 !== '' && !net.isIPv6(ip6)) throw new ValidationError('invalid_field', `ip6 ${quote(ip6)} must be an IPv6 address literal, without brackets`, 400, 'ip6')
  if (b.port === undefined) throw new ValidationError('missing_field', 'port is required', 400, 'port')
  const port = validatePort(b.port)
  const countryDerived = b.country === undefined || b.country === null || b.country === ''
  const country = countryDerived ? REGION_DEFAULT_COUNTRY[region] : validateCountry(b.country)
  const weight = integer(b, 'weight', 0, MAX_WEIGHT, REGISTER_DEFAULTS.weight)
  const softLimit = integer(b, 'soft_limit', 0, MAX_LIMIT, REGISTER_DEFAULTS.softLimit)
  const hardLimit = integer(b, 'hard_limit', 0, MAX_LIMIT, REGISTER_DEFAULTS.hardLimit)
  if (hardLimit !== 0 && softLimit > hardLimit) {
    throw new ValidationError(
      'invalid_field',
      `soft_limit ${softLimit} must not exceed hard_limit ${hardLimit} (hard_limit 0 means no limit)`,
      400,
      'soft_limit',
    )
  }
  const check = validateCheck(b.check)
  return {id, app, region, country, ip, ...(ip6 === '' ? {} : {ip6}), port, weight, softLimit, hardLimit, ...check, countryDerived}
}

/**
 * The optional `"check": {"type", "port", "path"}` of a register body: the backend's active-check
 * overrides. Absent fields keep the POP's global settings ('' / 0 / ''); `"type": "none"` opts out.
 */
export function validateCheck(value: unknown): {checkType: string; checkPort: number; checkPath: string} {
  if (value === undefined || value === null) return {checkType: '', checkPort: 0, checkPath: ''}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('invalid_field', `check ${quote(value)} must be an object such as {"type": "http", "port": 8081, "path": "/health"}`, 400, 'check')
  }
  const c = value as Record<string, unknown>
  for (const key of Object.keys(c)) {
    if (!CHECK_FIELDS.has(key)) {
      throw new ValidationError('unknown_field', `unknown field check.${key}; known fields: ${[...CHECK_FIELDS].join(', ')}`, 400, `check.${key}`)
    }
  }
  let checkType = ''
  if (c.type !== undefined && c.type !== '') {
    const t = typeof c.type === 'string' ? c.type.trim().toLowerCase() : c.type
    if (typeof t !== 'string' || !(CHECK_TYPES as readonly string[]).includes(t)) {
      throw new ValidationError('invalid_field', `check.type ${quote(c.type)} must be one of ${CHECK_TYPES.join(', ')}`, 400, 'check.type')
    }
    checkType = t
  }
  const checkPort = c.port === undefined ? 0 : integer({'check.port': c.port}, 'check.port', 0, 65_535)
  let checkPath = ''
  if (c.path !== undefined && c.path !== '') {
    if (typeof c.path !== 'string' || !CHECK_PATH_PATTERN.test(c.path)) {
      throw new ValidationError('invalid_field', `check.path ${quote(c.path)} must start with / and have at most 256 printable characters without spaces`, 400, 'check.path')
    }
    if (checkType !== '' && checkType !== 'http') {
      throw new ValidationError('invalid_field', `check.path ${quote(c.path)} only applies to http checks, and check.type is ${quote(checkType)}`, 400, 'check.path')
    }
    checkPath = c.path
  }
  return {checkType, checkPort, checkPath}
}

export function validateState(value: string): BackendState {
  if (!(BACKEND_STATES as readonly string[]).includes(value)) {
    throw new ValidationError('invalid_field', `state ${quote(value)} must be one of ${BACKEND_STATES.join(', ')}`, 400, 'state')
  }
  return value as BackendState
}
