// The statements behind BackendStore, written once for both stores (Corrosion is SQLite too).
// Every value is a bound positional parameter; no SQL is ever built from input.
import type {RegisterInput, StateChange} from './backend-store.js'

export interface BoundStatement {
  sql: string
  params: (string | number | null)[]
}

// Deregistering deletes the row (Corrosion replicates deletes). Rows that still carry deleted = 1
// (written by an older edgeproxy, or by hand) are absent to every statement here, and to routing.
const LIVE = 'deleted IS NOT 1'

export const SELECT_BACKEND: string = `SELECT * FROM backends WHERE id = ? AND ${LIVE}`
export const SELECT_BACKENDS: string = `SELECT * FROM backends WHERE ${LIVE} ORDER BY id`

/**
 * Insert or update. A row marked deleted = 1 comes back as a new backend (healthy, not draining,
 * registered now); a live row keeps its operator state (healthy = 0 after `disable`, draining).
 * `registered_by` names the POP that took this register; a write straight into the store (no POP)
 * keeps the one stored. Heartbeats and operator actions never touch it.
 */
export function registerStatement(input: RegisterInput, nowMs: number, leaseMs: number): BoundStatement {
  return {
    sql: `INSERT INTO backends (id, app, region, country, wg_ip, port, weight, soft_limit, hard_limit,
        healthy, draining, deleted, lease_expires_at_ms, heartbeat_at_ms, registered_at_ms, updated_at_ms, wg_ip6,
        check_type, check_port, check_path, registered_by)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET
        app = excluded.app, region = excluded.region, country = excluded.country, wg_ip = excluded.wg_ip, wg_ip6 = excluded.wg_ip6,
        port = excluded.port, weight = excluded.weight, soft_limit = excluded.soft_limit, hard_limit = excluded.hard_limit,
        check_type = excluded.check_type, check_port = excluded.check_port, check_path = excluded.check_path,
        healthy = CASE WHEN backends.deleted IS 1 THEN 1 ELSE backends.healthy END,
        draining = CASE WHEN backends.deleted IS 1 THEN 0 ELSE backends.draining END,
        drained_at_ms = CASE WHEN backends.deleted IS 1 THEN 0 ELSE backends.drained_at_ms END,
        disabled_at_ms = CASE WHEN backends.deleted IS 1 THEN 0 ELSE backends.disabled_at_ms END,
        enabled_at_ms = CASE WHEN backends.deleted IS 1 THEN 0 ELSE backends.enabled_at_ms END,
        registered_at_ms = CASE WHEN backends.deleted IS 1 OR backends.registered_at_ms = 0 THEN excluded.registered_at_ms ELSE backends.registered_at_ms END,
        registered_by = CASE WHEN backends.deleted IS 1 THEN excluded.registered_by ELSE COALESCE(excluded.registered_by, backends.registered_by) END,
        deleted = 0,
        lease_expires_at_ms = excluded.lease_expires_at_ms, heartbeat_at_ms = excluded.heartbeat_at_ms,
        updated_at_ms = excluded.updated_at_ms`,
    params: [
      input.id,
      input.app,
      input.region,
      input.country,
      input.ip,
      input.port,
      input.weight,
      input.softLimit,
      input.hardLimit,
      nowMs + leaseMs,
      nowMs,
      nowMs,
      nowMs,
      input.ip6 ?? '',
      input.checkType ?? '',
      input.checkPort ?? 0,
      input.checkPath ?? '',
      input.registeredBy ?? null,
    ],
  }
}

/** Renews a lease; rows without a lease (inserted by SQL) are left alone: they never expire. */
export function renewLeaseStatement(id: string, nowMs: number, leaseMs: number): BoundStatement {
  return {
    sql: `UPDATE backends SET lease_expires_at_ms = ?, heartbeat_at_ms = ?, updated_at_ms = ? WHERE id = ? AND ${LIVE} AND lease_expires_at_ms != 0`,
    params: [nowMs + leaseMs, nowMs, nowMs, id],
  }
}

/** An operator action's stamp: now, or just after the latest stamp the row has. */
const STAMP = 'MAX(?, drained_at_ms + 1, disabled_at_ms + 1, enabled_at_ms + 1)'

export function changeStatement(id: string, change: StateChange, nowMs: number): BoundStatement {
  const where = `WHERE id = ? AND ${LIVE}`
  switch (change.kind) {
    // Each action also stamps its own column; the latest stamp decides (schema.ts operatorState). A
    // stamp is later than every stamp the row already has (a logical clock), so an action taken after
    // another wins even within one millisecond or on a POP whose clock is behind.
    case 'drain':
      return {sql: `UPDATE backends SET draining = 1, drained_at_ms = ${STAMP}, updated_at_ms = ? ${where}`, params: [nowMs, nowMs, id]}
    case 'enable':
      return {sql: `UPDATE backends SET healthy = 1, draining = 0, enabled_at_ms = ${STAMP}, updated_at_ms = ? ${where}`, params: [nowMs, nowMs, id]}
    case 'disable':
      return {sql: `UPDATE backends SET healthy = 0, disabled_at_ms = ${STAMP}, updated_at_ms = ? ${where}`, params: [nowMs, nowMs, id]}
    case 'weight':
      return {sql: `UPDATE backends SET weight = ?, updated_at_ms = ? ${where}`, params: [change.weight, nowMs, id]}
  }
}

/** Removes the row; a row marked deleted = 1 is already absent and is left alone. */
export function deregisterStatement(id: string): BoundStatement {
  return {sql: `DELETE FROM backends WHERE id = ? AND ${LIVE}`, params: [id]}
}
