// The `backend heartbeat --every` sidecar loop: beat on an interval until SIGINT/SIGTERM; on failure
// back off exponentially (with jitter, capped at the interval × 8 or 60 s) and log only state
// changes, so a proxy restart gives one "failing" line and one "recovered" line, not a flood.
// A backend that no longer exists (deregistered, or a store that lost it) is not a failure to
// retry: the loop ends with that error, or with `reRegister` registers it again and goes on.
import {errorMessage, isEdgeproxyError} from '../errors.js'
import type {BackendClient, RegisterOutcome} from '../discovery/backend-client.js'
import {suggestedInterval} from './backend-actions.js'

export interface HeartbeatLoopOptions {
  id: string
  client: BackendClient
  intervalMs: number
  log: (line: string) => void
  /** Resolves when the loop must stop; defaults to the first SIGINT or SIGTERM. */
  stop?: Promise<void>
  /** `--register`: registers the backend again when the store no longer has it. */
  reRegister?: () => Promise<RegisterOutcome>
}

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.removeListener('SIGINT', done)
      process.removeListener('SIGTERM', done)
      resolve()
    }
    process.on('SIGINT', done)
    process.on('SIGTERM', done)
  })
}

export async function runHeartbeatLoop(options: HeartbeatLoopOptions): Promise<{beats: number; failures: number}> {
  const {id, client, intervalMs, log} = options
  const stop = options.stop ?? signalled()
  let stopped = false
  void stop.then(() => (stopped = true))
  let beats = 0
  let failures = 0
  let failingSince: number | undefined
  let lastError = ''
  let delay = intervalMs
  let fatal: unknown
  const maxDelay = Math.max(intervalMs, Math.min(intervalMs * 8, 60_000))
  const stamp = () => new Date().toISOString()
  log(`${stamp()} heartbeat ${id} every ${intervalMs / 1000}s via ${client.target}`)
  while (!stopped) {
    try {
      let result: {backend: {lease_expires_at: string | null}; lease_secs: number}
      try {
        result = await client.heartbeat(id)
      } catch (error) {
        if (!isEdgeproxyError(error) || error.code !== 'EP_BACKEND_NOT_FOUND') throw error
        if (options.reRegister === undefined) {
          log(`${stamp()} heartbeat ${id} stopped: ${error.message}; it was deregistered or the store lost it (pass --register with the register flags to register it again)`)
          fatal = error
          throw error
        }
        try {
          result = await options.reRegister()
        } catch (registerError) {
          // A refused value will be refused again: stop. An unreachable API is retried like a heartbeat.
          if (isEdgeproxyError(registerError) && registerError.exitCode === 3 && registerError.code !== 'EP_API_UNAUTHORIZED') fatal = registerError
          throw registerError
        }
        log(`${stamp()} heartbeat ${id}: it was gone from ${client.target}; registered it again`)
      }
      beats++
      if (beats === 1 && intervalMs > (result.lease_secs * 1000) / 3) {
        log(
          `${stamp()} warning: --every ${intervalMs / 1000}s is more than a third of the ${result.lease_secs}s lease, so one or two lost heartbeats let ${id} expire; use --every ${suggestedInterval(result.lease_secs)} or less`,
        )
      }
      if (failingSince !== undefined) {
        log(`${stamp()} heartbeat ${id} recovered after ${failures} failure(s) over ${Math.round((Date.now() - failingSince) / 1000)}s; lease until ${result.backend.lease_expires_at}`)
        failingSince = undefined
        lastError = ''
      } else if (beats === 1) {
        log(`${stamp()} heartbeat ${id} ok; lease until ${result.backend.lease_expires_at ?? 'never (no lease)'}`)
      }
      delay = intervalMs
    } catch (error) {
      if (fatal !== undefined) throw fatal
      failures++
      failingSince ??= Date.now()
      const message = isEdgeproxyError(error) ? `${error.message} [${error.code}]` : errorMessage(error)
      if (message !== lastError) {
        log(`${stamp()} heartbeat ${id} failing: ${message}; retrying with backoff`)
        lastError = message
      }
      delay = Math.min(maxDelay, delay * 2)
    }
    const wait = failingSince === undefined ? delay : delay / 2 + Math.random() * (delay / 2)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([stop, new Promise((resolve) => (timer = setTimeout(resolve, wait)))])
    clearTimeout(timer)
  }
  log(`${stamp()} heartbeat ${id} stopped after ${beats} beat(s), ${failures} failure(s)`)
  return {beats, failures}
}
