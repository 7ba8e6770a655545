// End to end: how POPs live with what the real Corrosion agent does (run `npm run build` first), on
// emulated agents: a column added by init-schema reaches running POPs (the agent fixes a `SELECT *`
// at creation); a local write is not undone by an older table from the agent's 600 ms tick; and
// concurrent operator actions at two POPs, cut apart by a partition, merge column by column as
// cr-sqlite does and end with the last action.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {CorrosionBackendStore} from '../../src/corrosion/corrosion-backend-store.js'
import {BACKEND_COLUMNS, backendsTableDdl} from '../../src/store/schema.js'
import {connectAndGreet, startBackend, type TestBackend} from '../support/backends.js'
import {createCluster, startEmulator, type EmulatorAgent, type EmulatorCluster} from '../support/corrosion-emulator/index.js'
import {apiCall, eligible, eventSince, health, routeView, rowStates, sameStates, startPop, states, untilView, type Pop} from '../support/multi-pop.js'
import {runCli, startProxy, tempDir} from '../support/proxy-process.js'

/** Replication delay between the emulated agents (gossip). */
const DELAY_MS = 50

describe('a schema upgrade reaches running POPs: init-schema adds columns while three POPs run', () => {
  const tmp = tempDir('edgeproxy-multipop-schema-')
  // Each agent has its own schema directory and admin socket, as on separate hosts. The agents start
  // with the table an older edgeproxy declared: without lease_expires_at_ms and later columns.
  const OLDER = BACKEND_COLUMNS.slice(0, BACKEND_COLUMNS.findIndex((c) => c.name === 'lease_expires_at_ms'))
  const dirs = [0, 1, 2].map((i) => path.join(tmp.dir, `schema-${i}`))
  const sockets = [0, 1, 2].map((i) => path.join(tmp.dir, `admin-${i}.sock`))
  let cluster: EmulatorCluster
  let pops: Pop[] = []
  let server: TestBackend

  before(async () => {
    for (const dir of dirs) {
      fs.mkdirSync(dir)
      fs.writeFileSync(path.join(dir, 'backends.sql'), `CREATE TABLE backends (\n${OLDER.map((c) => `    ${c.name} ${c.definition}`).join(',\n')}\n);\n`)
    }
    cluster = await createCluster(3, {delayMs: DELAY_MS, agents: dirs.map((dir, i) => ({schemaPaths: [dir], adminSocket: sockets[i]}))})
    server = await startBackend('old')
    await Promise.all(
      ['sa', 'us', 'eu'].map(async (region, i) => {
        pops[i] = await startPop({region, corrosionUrl: cluster.agents[i]!.url, env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'ignored.db')}})
      }),
    )
  })
  after(async () => {
    await Promise.all(pops.map((p) => p.proxy.stop()))
    await cluster?.close()
    await server?.close()
    tmp.cleanup()
  })

  test('each POP reads the new columns within a few seconds, without a restart', async () => {
    const insert = `INSERT INTO backends (id, app, region, wg_ip, port) VALUES (?, ?, ?, ?, ?)`
    cluster.agents[0]!.transact([[insert, ['old', 'web', 'sa', '127.0.0.1', server.port]]])
    await Promise.all(pops.map((p) => untilView(p, (v) => eligible(v).join() === 'old', 5000, 'the row of the older table')))

    for (const [i, agent] of cluster.agents.entries()) {
      const r = await runCli(['corrosion', 'init-schema', '--api-url', agent.url, '--schema-dir', dirs[i]!, '--admin-socket', sockets[i]!, '--json'])
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(JSON.parse(r.stdout).added_columns, BACKEND_COLUMNS.slice(OLDER.length).map((c) => c.name))
    }
    const upgradedAt = Date.now()
    // A row that only the new columns make unroutable: its lease ran out long ago.
    cluster.agents[1]!.transact([[`INSERT INTO backends (id, app, region, wg_ip, port, lease_expires_at_ms) VALUES (?, ?, ?, ?, ?, ?)`, ['new', 'web', 'us', '127.0.0.1', server.port, 1]]])
    await Promise.all(pops.map((p) => untilView(p, (v) => states(v).new === 'expired', 5000, 'the new row read with its lease column')))
    console.log(`# schema upgrade: every POP read the added column ${Date.now() - upgradedAt} ms after the last init-schema`)
    for (const pop of pops) {
      assert.ok(pop.proxy.events.some((e) => e.event === 'corrosion_schema_behind'), 'the POP said its agent lacked columns')
      await pop.proxy.waitFor('corrosion_schema_current')
      assert.deepEqual(eligible(await routeView(pop)), ['old'])
    }
  })
})

