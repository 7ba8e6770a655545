// Counters of the proxy's data path: plain numbers bumped in place, read by logs, /health and
// shutdown. Keeping them as fields (not a map of names) keeps the per-connection cost to an add.

export class ProxyStats {
  accepted = 0
  completed = 0
  /** Client connections closed at once because no backend could take them. */
  noBackend = 0
  /** Individual backend connects that were refused, failed or timed out. */
  connectFailures = 0
  /** Connects retried on the next best backend after a failure. */
  failovers = 0
  /** Client connections closed after every attempt failed. */
  connectGaveUp = 0
  proxyHeaderInvalid = 0
  proxyHeaderUntrusted = 0
  handshakeTimeouts = 0
  /** Client connections closed at accept: their client key had no token left (EDGEPROXY_RATE_LIMIT_*). */
  refusedRateLimit = 0
  /** Client connections closed at accept: their client key had EDGEPROXY_MAX_CONNS_PER_IP open. */
  refusedConnLimit = 0
  /** Client connections closed at accept because EDGEPROXY_MAX_CONNECTIONS were open. */
  refusedMaxConnections = 0
  /** Relayed connections closed after EDGEPROXY_IDLE_TIMEOUT_SECS without a byte either way. */
  idleTimeouts = 0
  tlsHandshakeFailures = 0
  bytesFromClients = 0
  bytesToClients = 0

  toJSON(): Record<string, number> {
    return {...this} as unknown as Record<string, number>
  }
}

/**
 * edgeproxy_connection_errors_total{reason}: one row per error counter of ProxyStats. Every row but
 * connect_failed (a backend connect that failed, which may have failed over) is a client connection
 * that ended in an error: what `edgeproxy status` and the status page's chart count as errors.
 */
export const CONNECTION_ERROR_REASONS: ReadonlyArray<readonly [reason: string, read: (s: ProxyStats) => number]> = [
  ['no_backend', (s) => s.noBackend],
  ['connect_failed', (s) => s.connectFailures],
  ['gave_up', (s) => s.connectGaveUp],
  ['proxy_header_invalid', (s) => s.proxyHeaderInvalid],
  ['proxy_header_untrusted', (s) => s.proxyHeaderUntrusted],
  ['handshake_timeout', (s) => s.handshakeTimeouts],
  ['tls_handshake', (s) => s.tlsHandshakeFailures],
  // Admission at accept: refused before any backend is dialled.
  ['rate_limited', (s) => s.refusedRateLimit],
  ['conn_limit', (s) => s.refusedConnLimit],
  ['max_connections', (s) => s.refusedMaxConnections],
]

/** Client connections that ended in an error so far (every reason but connect_failed). */
export function clientErrors(s: ProxyStats): number {
  let total = 0
  for (const [reason, read] of CONNECTION_ERROR_REASONS) if (reason !== 'connect_failed') total += read(s)
  return total
}

/**
 * The counters of one listener (tcp, tls): what `edgeproxy_connections_*` and `edgeproxy_bytes_*`
 * report per listener. Open connections are accepted - completed, so nothing is decremented.
 */
export class ListenerStats {
  accepted = 0
  completed = 0
  bytesFromClients = 0
  bytesToClients = 0

  get active(): number {
    return this.accepted - this.completed
  }
}
