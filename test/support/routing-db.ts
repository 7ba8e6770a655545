// A second connection to a routing store, as an operator or another process would have: rows are
// written with the seeds' INSERT statement (plus the optional columns), always with bound parameters.
import Database from 'better-sqlite3'

export interface Row {
  id: string
  app?: string
  region: string
  country?: string
  wg_ip?: string
  port: number
  healthy?: number
  weight?: number
  soft_limit?: number
  hard_limit?: number
  draining?: number
  deleted?: number
  lease_expires_at_ms?: number
  wg_ip6?: string
}

export class RoutingDb {
  readonly db: Database.Database

  constructor(readonly path: string) {
    this.db = new Database(path)
    this.db.pragma('busy_timeout = 5000')
  }

  insert(row: Row): void {
    // wg_ip6 only when given: tables made by older schemas lack the column.
    const extra = row.wg_ip6 === undefined ? '' : ', wg_ip6'
    this.db
      .prepare(
        `INSERT INTO backends (id, app, region, wg_ip, port, healthy, weight, soft_limit, hard_limit, country, draining, deleted, lease_expires_at_ms${extra})
         VALUES (@id, @app, @region, @wg_ip, @port, @healthy, @weight, @soft_limit, @hard_limit, @country, @draining, @deleted, @lease_expires_at_ms${extra.replace(', ', ', @')})`,
      )
      .run({
        app: 'web',
        wg_ip: '127.0.0.1',
        healthy: 1,
        weight: 2,
        soft_limit: 100,
        hard_limit: 150,
        country: '',
        draining: 0,
        deleted: 0,
        lease_expires_at_ms: 0,
        ...row,
      })
  }

  update(id: string, changes: Partial<Omit<Row, 'id'>>): void {
    const keys = Object.keys(changes)
    const allowed = new Set(['app', 'region', 'country', 'wg_ip', 'port', 'healthy', 'weight', 'soft_limit', 'hard_limit', 'draining', 'deleted', 'lease_expires_at_ms', 'wg_ip6'])
    for (const k of keys) if (!allowed.has(k)) throw new Error(`unknown column ${k}`)
    this.db.prepare(`UPDATE backends SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({...changes, id})
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM backends WHERE id = ?').run(id)
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM backends').get() as {n: number}).n
  }

  close(): void {
    this.db.close()
  }
}