describe('a local write is not undone by an older feed update', () => {
  const tmp = tempDir('edgeproxy-localwrite-')
  let agent: EmulatorAgent
  let pop: Pop
  let server: TestBackend
  let weight = 2 // y's stored weight; every stale table bumps it

  before(async () => {
    const schemaDir = path.join(tmp.dir, 'schema')
    fs.mkdirSync(schemaDir)
    fs.writeFileSync(path.join(schemaDir, 'backends.sql'), backendsTableDdl())
    agent = await startEmulator({schemaPaths: [schemaDir]})
    server = await startBackend('x')
    pop = await startPop({region: 'sa', corrosionUrl: agent.url, env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'ignored.db'), EDGEPROXY_HEARTBEAT_TTL_SECS: '3'}})
    agent.transact([['INSERT INTO backends (id, app, region, wg_ip, port) VALUES (?, ?, ?, ?, ?)', ['y', 'web', 'us', '127.0.0.1', server.port]]])
  })
  after(async () => {
    await pop?.proxy.stop()
    await agent?.close()
    await server?.close()
    tmp.cleanup()
  })

  /**
   * Another row changes (a busy cluster: leases renewing) and the agent's tick releases it, but the
   * event reaches the POP only after `write` answered: the POP gets a whole table that predates the
   * write. Resolves once that table has been handed to the router.
   */
  async function staleTableAfter(write: () => Promise<void>): Promise<void> {
    agent.hold()
    try {
      agent.transact([['UPDATE backends SET weight = ? WHERE id = ?', [++weight, 'y']]])
      agent.tick()
      await write()
    } finally {
      const mark = pop.proxy.events.length
      agent.release()
      await eventSince(pop, mark, 'store_reloaded')
    }
  }

  test('a drain at this POP stays in its routing view until the agent releases it', async () => {
    const r = await apiCall(pop, 'POST', '/api/v1/register', {id: 'x', app: 'web', region: 'sa', ip: '127.0.0.1', port: server.port})
    assert.equal(r.status, 201, JSON.stringify(r.body))
    await untilView(pop, (v) => eligible(v).join() === 'x,y', 5000, 'x and y eligible')
    await staleTableAfter(async () => {
      const drained = await apiCall(pop, 'POST', '/api/v1/backends/x/drain')
      assert.equal(drained.status, 200, JSON.stringify(drained.body))
      assert.equal(states(await routeView(pop)).x, 'draining', 'routable as drained at once')
    })
    const mark = pop.proxy.events.length
    assert.equal(states(await routeView(pop)).x, 'draining', 'not undone by the older table')
    // The agent's next tick brings the drain itself; the view stays the same.
    await eventSince(pop, mark, 'store_reloaded', () => true, 2000)
    assert.equal(states(await routeView(pop)).x, 'draining')
  })

  test('a heartbeat after an older table is still coalesced: no extra renewal', async () => {
    const r = await apiCall(pop, 'POST', '/api/v1/register', {id: 'h', app: 'web', region: 'sa', ip: '127.0.0.1', port: server.port})
    assert.equal(r.status, 201, JSON.stringify(r.body))
    await untilView(pop, (v) => v.some((c) => c.id === 'h'), 5000, 'h in the view')
    // TTL 3 s: after a second, less than two thirds of the lease is left, so a heartbeat renews.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    await staleTableAfter(async () => {
      const renewed = await apiCall(pop, 'POST', '/api/v1/heartbeat/h')
      assert.equal(renewed.body.stored, true, 'the due renewal is written')
    })
    const again = await apiCall(pop, 'POST', '/api/v1/heartbeat/h')
    assert.equal(again.status, 200, JSON.stringify(again.body))
    assert.equal(again.body.stored, false, 'the POP still sees the lease it just wrote')
  })
})

