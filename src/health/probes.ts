// One active check of one backend over a fresh connection: tcp (the connect completes), tls (the
// handshake completes; the certificate is not verified, backends are dialled by address) or http
// (GET path answers 2xx, through undici with `reset` so no connection is ever reused: a reused one
// can hide a firewall or an L4 balancer in the way). Everything, connect included, must finish
// within the timeout. It never throws: a failure is a result with the reason.
import net from 'node:net'
import tls from 'node:tls'

import {formatHostPort} from '../net/address.js'
import type {CheckTarget} from './health-table.js'

export interface ProbeResult {
  isPass: boolean
  latencyMs: number
  error: string | null
}

/** The HTTP client of http checks (undici, loaded on first use so start-up stays lean). */
export interface HttpProbeClient {
  /** GET `path` from `origin` over a new connection, closed afterwards; resolves with the status. */
  get(origin: string, path: string, timeoutMs: number, signal: AbortSignal): Promise<number>
}

// One undici Client per check, destroyed after it: a shared Agent reconnects to the origin after an
// aborted request (a second connection to a backend that just timed out), and a fresh Client also
// guarantees that no connection is ever reused.
export async function undiciProbeClient(): Promise<HttpProbeClient> {
  const {Client} = await import('undici')
  return {
    async get(origin, path, timeoutMs, signal) {
      const client = new Client(origin, {pipelining: 0, connect: {timeout: timeoutMs}, headersTimeout: timeoutMs, bodyTimeout: timeoutMs})
      try {
        const res = await client.request({
          path,
          method: 'GET',
          reset: true,
          signal,
          headers: {'user-agent': 'edgeproxy-health-check', accept: '*/*'},
        })
        await res.body.dump()
        return res.statusCode
      } finally {
        // Awaited: the check holds its slot under the concurrency cap until its socket is gone.
        await client.destroy().catch(() => {})
      }
    },
  }
}

function errorCode(error: unknown): string {
  const e = error as NodeJS.ErrnoException & {cause?: NodeJS.ErrnoException}
  return e.code ?? e.cause?.code ?? e.message ?? String(error)
}

/** A socket-level check (tcp or tls): resolves on connect or handshake, fails on error or timeout. */
function socketProbe(target: CheckTarget, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  const started = performance.now()
  return new Promise((resolve) => {
    let isDone = false
    let socket: net.Socket
    const finish = (error: string | null) => {
      if (isDone) return
      isDone = true
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      socket.destroy()
      resolve({isPass: error === null, latencyMs: performance.now() - started, error})
    }
    const onAbort = () => finish('cancelled')
    const timer = setTimeout(() => finish(`timeout after ${timeoutMs} ms${target.type === 'tls' ? '' : ' (connect)'}`), timeoutMs)
    if (target.type === 'tls') {
      socket = tls.connect({
        host: target.host,
        port: target.port,
        servername: net.isIP(target.sni) === 0 ? target.sni : undefined,
        rejectUnauthorized: false,
      })
      socket.once('secureConnect', () => finish(null))
      socket.on('error', (error) => finish(`tls ${errorCode(error)}`))
    } else {
      socket = net.connect({host: target.host, port: target.port})
      socket.once('connect', () => finish(null))
      socket.on('error', (error) => finish(`connect ${errorCode(error)}`))
    }
    signal.addEventListener('abort', onAbort)
  })
}

async function httpProbe(client: HttpProbeClient, target: CheckTarget, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  const started = performance.now()
  const hostPort = formatHostPort(target.host, target.port)
  const timeout = AbortSignal.timeout(timeoutMs)
  const both = AbortSignal.any([signal, timeout])
  try {
    const status = await client.get(`http://${hostPort}`, target.path, timeoutMs, both)
    const latencyMs = performance.now() - started
    return status >= 200 && status < 300 ? {isPass: true, latencyMs, error: null} : {isPass: false, latencyMs, error: `HTTP ${status}`}
  } catch (error) {
    const latencyMs = performance.now() - started
    if (signal.aborted) return {isPass: false, latencyMs, error: 'cancelled'}
    if (timeout.aborted) return {isPass: false, latencyMs, error: `timeout after ${timeoutMs} ms (http)`}
    // ECONNREFUSED and the like come from the connect; undici's own codes from the exchange.
    const code = errorCode(error)
    return {isPass: false, latencyMs, error: /^E[A-Z]+$/.test(code) ? `connect ${code}` : `http ${code}`}
  }
}

/** Runs one check of `target`; `http` needs the client (see undiciProbeClient). */
export function probe(target: CheckTarget, timeoutMs: number, signal: AbortSignal, http?: HttpProbeClient): Promise<ProbeResult> {
  if (target.type === 'http') {
    if (http === undefined) return Promise.resolve({isPass: false, latencyMs: 0, error: 'no http client'})
    return httpProbe(http, target, timeoutMs, signal)
  }
  return socketProbe(target, timeoutMs, signal)
}
