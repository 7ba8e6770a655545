// One round of the anycast probes, from outside the proxy process: a TCP connect to each listener
// address (bound and accepting), GET /health on the API (ok or degraded announces; draining, down,
// an error status or no answer does not) and its count of routable backends (at least one). Each
// probe has the same deadline; the round says ok only when every probe does.
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'

import {formatHostPort, type HostPort} from '../net/address.js'

export type ProbeKind = 'listener' | 'health' | 'backends'

export interface ProbeResult {
  kind: ProbeKind
  target: string
  isOk: boolean
  /** Why it failed, or what it saw: `connected`, `status ok`, `2 routable`. */
  detail: string
  ms: number
}

export interface ProbeReport {
  isOk: boolean
  atMs: number
  probes: ProbeResult[]
  /** The first failed probe, as one line. */
  reason?: string
}

export interface ProbeOptions {
  targets: readonly HostPort[]
  healthUrl: string
  timeoutMs: number
  now?: () => number
}

const MAX_HEALTH_BYTES = 256 * 1024

/** Statuses of /health that still announce: degraded is a Corrosion outage the cached table absorbs. */
export const ANNOUNCING_HEALTH = ['ok', 'degraded'] as const

export function tcpProbe(target: HostPort, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now()
  const text = formatHostPort(target.host, target.port)
  return new Promise((resolve) => {
    const socket = net.connect({host: target.host, port: target.port})
    const done = (isOk: boolean, detail: string) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({kind: 'listener', target: text, isOk, detail, ms: Math.round(performance.now() - started)})
    }
    const timer = setTimeout(() => done(false, `no connection within ${timeoutMs} ms`), timeoutMs)
    socket.once('connect', () => done(true, 'connected'))
    socket.once('error', (error: NodeJS.ErrnoException) => done(false, error.code ?? error.message))
  })
}

interface HealthAnswer {
  status: number
  body?: Record<string, unknown>
  error?: string
}

function getJson(url: string, timeoutMs: number): Promise<HealthAnswer> {
  return new Promise((resolve) => {
    const client = url.startsWith('https:') ? https : http
    // A new connection each time (no agent): a hung proxy must not hide behind a kept-alive socket.
    const req = client.get(url, {agent: false, headers: {accept: 'application/json'}}, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_HEALTH_BYTES) req.destroy(new Error('answer too large'))
        else chunks.push(c)
      })
      res.on('end', () => {
        clearTimeout(timer)
        let body: Record<string, unknown> | undefined
        try {
          const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>
        } catch {
          body = undefined
        }
        resolve({status: res.statusCode ?? 0, ...(body ? {body} : {error: 'not a JSON object'})})
      })
      res.on('error', (error) => {
        clearTimeout(timer)
        resolve({status: 0, error: error.message})
      })
    })
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    req.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve({status: 0, error: error.code && !error.message.startsWith('no answer') ? error.code : error.message})
    })
  })
}

/** /health → the health probe and the backends probe. */
export async function healthProbes(url: string, timeoutMs: number): Promise<[ProbeResult, ProbeResult]> {
  const started = performance.now()
  const answer = await getJson(url, timeoutMs)
  const ms = Math.round(performance.now() - started)
  const status = typeof answer.body?.status === 'string' ? answer.body.status : undefined
  let health: ProbeResult
  if (answer.status === 0) health = {kind: 'health', target: url, isOk: false, detail: answer.error ?? 'no answer', ms}
  else if (status === undefined) health = {kind: 'health', target: url, isOk: false, detail: `HTTP ${answer.status} without a status field`, ms}
  else if (answer.status !== 200 || !(ANNOUNCING_HEALTH as readonly string[]).includes(status)) health = {kind: 'health', target: url, isOk: false, detail: `status ${status} (HTTP ${answer.status})`, ms}
  else health = {kind: 'health', target: url, isOk: true, detail: `status ${status}`, ms}

  const routable = answer.body?.routable
  let backends: ProbeResult
  if (typeof routable !== 'number') backends = {kind: 'backends', target: url, isOk: false, detail: answer.status === 0 ? 'no answer' : 'no routable count in /health', ms}
  else if (routable < 1) backends = {kind: 'backends', target: url, isOk: false, detail: 'no routable backend', ms}
  else backends = {kind: 'backends', target: url, isOk: true, detail: `${routable} routable`, ms}
  return [health, backends]
}

export async function probeOnce(options: ProbeOptions): Promise<ProbeReport> {
  const atMs = (options.now ?? Date.now)()
  const results = await Promise.all([...options.targets.map((t) => tcpProbe(t, options.timeoutMs)), healthProbes(options.healthUrl, options.timeoutMs)])
  const probes = results.flat()
  const failed = probes.find((p) => !p.isOk)
  return {isOk: failed === undefined, atMs, probes, ...(failed ? {reason: `${failed.kind} ${failed.target}: ${failed.detail}`} : {})}
}