describe('concurrent operator actions at two POPs merge as documented (a partition between their agents)', () => {
  const tmp = tempDir('edgeproxy-merge-')
  let cluster: EmulatorCluster
  let pops: Pop[] = []
  let server: TestBackend

  before(async () => {
    const schemaDir = path.join(tmp.dir, 'schema')
    fs.mkdirSync(schemaDir)
    fs.writeFileSync(path.join(schemaDir, 'backends.sql'), backendsTableDdl())
    cluster = await createCluster(2, {delayMs: DELAY_MS, schemaPaths: [schemaDir]})
    server = await startBackend('x')
    await Promise.all(
      ['sa', 'eu'].map(async (region, i) => {
        pops[i] = await startPop({region, corrosionUrl: cluster.agents[i]!.url, env: {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'ignored.db')}})
      }),
    )
  })
  after(async () => {
    await Promise.all(pops.map((p) => p.proxy.stop()))
    await cluster?.close()
    await server?.close()
    tmp.cleanup()
  })

  const rows = (agent: EmulatorAgent) => JSON.stringify(agent.rows('SELECT * FROM backends ORDER BY id'))
  async function converged(what: string): Promise<Record<string, string>> {
    await cluster.delivered()
    const [a, b] = cluster.agents as [EmulatorAgent, EmulatorAgent]
    assert.equal(rows(a), rows(b), 'both agents hold the same row')
    const expected = rowStates(a)
    await Promise.all(pops.map((p) => untilView(p, (v) => sameStates(v, expected), 3000, what)))
    return expected
  }

  test('a heartbeat and a drain made at once both survive; drain/enable and disable/enable races end with the last action', async () => {
    const [sa, eu] = pops as [Pop, Pop]
    const [a] = cluster.agents as [EmulatorAgent, EmulatorAgent]
    const r = await apiCall(sa, 'POST', '/api/v1/register', {id: 'x', app: 'web', region: 'sa', ip: '127.0.0.1', port: server.port})
    assert.equal(r.status, 201, JSON.stringify(r.body))
    await converged('x registered')

    cluster.partition([cluster.agents[0]!], [cluster.agents[1]!])
    // POP eu: drain, then enable (its agent's `draining` column is written twice).
    for (const action of ['drain', 'enable']) assert.equal((await apiCall(eu, 'POST', `/api/v1/backends/x/${action}`)).status, 200)
    // POP sa, afterwards: a lease renewal (what a due heartbeat writes), then a drain: the last action.
    const store = CorrosionBackendStore.open({url: a.url})
    const renewedAt = Date.now()
    try {
      await store.renewLease('x', renewedAt, 600_000)
    } finally {
      await store.close()
    }
    assert.equal((await apiCall(sa, 'POST', '/api/v1/backends/x/drain')).status, 200)
    cluster.heal()
    const first = await converged('the drain, the last action, everywhere')
    assert.equal(first.x, 'draining')
    const row = a.rows('SELECT * FROM backends WHERE id = ?', 'x')[0]!
    assert.equal(row.lease_expires_at_ms, renewedAt + 600_000, 'the renewal made at the same time survived too')

    // disable/enable at eu, then disable at sa: disabled (and the drain is over: eu's enable came after it).
    cluster.partition([cluster.agents[0]!], [cluster.agents[1]!])
    for (const action of ['disable', 'enable']) assert.equal((await apiCall(eu, 'POST', `/api/v1/backends/x/${action}`)).status, 200)
    assert.equal((await apiCall(sa, 'POST', '/api/v1/backends/x/disable')).status, 200)
    cluster.heal()
    assert.equal((await converged('the disable, the last action, everywhere')).x, 'unhealthy')
  })

  test("an agent cut off from the cluster makes its POP's /health degraded, with the reason; the heal makes it ok", async () => {
    const [sa, eu] = pops as [Pop, Pop]
    for (const pop of pops) {
      const h = await health(pop)
      assert.equal(h.status, 'ok', JSON.stringify(h))
      assert.equal(h.corrosion.members, 1)
    }
    const marks = pops.map((p) => p.proxy.events.length)
    cluster.partition([cluster.agents[0]!], [cluster.agents[1]!])
    // Each agent still answers and the feeds stay current: only the agents' own view shows it.
    for (const [i, pop] of [sa, eu].entries()) {
      await pop.proxy.waitFor('corrosion_agent_degraded', (e) => pop.proxy.events.indexOf(e) >= marks[i]!, 5000)
      const h = await health(pop)
      assert.equal(h.status, 'degraded')
      assert.equal(h.store.current, true)
      assert.equal(h.corrosion.members, 0)
      assert.match(h.degraded_reasons.join('\n'), /^corrosion: the Corrosion agent sees 0 other member\(s\) alive, fewer than 1 \(EDGEPROXY_CORROSION_MIN_MEMBERS\)/m)
    }
    const healed = pops.map((p) => p.proxy.events.length)
    cluster.heal()
    for (const [i, pop] of [sa, eu].entries()) {
      await pop.proxy.waitFor('corrosion_agent_ok', (e) => pop.proxy.events.indexOf(e) >= healed[i]!, 5000)
      assert.equal((await health(pop)).status, 'ok')
    }
  })
})

