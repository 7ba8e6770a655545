// Subscriptions over real HTTP: snapshot then contiguous changes, shared ids for equivalent SQL,
// resume by id after an agent restart, fresh snapshots after 404, retention and gaps, and quiet
// streams left open. Runs against the emulator and, when CORROSION_TEST_URL is set, a real agent.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {setTimeout as delay} from 'node:timers/promises'
import {after, before, describe, it} from 'node:test'

import {CorrosionClient} from '../../../src/corrosion/client.js'
import type {Subscription, SubscriptionChange, SubscriptionSnapshot, SubscriptionStatus} from '../../../src/corrosion/subscription.js'
import {createCluster, type EmulatorAgent} from '../../support/corrosion-emulator/index.js'
import {backendsSchemaDir, emulatorTarget, targets, type Target} from '../../support/corrosion-emulator/targets.js'

const INSERT = 'INSERT INTO backends (id, app, region, wg_ip, port) VALUES (?, ?, ?, ?, ?)'

type Event = {kind: 'snapshot'; s: SubscriptionSnapshot; rows: number} | {kind: 'change'; c: SubscriptionChange} | {kind: 'status'; status: SubscriptionStatus}

/** Records a subscription's events and lets a test await the next one that matches. */
class Recorder {
  readonly events: Event[] = []
  private waiters: {match: (e: Event) => boolean; resolve: (e: Event) => void}[] = []
  private seen = 0

  handlers() {
    return {
      snapshot: (s: SubscriptionSnapshot) => this.push({kind: 'snapshot', s, rows: s.rows.size}),
      change: (c: SubscriptionChange) => this.push({kind: 'change', c}),
      status: (status: SubscriptionStatus) => this.push({kind: 'status', status}),
    }
  }

