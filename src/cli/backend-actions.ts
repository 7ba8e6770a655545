// What the `backend …` and `route explain` commands do once their flags are parsed, written once
// for both ways a command runs: the oclif command classes (commands/) and the lean path
// (src/cli/lean/) that answers API commands without loading oclif. Each takes a BackendClient and
// an Io, prints the human view through io.log (silent under --json) and returns the JSON result.
import type {LimitsJson} from '../admission/admission-service.js'
import type {BackendState} from '../balancer/backend.js'
import type {BackendClient, CheckNowResult, HeartbeatOutcome, RegisterOutcome, RouteExplanation} from '../discovery/backend-client.js'
import type {BackendJson} from '../discovery/backend-json.js'
import {backendDetail, backendTable, checkNowLine, colourState, routeTable} from './backend-view.js'

export interface Io {
  /** A line of the human view on stdout; a no-op under --json. */
  log(text: string): void
}

export async function listBackends(client: BackendClient, filter: {app?: string; region?: string; state?: string}, io: Io): Promise<{backends: BackendJson[]}> {
  const backends = await client.list({...filter, state: filter.state as BackendState | undefined})
  io.log(backends.length === 0 ? `no backends${filter.app || filter.region || filter.state ? ' match' : ''} at ${client.target}` : backendTable(backends))
  return {backends}
}

export async function getBackend(client: BackendClient, id: string, io: Io): Promise<{backend: BackendJson}> {
  const backend = await client.get(id)
  io.log(backendDetail(backend))
  return {backend}
}

export async function changeState(client: BackendClient, id: string, kind: 'drain' | 'enable' | 'disable', io: Io): Promise<{backend: BackendJson}> {
  const backend = await client.change(id, {kind})
  io.log(`${backend.id}: ${colourState(backend.state)}`)
  return {backend}
}

export async function setWeight(client: BackendClient, id: string, weightText: string, io: Io): Promise<{backend: BackendJson}> {
  // A number goes to the validator as a number, so its message names the value; anything else as typed.
  const weight: number = /^-?\d+$/.test(weightText.trim()) ? Number(weightText) : (weightText as unknown as number)
  const backend = await client.change(id, {kind: 'weight', weight})
  io.log(`${backend.id}: weight ${backend.weight}`)
  return {backend}
}

export async function deregisterBackend(client: BackendClient, id: string, io: Io): Promise<{backend: BackendJson; deregistered: true}> {
  const backend = await client.deregister(id)
  io.log(`${backend.id}: deregistered`)
  return {backend, deregistered: true}
}

export async function heartbeatOnce(client: BackendClient, id: string, io: Io): Promise<HeartbeatOutcome> {
  const result = await client.heartbeat(id)
  io.log(`${result.backend.id}: lease until ${result.backend.lease_expires_at ?? 'never (no lease)'} (${result.stored ? 'renewed' : 'still fresh, not rewritten'})`)
  return result
}

/** The register flags as typed (strings), required ones present. */
export interface RegisterValues {
  id: string
  app: string
  region: string
  ip: string
  port: string
  ip6?: string
  country?: string
  weight?: string
  'soft-limit'?: string
  'hard-limit'?: string
  'check-type'?: string
  'check-port'?: string
  'check-path'?: string
}

/** Numbers go to the validator as numbers when they look like one, so its message names the value. */
function toNumber(text: string | undefined): unknown {
  if (text === undefined) return undefined
  return /^-?\d+$/.test(text.trim()) ? Number(text) : text
}

export function registerBody(values: RegisterValues): Record<string, unknown> {
  const body: Record<string, unknown> = {id: values.id, app: values.app, region: values.region, ip: values.ip, port: toNumber(values.port)}
  if (values.country !== undefined) body.country = values.country
  if (values.ip6 !== undefined) body.ip6 = values.ip6
  if (values.weight !== undefined) body.weight = toNumber(values.weight)
  if (values['soft-limit'] !== undefined) body.soft_limit = toNumber(values['soft-limit'])
  if (values['hard-limit'] !== undefined) body.hard_limit = toNumber(values['hard-limit'])
  const check: Record<string, unknown> = {}
  if (values['check-type'] !== undefined) check.type = values['check-type']
  if (values['check-port'] !== undefined) check.port = toNumber(values['check-port'])
  if (values['check-path'] !== undefined) check.path = values['check-path']
  if (Object.keys(check).length > 0) body.check = check
  return body
}

export async function registerBackend(client: BackendClient, values: RegisterValues, io: Io): Promise<RegisterOutcome> {
  const outcome = await client.register(registerBody(values))
  const b = outcome.backend
  io.log(`${outcome.created ? 'Registered' : 'Updated'} backend ${b.id} at ${client.target}${outcome.country_derived ? ` (country ${b.country} derived from region ${b.region}; pass --country to set it)` : ''}`)
  io.log(backendDetail(b))
  io.log(
    `Lease: ${outcome.lease_secs}s. Heartbeats must follow: without one within the lease the backend expires and gets no new connections. Keep a sidecar running, e.g. edgeproxy backend heartbeat ${b.id} --every ${suggestedInterval(outcome.lease_secs)}`,
  )
  return outcome
}

/** `backend check`: one active check by the proxy; a failed check exits 1 (the check's answer, not an error). */
export async function checkBackend(client: {check(id: string): Promise<CheckNowResult>}, id: string, io: Io): Promise<CheckNowResult> {
  const result = await client.check(id)
  io.log(checkNowLine(result))
  if (!result.passed) process.exitCode = 1
  return result
}

/** A third of the lease, as a duration --every takes. */
export function suggestedInterval(leaseSecs: number): string {
  return leaseSecs >= 3 ? `${Math.floor(leaseSecs / 3)}s` : `${Math.max(100, Math.floor((leaseSecs * 1000) / 3))}ms`
}

export async function explainRoute(
  client: {explain(ip: string, app?: string): Promise<RouteExplanation>; limits(ip: string): Promise<LimitsJson>},
  ip: string,
  io: Io,
  app?: string,
): Promise<RouteExplanation> {
  const [route, limits] = await Promise.all([client.explain(ip, app), client.limits(ip)])
  const explanation = {...route, limits}
  io.log(routeTable(explanation))
  return explanation
}