describe('a POP restarted while its agent is down still routes, on the table it saved', () => {
  const tmp = tempDir('edgeproxy-statefile-')
  const stateFile = path.join(tmp.dir, 'routing-state.json')
  let agent: EmulatorAgent
  let server: TestBackend
  const pops: Pop[] = []
  const env = {EDGEPROXY_DB_PATH: path.join(tmp.dir, 'ignored.db'), EDGEPROXY_CORROSION_STATE_FILE: stateFile, EDGEPROXY_CORROSION_MIN_MEMBERS: '0', EDGEPROXY_CORROSION_STARTUP_WAIT_SECS: '1'}

  before(async () => {
    const schemaDir = path.join(tmp.dir, 'schema')
    fs.mkdirSync(schemaDir)
    fs.writeFileSync(path.join(schemaDir, 'backends.sql'), backendsTableDdl())
    agent = await startEmulator({schemaPaths: [schemaDir]})
    server = await startBackend('x')
  })
  after(async () => {
    await Promise.all(pops.map((p) => p.proxy.stop()))
    await agent?.close()
    await server?.close()
    tmp.cleanup()
  })

  test('the saved table (0600) routes after a restart without the agent, degraded and stale; the agent back replaces it', async () => {
    const first = await startPop({region: 'sa', corrosionUrl: agent.url, env})
    pops.push(first)
    const r = await apiCall(first, 'POST', '/api/v1/register', {id: 'x', app: 'web', region: 'sa', ip: '127.0.0.1', port: server.port})
    assert.equal(r.status, 201, JSON.stringify(r.body))
    await first.proxy.waitFor('corrosion_state_saved', (e) => e.backends === 1, 5000)
    assert.equal(fs.statSync(stateFile).mode & 0o777, 0o600)
    await first.proxy.stop()
    await agent.stop()

    const startedAt = Date.now()
    const second = await startPop({region: 'sa', corrosionUrl: agent.url, env})
    pops.push(second)
    console.log(`# start without the agent, on the saved table: listening ${Date.now() - startedAt} ms after spawn (EDGEPROXY_CORROSION_STARTUP_WAIT_SECS=1)`)
    const {socket, id} = await connectAndGreet(second.tcpPort)
    socket.destroy()
    assert.equal(id, 'x', 'routes to the saved backend')
    const h = await health(second)
    assert.equal(h.status, 'degraded')
    assert.equal(h.store.current, false)
    assert.match(h.store.error, /has not answered since start: routing on the table saved \d+ s ago in .*routing-state\.json \(stale\)/)
    assert.ok(typeof h.store.last_sync_age_secs === 'number' && h.store.last_sync_age_secs >= 0, JSON.stringify(h.store))
    const events = second.proxy.events.map((e) => e.event)
    assert.equal(events.filter((e) => e === 'corrosion_waiting').length, 1, 'says once that it waits')
    assert.ok(!events.includes('corrosion_unavailable'), 'no "routing on the last good table … backends=0" lines')
    const waiting = second.proxy.events.find((e) => e.event === 'corrosion_waiting')!
    assert.match(String(waiting.msg), new RegExp(`cannot reach Corrosion at ${agent.url.replace(/[.]/g, '\\.')}; waiting up to 1 s`))

    const mark = second.proxy.events.length
    await agent.start()
    await second.proxy.waitFor('corrosion_recovered', (e) => second.proxy.events.indexOf(e) >= mark, 10_000)
    const back = await health(second)
    assert.equal(back.store.current, true, JSON.stringify(back))
    assert.equal(back.status, 'ok', JSON.stringify(back))
  })

  test('with no saved table, start exits 4 with one message naming the agent, the wait and the file', async () => {
    await agent.stop()
    const missing = path.join(tmp.dir, 'never-written.json')
    const proxy = await startProxy({
      waitStarted: false,
      env: {...env, EDGEPROXY_REGION: 'sa', EDGEPROXY_CORROSION_ENABLED: 'true', EDGEPROXY_CORROSION_API_URL: agent.url, EDGEPROXY_CORROSION_STATE_FILE: missing},
    })
    const exit = await proxy.exited
    assert.equal(exit.code, 4, exit.stderr)
    assert.match(exit.stderr, new RegExp(`cannot reach Corrosion at ${agent.url.replace(/[.]/g, '\\.')} within 1 s \\(EDGEPROXY_CORROSION_STARTUP_WAIT_SECS\\), and no saved routing table at ${missing.replace(/[.]/g, '\\.')}`))
    assert.equal(proxy.events.filter((e) => e.event === 'corrosion_unavailable').length, 0)
    await agent.start()
  })
})
