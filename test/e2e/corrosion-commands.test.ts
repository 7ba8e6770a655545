// `edgeproxy corrosion init-schema | status` as an operator runs them: the built CLI (bin/run.js,
// run `npm run build` first) against emulated agents, checking exit codes, --json output and files.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {BACKEND_COLUMNS, backendsTableDdl} from '../../src/store/schema.js'
import {startEmulator, type EmulatorAgent} from '../support/corrosion-emulator/index.js'
import {runCli, tempDir} from '../support/proxy-process.js'

const TOKEN = 'e2e-secret-token'

describe('edgeproxy corrosion init-schema and status', () => {
  let tmp: {dir: string; cleanup: () => void}
  let schemaDir: string
  let socket: string
  let agent: EmulatorAgent

  before(async () => {
    tmp = tempDir('edgeproxy-corrosion-')
    schemaDir = path.join(tmp.dir, 'schema')
    fs.mkdirSync(schemaDir)
    socket = path.join(tmp.dir, 'admin.sock')
    agent = await startEmulator({schemaPaths: [schemaDir], adminSocket: socket, token: TOKEN})
  })
  after(async () => {
    await agent.close()
    tmp.cleanup()
  })

  // A lone agent: no other member to see (the default --min-members 1 is checked in its own case).
  const env = (extra: Record<string, string> = {}) => ({EDGEPROXY_CORROSION_API_URL: agent.url, EDGEPROXY_CORROSION_TOKEN: TOKEN, EDGEPROXY_CORROSION_MIN_MEMBERS: '0', PATH: '/usr/bin:/bin', ...extra})

  it('status fails with exit 3 before the schema exists', async () => {
    const r = await runCli(['corrosion', 'status', '--json'], {env: env()})
    assert.equal(r.code, 3, r.stderr)
    const {error} = JSON.parse(r.stdout)
    assert.equal(error.code, 'EP_CORROSION_SCHEMA_MISMATCH')
    assert.equal(error.exit, 3)
    assert.match(error.suggestion, /init-schema/)
    const out = error.status
    assert.equal(out.reachable, true)
    assert.equal(out.auth, 'accepted')
    assert.equal(out.health.state, 'idle')
    assert.equal(out.schema.present, false)
    assert.equal(out.healthy, false)
    const human = await runCli(['corrosion', 'status'], {env: env()})
    assert.equal(human.code, 3)
    assert.match(human.stdout, /^schema +no backends table$/m)
    assert.match(human.stderr, /^Error: Corrosion at .* is not healthy:\n {2}- table backends does not exist/m)
    assert.match(human.stderr, /^Code: EP_CORROSION_SCHEMA_MISMATCH\nTry this: /m)
  })

  it('init-schema writes the file, reloads over the admin socket and verifies; a second run changes nothing', async () => {
    const r = await runCli(['corrosion', 'init-schema', '--schema-dir', schemaDir, '--admin-socket', socket, '--json'], {env: env()})
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.method, 'admin-socket')
    assert.equal(out.crr, true)
    assert.equal(out.file_written, true)
    assert.equal(out.file, path.join(schemaDir, 'backends.sql'))
    assert.equal(fs.readFileSync(out.file, 'utf8'), backendsTableDdl())
    assert.equal(fs.readdirSync(schemaDir).filter((f) => f.includes('.tmp')).length, 0, 'no temporary file left')
    assert.equal(agent.requests.filter((q) => q.url.startsWith('/v1/transactions')).length, 0, 'no DDL through /v1/transactions')

    const again = await runCli(['corrosion', 'init-schema', '--schema-dir', schemaDir, '--admin-socket', socket], {env: env()})
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, new RegExp(`backends is up to date on http://127\\.0\\.0\\.1:\\d+ \\(${BACKEND_COLUMNS.length} columns, replicated\\)`))
  })

  it('status is healthy (exit 0) on an idle agent with the schema, and counts the backends', async () => {
    agent.transact(["INSERT INTO backends (id, wg_ip, port) VALUES ('b1', '10.0.0.1', 80)"])
    // A lone agent sees no other member: by default (1) that is an agent cut off from its cluster.
    const {EDGEPROXY_CORROSION_MIN_MEMBERS: _, ...byDefault} = env()
    const alone = await runCli(['corrosion', 'status', '--json'], {env: byDefault})
    assert.equal(alone.code, 4, alone.stderr)
    const {error} = JSON.parse(alone.stdout) as {error: {code: string; message: string; status: {members: number; min_members: number}}}
    assert.deepEqual([error.code, error.status.members, error.status.min_members], ['EP_CORROSION_UNHEALTHY', 0, 1])
    assert.match(error.message, /sees 0 other member\(s\) alive, fewer than 1: it is cut off from its cluster/)
    const r = await runCli(['corrosion', 'status', '--json', '--min-members', '0'], {env: byDefault})
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.healthy, true)
    assert.deepEqual(out.backends, {row_count: 1})
    const human = await runCli(['corrosion', 'status'], {env: env()})
    assert.equal(human.code, 0)
    assert.match(human.stdout, /idle \(no replication in the last 120 s\)/)
    assert.match(human.stdout, /Corrosion is healthy/)
  })

  it('a wrong token exits 3 and the token never appears in the output', async () => {
    const r = await runCli(['corrosion', 'status', '--json'], {env: env({EDGEPROXY_CORROSION_TOKEN: 'wrong-token-value'})})
    assert.equal(r.code, 3)
    assert.equal(JSON.parse(r.stdout).error.code, 'EP_CORROSION_AUTH')
    assert.equal(JSON.parse(r.stdout).error.status.auth, 'refused')
    const init = await runCli(['corrosion', 'init-schema', '--schema-dir', schemaDir, '--json'], {env: env({EDGEPROXY_CORROSION_TOKEN: 'wrong-token-value'})})
    assert.equal(init.code, 3)
    assert.equal(JSON.parse(init.stdout).error.code, 'EP_CORROSION_AUTH')
    for (const text of [r.stdout, r.stderr, init.stdout, init.stderr]) assert.doesNotMatch(text, /wrong-token-value|e2e-secret-token/)
  })

  it('init-schema refuses a schema directory the agent would refuse, naming the rule (exit 3)', async () => {
    const bad = path.join(schemaDir, 'zz-extra.sql')
    fs.writeFileSync(bad, 'CREATE TABLE extra (id TEXT NOT NULL PRIMARY KEY, email TEXT UNIQUE);')
    try {
      const r = await runCli(['corrosion', 'init-schema', '--schema-dir', schemaDir, '--admin-socket', socket], {env: env()})
      assert.equal(r.code, 3)
      assert.match(r.stderr, /Table extra has unique indices besidesthe primary key\. This is not allowed for CRRs/)
      assert.match(r.stderr, /Code: EP_CORROSION_SCHEMA_REFUSED/)
    } finally {
      fs.rmSync(bad)
    }
  })

  it('exits 4 with EP_CORROSION_UNAVAILABLE naming --api-url when no agent listens', async () => {
    const r = await runCli(['corrosion', 'init-schema', '--schema-dir', schemaDir, '--api-url', 'http://127.0.0.1:9', '--json'], {env: env()})
    assert.equal(r.code, 4)
    assert.deepEqual(JSON.parse(r.stdout).error, {
      code: 'EP_CORROSION_UNAVAILABLE',
      message: 'cannot reach Corrosion at http://127.0.0.1:9',
      suggestion: 'start the agent (systemctl start corrosion) or pass --api-url',
      exit: 4,
    })
    const s = await runCli(['corrosion', 'status', '--api-url', 'http://127.0.0.1:9', '--json'], {env: env()})
    assert.equal(s.code, 4)
    assert.equal(JSON.parse(s.stdout).error.code, 'EP_CORROSION_UNAVAILABLE')
    assert.equal(JSON.parse(s.stdout).error.status.reachable, false)
  })
})

describe('edgeproxy corrosion init-schema on an agent that still has /v1/migrations', () => {
  it('applies through POST /v1/migrations', async (t) => {
    const tmp = tempDir('edgeproxy-corrosion-')
    const agent = await startEmulator({migrations: true})
    t.after(async () => {
      await agent.close()
      tmp.cleanup()
    })
    const r = await runCli(['corrosion', 'init-schema', '--schema-dir', path.join(tmp.dir, 'schema'), '--api-url', agent.url, '--admin-socket', path.join(tmp.dir, 'none.sock')], {
      env: {PATH: '/usr/bin:/bin'},
    })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`created backends on http://127\\.0\\.0\\.1:\\d+ via migrations \\(${BACKEND_COLUMNS.length} columns, replicated\\)`))
    assert.equal(agent.requests.filter((q) => q.url === '/v1/migrations').length, 1)
    assert.ok(fs.existsSync(path.join(tmp.dir, 'schema', 'backends.sql')))
  })
})
