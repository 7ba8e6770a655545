// init-schema's logic against the emulator: each way of applying (migrations, admin socket,
// `corrosion reload`), idempotence, only-add, refusals before anything is sent, and verification.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'

import {CorrosionClient} from '../../../src/corrosion/client.js'
import {CorrosionSchemaError} from '../../../src/corrosion/errors.js'
import {CorrosionBackendStore} from '../../../src/corrosion/corrosion-backend-store.js'
import {BACKENDS_SCHEMA_FILE, initSchema} from '../../../src/corrosion/init-schema.js'
import {BACKEND_COLUMNS, backendsTableDdl} from '../../../src/store/schema.js'
import {startEmulator, type EmulatorAgent, type EmulatorOptions} from '../../support/corrosion-emulator/index.js'

const ALL = BACKEND_COLUMNS.map((c) => c.name)

async function setup(t: {after: (fn: () => Promise<void> | void) => void}, options: Partial<EmulatorOptions> & {schemaInAgent?: boolean} = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corro-init-'))
  const schemaDir = path.join(dir, 'schema')
  fs.mkdirSync(schemaDir)
  const socket = path.join(dir, 'admin.sock')
  const {schemaInAgent = true, ...rest} = options
  const agent = await startEmulator({schemaPaths: schemaInAgent ? [schemaDir] : [], adminSocket: socket, ...rest})
  const client = new CorrosionClient({url: agent.url, urlFlag: '--api-url'})
  t.after(async () => {
    await client.close()
    await agent.close()
    fs.rmSync(dir, {recursive: true, force: true})
  })
  return {dir, schemaDir, socket, agent, client}
}

const ddlRequests = (agent: EmulatorAgent) => agent.requests.filter((r) => r.url.startsWith('/v1/transactions'))