  private push(e: Event): void {
    this.events.push(e)
    for (const w of [...this.waiters]) {
      if (w.match(e)) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve(e)
      }
    }
  }

  /** The next matching event after the ones already consumed by next(). */
  next<E extends Event>(match: (e: Event) => e is E, timeoutMs = 5000): Promise<E> {
    const found = this.events.slice(this.seen).findIndex(match)
    if (found !== -1) {
      this.seen += found + 1
      return Promise.resolve(this.events[this.seen - 1] as E)
    }
    return new Promise<E>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(this.seen).map((x) => x.kind))}`)), timeoutMs)
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer)
          this.seen = this.events.indexOf(e) + 1
          resolve(e as E)
        },
      })
    })
  }
}

const isSnapshot = (e: Event): e is Extract<Event, {kind: 'snapshot'}> => e.kind === 'snapshot'
const changeOf = (id: string) => (e: Event): e is Extract<Event, {kind: 'change'}> => e.kind === 'change' && e.c.cells[0] === id

for (const factory of targets()) {
  describe(`subscriptions against the ${factory.name}`, () => {
    let target: Target
    let client: CorrosionClient
    const subs: Subscription[] = []

    before(async () => {
      target = await factory.open()
      client = new CorrosionClient({url: target.url, token: target.token})
    })
    after(async () => {
      for (const s of subs) await s.close()
      await client.execute([['DELETE FROM backends WHERE id LIKE ?', [`${target.prefix}%`]]]).catch(() => {})
      await client.close()
      await target.close()
    })

    it('delivers a snapshot keyed by rowid, then contiguous changes of every kind', async () => {
      await client.execute([[INSERT, [`${target.prefix}a`, 'web', 'eu', '10.0.0.1', 80]]])
      const rec = new Recorder()
      const sub = client.subscribe(['SELECT id, port FROM backends WHERE id LIKE ?', [`${target.prefix}%`]], rec.handlers())
      subs.push(sub)
      const snap = await rec.next(isSnapshot)
      assert.equal(snap.s.isResync, false)
      assert.deepEqual([...snap.s.rows.values()], [[`${target.prefix}a`, 80]])
      assert.equal(sub.status(), 'connected')
      assert.match(sub.id!, /^[0-9a-f-]{36}$/)

      const id = `${target.prefix}b`
      await client.execute([[INSERT, [id, 'web', 'eu', '10.0.0.2', 81]]])
      const inserted = await rec.next(changeOf(id))
      assert.equal(inserted.c.type, 'insert')
      await client.execute([['UPDATE backends SET port = ? WHERE id = ?', [82, id]]])
      const updated = await rec.next(changeOf(id))
      assert.deepEqual([updated.c.type, updated.c.cells, updated.c.rowid], ['update', [id, 82], inserted.c.rowid])
      await client.execute([['DELETE FROM backends WHERE id = ?', [id]]])
      const deleted = await rec.next(changeOf(id))
      assert.deepEqual([deleted.c.type, deleted.c.cells], ['delete', [id, 82]], 'a delete carries the cells too')
      assert.deepEqual(
        [inserted, updated, deleted].map((e) => e.c.changeId),
        [snap.s.changeId + 1, snap.s.changeId + 2, snap.s.changeId + 3],
      )
      assert.deepEqual([...sub.rows.values()], [[`${target.prefix}a`, 80]])
      assert.equal(sub.lastChangeId, deleted.c.changeId)
    })

    it('shares one agent-side subscription between equivalent SQL texts', async () => {
      const sql = `SELECT id FROM backends WHERE id = '${target.prefix}shared'`
      const a = client.subscribe(sql)
      const b = client.subscribe(`  ${sql.replace(' WHERE ', '\n   WHERE  ')} ;`)
      subs.push(a, b)
      await Promise.all([a.ready, b.ready])
      assert.equal(a.id, b.id)
    })
  })
}

describe('subscriptions: resume and re-sync (emulator)', () => {
  let target: Target & {emulator: NonNullable<Target['emulator']>}
  let client: CorrosionClient
  const subs: Subscription[] = []
  const schemaDir = backendsSchemaDir()

  before(async () => {
    target = await emulatorTarget({purgeIntervalMs: 600_000})
    client = new CorrosionClient({url: target.url, requestTimeoutMs: 200})
  })
  after(async () => {
    for (const s of subs) await s.close()
    await client.close()
    await target.close()
    fs.rmSync(schemaDir, {recursive: true, force: true})
  })

  it('never sends `from` on the first POST, and resumes with GET ?from=<last> after an agent restart', async () => {
    const rec = new Recorder()
    const sub = client.subscribe('SELECT id, port FROM backends', rec.handlers(), {minBackoffMs: 10, maxBackoffMs: 50})
    subs.push(sub)
    await rec.next(isSnapshot)
    await client.execute([[INSERT, ['r1', 'web', 'eu', '10.0.0.1', 80]]])
    const first = await rec.next(changeOf('r1'))
    const post = target.emulator.requests.find((r) => r.url.startsWith('/v1/subscriptions') && r.method === 'POST')!
    assert.equal(post.url, '/v1/subscriptions')

    const before = target.emulator.requests.length
    await target.emulator.stop()
    await rec.next((e): e is Extract<Event, {kind: 'status'}> => e.kind === 'status' && (e.status === 'resyncing' || e.status === 'down'))
    await target.emulator.start()
    await rec.next((e): e is Extract<Event, {kind: 'status'}> => e.kind === 'status' && e.status === 'connected')
    await client.execute([[INSERT, ['r2', 'web', 'eu', '10.0.0.2', 80]]])
    const second = await rec.next(changeOf('r2'))
    assert.equal(second.c.changeId, first.c.changeId + 1, 'no change lost or repeated across the restart')
    const resume = target.emulator.requests.slice(before).find((r) => r.method === 'GET')!
    assert.equal(resume.url, `/v1/subscriptions/${sub.id}?from=${first.c.changeId}`)
    assert.equal(rec.events.filter((e) => e.kind === 'snapshot').length, 1, 'resuming does not re-read the snapshot')
  })

  it('re-POSTs for a fresh snapshot when the agent answers 404 for the id', async () => {
    const rec = new Recorder()
    const sub = client.subscribe('SELECT id FROM backends WHERE port = 80', rec.handlers(), {minBackoffMs: 10, maxBackoffMs: 50})
    subs.push(sub)
    await rec.next(isSnapshot)
    const oldId = sub.id!
    target.emulator.dropSubscription(oldId) // also ends the stream: the client resumes by id and gets 404
    const fresh = await rec.next(isSnapshot)
    assert.equal(fresh.s.isResync, true)
    assert.notEqual(sub.id, oldId)
    assert.deepEqual([...fresh.s.rows.values()].map((c) => c[0]).sort(), ['r1', 'r2'])
    assert.ok(target.emulator.requests.some((r) => r.method === 'GET' && r.url.startsWith(`/v1/subscriptions/${oldId}`) && r.status === 404))
  })

  it('re-POSTs for a fresh snapshot after "already deleted older changes"', async () => {
    // Agent B keeps 2 changes per subscription and purges after every change. It misses 6 commits
    // of agent A while down, applies them at start, and purges: resuming from the old id fails.
    const cluster = await createCluster(2, {agents: [{schemaPaths: [schemaDir]}, {schemaPaths: [schemaDir], subscriptionRetention: 2, purgeIntervalMs: 0}]})
    const [a, b] = cluster.agents as [EmulatorAgent, EmulatorAgent]
    const c2 = new CorrosionClient({url: b.url})
    const rec = new Recorder()
    const sub = c2.subscribe('SELECT id, port FROM backends', rec.handlers(), {minBackoffMs: 10, maxBackoffMs: 50})
    try {
      await rec.next(isSnapshot)
      a.transact([[INSERT, ['p0', 'web', 'eu', '10.0.0.1', 80]]])
      const first = await rec.next(changeOf('p0'))
      assert.equal(first.c.changeId, 1)
      await b.stop()
      for (let i = 1; i <= 6; i++) a.transact([[INSERT, [`p${i}`, 'web', 'eu', '10.0.0.1', 80]]])
      await cluster.delivered() // queued on B, which is down
      await b.start()
      const rebuilt = await rec.next(isSnapshot)
      assert.equal(rebuilt.s.isResync, true)
      assert.equal(rebuilt.rows, 7)
      const resume = b.requests.find((r) => r.method === 'GET' && r.url === `/v1/subscriptions/${sub.id}?from=1`)
      assert.ok(resume, 'first tried to resume from change 1')
      assert.deepEqual(
        rec.events.filter((e) => e.kind === 'change').map((e) => (e as Extract<Event, {kind: 'change'}>).c.changeId),
        [1],
        'nothing applied from the purged range',
      )
    } finally {
      await sub.close()
      await c2.close()
      await cluster.close()
    }
  })

  it('keeps a quiet stream open longer than the request timeout (the agent sends no heartbeats)', async () => {
    const rec = new Recorder()
    const sub = client.subscribe('SELECT id FROM backends WHERE port = 9', rec.handlers())
    subs.push(sub)
    await rec.next(isSnapshot)
    const before = target.emulator.requests.length
    await delay(400) // twice the client's requestTimeoutMs, with nothing on the stream
    assert.equal(sub.status(), 'connected')
    await client.execute([[INSERT, ['quiet', 'web', 'eu', '10.0.0.9', 9]]])
    await rec.next(changeOf('quiet'))
    assert.equal(target.emulator.requests.slice(before).filter((r) => r.url.startsWith('/v1/subscriptions')).length, 0, 'same stream, no reconnect')
  })
})

describe('subscriptions: a gap in change ids forces a fresh snapshot', () => {
  let server: http.Server
  let url: string
  const seen: string[] = []

  before(async () => {
    let posts = 0
    server = http.createServer((req, res) => {
      req.resume()
      seen.push(`${req.method} ${req.url}`)
      req.on('end', () => {
        res.writeHead(200, {'corro-query-id': '00000000-0000-4000-8000-000000000001'})
        posts++
        if (posts === 1) {
          // change id 2 is missing: 1 then 3
          res.write('{"columns":["id"]}\n{"row":[1,["a"]]}\n{"eoq":{"time":0,"change_id":0}}\n{"change":["insert",2,["b"],1]}\n')
          res.write('{"change":["insert",3,["c"],3]}\n')
        } else {
          res.write('{"columns":["id"]}\n{"row":[1,["a"]]}\n{"row":[2,["b"]]}\n{"row":[3,["c"]]}\n{"eoq":{"time":0,"change_id":3}}\n')
        }
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise<void>((r) => server.close(() => r()))
  })

  it('drops the stream at the gap and rebuilds from a fresh POST without from', async () => {
    const client = new CorrosionClient({url})
    const rec = new Recorder()
    const sub = client.subscribe('SELECT id FROM t', rec.handlers(), {minBackoffMs: 5, maxBackoffMs: 10})
    try {
      await rec.next(isSnapshot)
      const change = await rec.next(changeOf('b'))
      assert.equal(change.c.changeId, 1)
      const rebuilt = await rec.next(isSnapshot)
      assert.equal(rebuilt.s.isResync, true)
      assert.deepEqual([...rebuilt.s.rows.values()], [['a'], ['b'], ['c']])
      assert.equal(rec.events.filter((e) => e.kind === 'change' && e.c.changeId === 3).length, 0, 'the change after the gap is not applied')
      assert.deepEqual(seen.slice(0, 2), ['POST /v1/subscriptions', 'POST /v1/subscriptions'])
    } finally {
      await sub.close()
      await client.close()
    }
  })
})
