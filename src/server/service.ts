// One lifecycle for every part of a running POP, after pingora's Server/Service and Envoy's managers:
// the engine starts its services in order, reloads them on SIGHUP, stops their intake first when it
// drains, and closes them in reverse order. A service owns its sockets and timers; it knows nothing
// of the other services beyond what its factory handed it.

/** What a service adds to GET /health: reasons it is degraded (none = fine) and fields of its own. */
export interface ServiceHealth {
  /** Each reason makes the POP `degraded`, e.g. "corrosion agent sees 0 members". */
  degraded?: string[]
  /** Trouble ahead that does not degrade the POP yet (a certificate about to expire); shown by `edgeproxy status`. */
  warnings?: string[]
  /** Merged into the /health body under the service's name. */
  fields?: Record<string, unknown>
}

export interface Service {
  /** Short and stable: log lines and /health use it. */
  readonly name: string
  /** Binds sockets and arms timers. A throw aborts start-up; services already started are closed. */
  start(): Promise<void>
  /** SIGHUP: re-read whatever the service reads from disk or the store. Returns what it did, for the log. */
  reload?(): Record<string, string | number | boolean | null> | void
  /** First phase of a drain: take no new work; work in flight carries on. */
  stopAccepting?(): void
  /** Releases everything. Called once, after stopAccepting and the connection drain. */
  close(): Promise<void> | void
  health?(): ServiceHealth
}

/** Starts services in order; when one fails, closes those already started (reverse order) and rethrows. */
export async function startAll(services: readonly Service[]): Promise<void> {
  const started: Service[] = []
  try {
    for (const service of services) {
      await service.start()
      started.push(service)
    }
  } catch (error) {
    await closeAll(started)
    throw error
  }
}

/** Closes services in reverse order; one failing close does not keep the others open. */
export async function closeAll(services: readonly Service[]): Promise<void> {
  for (const service of [...services].reverse()) {
    try {
      await service.close()
    } catch {
      // Closing is best effort: the process is on its way out or start-up already failed.
    }
  }
}