describe('initSchema', () => {
  it('applies through POST /v1/migrations where the agent has it, then is idempotent', async (t) => {
    const {schemaDir, agent, client} = await setup(t, {migrations: true, schemaInAgent: false})
    const first = await initSchema({client, schemaDir, adminSocket: path.join(schemaDir, 'none.sock'), corrosionBinary: null})
    assert.equal(first.method, 'migrations')
    assert.equal(first.isNewTable, true)
    assert.equal(first.isFileWritten, true)
    assert.deepEqual(first.columns, ALL)
    assert.equal(first.isCrr, true)
    assert.equal(fs.readFileSync(path.join(schemaDir, BACKENDS_SCHEMA_FILE), 'utf8'), backendsTableDdl())
    assert.equal(ddlRequests(agent).length, 0, 'DDL never goes through /v1/transactions')

    const migrationsBefore = agent.requests.filter((r) => r.url === '/v1/migrations').length
    const mtime = fs.statSync(path.join(schemaDir, BACKENDS_SCHEMA_FILE)).mtimeMs
    const second = await initSchema({client, schemaDir, corrosionBinary: null})
    assert.equal(second.method, 'already-applied')
    assert.equal(second.isFileWritten, false)
    assert.deepEqual(second.addedColumns, [])
    assert.equal(agent.requests.filter((r) => r.url === '/v1/migrations').length, migrationsBefore)
    assert.equal(fs.statSync(path.join(schemaDir, BACKENDS_SCHEMA_FILE)).mtimeMs, mtime)
  })

  it('keeps a schema file that declares the same table with comments (as bootstrap writes it)', async (t) => {
    const {schemaDir, socket, client} = await setup(t)
    const withComments = `-- edgeproxy routing table\n${backendsTableDdl().replace('CREATE TABLE backends (', 'CREATE TABLE backends (  -- one row per backend')}`
    fs.writeFileSync(path.join(schemaDir, BACKENDS_SCHEMA_FILE), withComments)
    const r = await initSchema({client, schemaDir, adminSocket: socket, corrosionBinary: null})
    assert.equal(r.isFileWritten, false)
    assert.equal(r.method, 'admin-socket')
    assert.equal(fs.readFileSync(path.join(schemaDir, BACKENDS_SCHEMA_FILE), 'utf8'), withComments)
  })

  it('falls back to Reload over the admin socket when /v1/migrations is 404', async (t) => {
    const {schemaDir, socket, agent, client} = await setup(t)
    const r = await initSchema({client, schemaDir, adminSocket: socket, corrosionBinary: null})
    assert.equal(r.method, 'admin-socket')
    assert.deepEqual(r.attempts.map((a) => [a.method, a.outcome]), [
      ['migrations', 'unavailable'],
      ['admin-socket', 'applied'],
    ])
    assert.deepEqual(agent.rows("SELECT name FROM pragma_table_info('backends')").map((x) => x.name), ALL)
    assert.equal(ddlRequests(agent).length, 0)
  })

  it('runs `corrosion reload` when the socket is not reachable but the binary is', async (t) => {
    const {dir, schemaDir, socket, client} = await setup(t)
    const binary = path.join(dir, 'corrosion')
    fs.writeFileSync(
      binary,
      `#!${process.execPath}
const net = require('node:net')
const s = net.createConnection(${JSON.stringify(socket)})
s.on('connect', () => { const j = Buffer.from('"Reload"'); const h = Buffer.alloc(4); h.writeUInt32BE(j.length); s.write(Buffer.concat([h, j])) })
let b = Buffer.alloc(0)
s.on('data', (d) => { b = Buffer.concat([b, d]); while (b.length >= 4) { const n = b.readUInt32BE(0); if (b.length < 4 + n) return; const f = JSON.parse(b.subarray(4, 4 + n)); b = b.subarray(4 + n)
  if (f === 'Success') { s.end(); process.exit(0) } if (f.Error) { console.error('Error: ' + f.Error.msg); process.exit(1) } } })
`,
      {mode: 0o755},
    )
    const r = await initSchema({client, schemaDir, adminSocket: path.join(dir, 'elsewhere.sock'), corrosionBinary: binary})
    assert.equal(r.method, 'corrosion-reload')
    assert.deepEqual(r.columns, ALL)
  })

  it('only adds columns to an older backends table', async (t) => {
    const {schemaDir, socket, agent, client} = await setup(t, {})
    const older = `CREATE TABLE backends (\n${BACKEND_COLUMNS.slice(0, 6).map((c) => `    ${c.name} ${c.definition}`).join(',\n')}\n);\n`
    fs.writeFileSync(path.join(schemaDir, BACKENDS_SCHEMA_FILE), older)
    assert.equal(agent.reload().ok, true)
    agent.transact(["INSERT INTO backends (id, wg_ip, port) VALUES ('keep', '10.0.0.1', 80)"])
    const r = await initSchema({client, schemaDir, adminSocket: socket, corrosionBinary: null})
    assert.equal(r.isNewTable, false)
    assert.deepEqual(r.addedColumns, ALL.slice(6))
    assert.deepEqual(r.columns, ALL)
    assert.deepEqual(agent.rows("SELECT id, port, draining FROM backends"), [{id: 'keep', port: 80, draining: 0}], 'rows kept, new columns defaulted')
  })

  it('gives a table of the previous release the nullable registered_by: rows kept with NULL, then written by a register', async (t) => {
    const {schemaDir, socket, agent, client} = await setup(t, {})
    const previous = `CREATE TABLE backends (\n${BACKEND_COLUMNS.filter((c) => c.name !== 'registered_by').map((c) => `    ${c.name} ${c.definition}`).join(',\n')}\n);\n`
    fs.writeFileSync(path.join(schemaDir, BACKENDS_SCHEMA_FILE), previous)
    assert.equal(agent.reload().ok, true)
    agent.transact(["INSERT INTO backends (id, wg_ip, port, region) VALUES ('keep', '10.0.0.1', 80, 'eu')"])
    // Before the upgrade the agent refuses the unknown column, as the README says: nothing written.
    const store = new CorrosionBackendStore(client)
    const input = {id: 'keep', app: 'web', region: 'eu', country: 'DE', ip: '10.0.0.1', port: 80, weight: 2, softLimit: 100, hardLimit: 150, registeredBy: 'eu'}
    await assert.rejects(store.register(input, 1, 1000), /registered_by/)
    const r = await initSchema({client, schemaDir, adminSocket: socket, corrosionBinary: null})
    assert.deepEqual(r.addedColumns, ['registered_by'])
    assert.deepEqual(agent.rows('SELECT name, "notnull", dflt_value FROM pragma_table_info(?) WHERE name = ?', 'backends', 'registered_by'), [{name: 'registered_by', notnull: 0, dflt_value: null}])
    assert.deepEqual(agent.rows('SELECT id, port, registered_by FROM backends'), [{id: 'keep', port: 80, registered_by: null}], 'rows kept, NULL in the new column')
    await store.register(input, 2, 1000)
    assert.deepEqual(agent.rows('SELECT id, registered_by FROM backends'), [{id: 'keep', registered_by: 'eu'}])
    // The change is versioned for replication like any other column's (the emulator's triggers were reinstalled).
    assert.deepEqual(agent.rows("SELECT col FROM __corro_emu_clock WHERE tbl = 'backends' AND col = 'registered_by'"), [{col: 'registered_by'}])
  })

  it('refuses, before sending anything, a change Corrosion would refuse', async (t) => {
    const {schemaDir, socket, agent, client} = await setup(t, {migrations: true})
    const edited = backendsTableDdl().replace("region TEXT NOT NULL DEFAULT ''", "region TEXT NOT NULL DEFAULT 'sa'")
    fs.writeFileSync(path.join(schemaDir, BACKENDS_SCHEMA_FILE), edited)
    assert.equal(agent.reload().ok, true)
    await assert.rejects(initSchema({client, schemaDir, adminSocket: socket, corrosionBinary: null}), (e: unknown) => {
      assert.ok(e instanceof CorrosionSchemaError)
      assert.equal(e.code, 'EP_CORROSION_SCHEMA_REFUSED')
      assert.equal(e.exitCode, 3)
      assert.equal(e.rules[0], "won't change column without the destructive flag set (table: 'backends', column: 'region')")
      return true
    })
    assert.equal(fs.readFileSync(path.join(schemaDir, BACKENDS_SCHEMA_FILE), 'utf8'), edited, 'file untouched')
    assert.equal(agent.requests.filter((r) => r.url === '/v1/migrations').length, 0)
  })

  it('refuses a schema directory holding a file Corrosion would refuse, naming the file and the rule', async (t) => {
    const {schemaDir, socket, client} = await setup(t)
    fs.writeFileSync(path.join(schemaDir, 'extra.sql'), 'CREATE TABLE extra (id TEXT NOT NULL PRIMARY KEY, v TEXT NOT NULL);')
    await assert.rejects(
      initSchema({client, schemaDir, adminSocket: socket, corrosionBinary: null}),
      (e: unknown) => e instanceof CorrosionSchemaError && e.message.includes("not nullable column 'v' on table 'extra' needs a default value"),
    )
    fs.writeFileSync(path.join(schemaDir, 'extra.sql'), 'INSERT INTO extra VALUES (1);')
    await assert.rejects(
      initSchema({client, schemaDir, adminSocket: socket, corrosionBinary: null}),
      (e: unknown) => e instanceof CorrosionSchemaError && e.message.includes('extra.sql') && e.message.includes('unsupported command: INSERT INTO extra VALUES (1);'),
    )
  })

  it('refuses to adopt a backends table made outside the schema that does not match', async (t) => {
    const {schemaDir, socket, agent, client} = await setup(t)
    agent.transact(['CREATE TABLE backends (id TEXT NOT NULL PRIMARY KEY, app TEXT)'])
    await assert.rejects(
      initSchema({client, schemaDir, adminSocket: socket, corrosionBinary: null}),
      (e: unknown) => e instanceof CorrosionSchemaError && /^Corrosion would refuse the schema: existing schema for table 'backends' columns mismatched/.test(e.message),
    )
  })

  it('fails verification when the agent does not read --schema-dir', async (t) => {
    const {schemaDir, socket, client} = await setup(t, {schemaInAgent: false})
    await assert.rejects(initSchema({client, schemaDir, adminSocket: socket, corrosionBinary: null}), (e: unknown) => {
      const err = e as {code: string; exitCode: number; message: string; suggestion: string}
      assert.equal(err.code, 'EP_CORROSION_SCHEMA_MISMATCH')
      assert.equal(err.exitCode, 3)
      assert.match(err.message, /after admin-socket, table backends on http:\/\/127\.0\.0\.1:\d+ lacks column\(s\) id, app/)
      assert.match(err.suggestion, /db\.schema_paths/)
      return true
    })
  })

  it('says nothing could apply the file when no route exists', async (t) => {
    const {dir, schemaDir, client} = await setup(t)
    await assert.rejects(initSchema({client, schemaDir, adminSocket: path.join(dir, 'none.sock'), corrosionBinary: null}), (e: unknown) => {
      const err = e as {code: string; exitCode: number; message: string}
      assert.equal(err.code, 'EP_CORROSION_NO_RELOAD_PATH')
      assert.equal(err.exitCode, 4)
      assert.match(err.message, /migrations: POST \/v1\/migrations answered 404; admin-socket: cannot open .*none\.sock \(ENOENT\); corrosion-reload: no corrosion binary on PATH/)
      return true
    })
    assert.ok(fs.existsSync(path.join(schemaDir, BACKENDS_SCHEMA_FILE)), 'the file is written for the next agent start')
  })
})
