// BackendStore over a Corrosion agent: every write is one POST /v1/transactions of the shared bound
// statements (store/backend-sql.ts), every read a POST /v1/queries. It mirrors SqliteBackendStore's
// results; it knows nothing of HTTP routes, lease coalescing or how the client reaches the agent.
import type {Backend} from '../balancer/backend.js'
import type {BackendStore, RegisterInput, RegisterResult, StateChange} from '../store/backend-store.js'
import {
  changeStatement,
  deregisterStatement,
  registerStatement,
  renewLeaseStatement,
  SELECT_BACKEND,
  SELECT_BACKENDS,
  type BoundStatement,
} from '../store/backend-sql.js'
import {rowToBackend, rowsToBackends, type BackendRow} from '../store/schema.js'
import {CorrosionClient, type CorrosionClientOptions} from './client.js'
import {CorrosionProtocolError, CorrosionSchemaMismatchError, CorrosionSqlError} from './errors.js'

/**
 * Each write reads its row back with a second request, so a write another POP makes in between can
 * show in the result; the stored row is right either way, and routing reads the table, not this.
 */
export class CorrosionBackendStore implements BackendStore {
  readonly kind = 'corrosion' as const
  private readonly client: CorrosionClient
  private readonly ownsClient: boolean

  /**
   * Writes through `client`. The store closes the client on close() only when `ownsClient` is set
   * (open() sets it); a client shared with the routing feed stays open.
   */
  constructor(client: CorrosionClient, options: {ownsClient?: boolean} = {}) {
    this.client = client
    this.ownsClient = options.ownsClient ?? false
  }

  /** A store with its own client; close() closes it. */
  static open(options: CorrosionClientOptions): CorrosionBackendStore {
    return new CorrosionBackendStore(new CorrosionClient(options), {ownsClient: true})
  }

  describe(): string {
    // client.url never carries credentials; the token lives only in the authorization header.
    return `corrosion:${this.client.url}`
  }

  /** The row as the balancer sees it; undefined when absent or not routable (as SqliteBackendStore). */
  private async row(id: string): Promise<Backend | undefined> {
    const rows = await this.client.queryObjects([SELECT_BACKEND, [id]])
    const row = rows[0] as BackendRow | undefined
    return row === undefined ? undefined : rowToBackend(row).backend
  }

  /** One statement in one all-or-nothing transaction; the rows it changed. */
  private async run(statement: BoundStatement): Promise<number> {
    let response: Awaited<ReturnType<CorrosionClient['execute']>>
    try {
      response = await this.client.execute([[statement.sql, statement.params]])
    } catch (error) {
      // A newer edgeproxy writes a column this agent's table does not have yet.
      const missing = error instanceof CorrosionSqlError ? /no such column: (?:\w+\.)?(\w+)/i.exec(error.agentMessage) : null
      if (missing) {
        throw new CorrosionSchemaMismatchError(
          `the backends table on Corrosion at ${this.client.url} has no column ${missing[1]}: run \`edgeproxy corrosion init-schema\` on this agent`,
          {suggestion: 'edgeproxy corrosion init-schema --api-url <this agent> --schema-dir <its db.schema_paths directory>'},
        )
      }
      throw error
    }
    const result = response.results[0]
    if (result === undefined) throw new CorrosionProtocolError(`Corrosion at ${this.client.url} answered a transaction of 1 statement with no result`)
    return result.rowsAffected
  }

  async register(input: RegisterInput, nowMs: number, leaseMs: number): Promise<RegisterResult> {
    // Corrosion has no interactive transactions over HTTP, so this read is not atomic with the
    // upsert below: when several POPs register the same id at once, more than one may report
    // created: true. That is acceptable: `created` only tells the caller what it saw, and the upsert
    // itself is idempotent and converges (last writer wins per column) whatever the order.
    const before = await this.row(input.id)
    await this.run(registerStatement(input, nowMs, leaseMs))
    const backend = await this.row(input.id)
    if (backend === undefined) {
      throw new CorrosionProtocolError(`backend ${JSON.stringify(input.id)} was written to Corrosion at ${this.client.url} but cannot be read back`, {
        suggestion: 'check the backends table with `edgeproxy corrosion status`; another writer may have removed the row',
      })
    }
    return {backend, created: before === undefined}
  }

  async renewLease(id: string, nowMs: number, leaseMs: number): Promise<Backend | undefined> {
    // Zero rows affected is not "unknown" here: a row without a lease is left alone but still exists.
    await this.run(renewLeaseStatement(id, nowMs, leaseMs))
    return this.row(id)
  }

  async change(id: string, change: StateChange, nowMs: number): Promise<Backend | undefined> {
    return (await this.run(changeStatement(id, change, nowMs))) === 0 ? undefined : this.row(id)
  }

  async deregister(id: string): Promise<Backend | undefined> {
    // The row as it was, read first: after the DELETE there is nothing left to read. When another
    // writer removed it in between, rows_affected is 0 and the id counts as unknown.
    const before = await this.row(id)
    if (before === undefined) return undefined
    return (await this.run(deregisterStatement(id))) === 0 ? undefined : before
  }

  get(id: string): Promise<Backend | undefined> {
    return this.row(id)
  }

  async list(): Promise<Backend[]> {
    return rowsToBackends((await this.client.queryObjects(SELECT_BACKENDS)) as BackendRow[]).backends
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close()
  }
}
