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
