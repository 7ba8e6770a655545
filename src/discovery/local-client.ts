// The `backend` commands' way straight into a routing store when no proxy runs: `--db` (a SQLite
// file) or `--corrosion-url` (a Corrosion agent), through the same BackendService and validation as
// the API, so results and errors match the API's. Loaded only for those flags (it brings SQLite).
import type {BackendStore, StateChange} from '../store/backend-store.js'
import {SqliteBackendStore} from '../store/sqlite-backend-store.js'
import {CLI_STORE_CONTEXT} from '../store/sqlite-store.js'
import {BackendNotFoundError, type BackendClient, type HeartbeatOutcome, type ListFilter, type RegisterOutcome} from './backend-client.js'
import {backendJson, type BackendJson} from './backend-json.js'
import {BackendService} from './backend-service.js'
import {validateId, validateRegister, validateWeight} from './validation.js'

export class LocalBackendClient implements BackendClient {
  readonly target: string
  private readonly service: BackendService
  private readonly leaseSecs: number

  /** `leaseMs`: the lease a register or heartbeat gives (EDGEPROXY_HEARTBEAT_TTL_SECS of the proxies). */
  constructor(
    private readonly store: BackendStore,
    leaseMs: number,
  ) {
    this.target = store.describe()
    this.service = new BackendService({store, leaseMs})
    this.leaseSecs = leaseMs / 1000
  }

  static sqlite(dbPath: string, leaseMs: number): LocalBackendClient {
    return new LocalBackendClient(SqliteBackendStore.open(dbPath, {context: CLI_STORE_CONTEXT}), leaseMs)
  }

  private out(b: Parameters<typeof backendJson>[0]): BackendJson {
    return backendJson(b, this.service.nowMs(), null)
  }

  async register(body: Record<string, unknown>): Promise<RegisterOutcome> {
    const {countryDerived, ...input} = validateRegister(body)
    const result = await this.service.register(input)
    return {backend: this.out(result.backend), created: result.created, country_derived: countryDerived, lease_secs: this.leaseSecs}
  }

  async heartbeat(id: string): Promise<HeartbeatOutcome> {
    const result = await this.service.heartbeat(validateId(id))
    if (result === undefined) throw new BackendNotFoundError(id, this.target)
    return {backend: this.out(result.backend), stored: result.stored, lease_secs: this.leaseSecs}
  }

  async list(filter: ListFilter = {}): Promise<BackendJson[]> {
    return (await this.service.list(filter)).map((b) => this.out(b))
  }

  async get(id: string): Promise<BackendJson> {
    const b = await this.service.get(validateId(id))
    if (b === undefined) throw new BackendNotFoundError(id, this.target)
    return this.out(b)
  }

  async deregister(id: string): Promise<BackendJson> {
    const b = await this.service.deregister(validateId(id))
    if (b === undefined) throw new BackendNotFoundError(id, this.target)
    return this.out(b)
  }

  async change(id: string, change: StateChange): Promise<BackendJson> {
    if (change.kind === 'weight') validateWeight(change.weight)
    const b = await this.service.change(validateId(id), change)
    if (b === undefined) throw new BackendNotFoundError(id, this.target)
    return this.out(b)
  }

  async close(): Promise<void> {
    await this.store.close()
  }
}
