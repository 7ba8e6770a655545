// The admin Unix socket client against the emulator's socket and a byte-dribbling fake, plus
// `corrosion reload` through a stand-in binary on PATH.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {adminCommand, classifyReloadFailure, decodeFrames, encodeFrame, findCorrosionBinary, pingAdmin, reloadSchema, runCorrosionReload} from '../../../src/corrosion/admin.js'
import {CorrosionAdminError, CorrosionReloadError} from '../../../src/corrosion/errors.js'
import {backendsTableDdl} from '../../../src/store/schema.js'
import {startEmulator, type EmulatorAgent} from '../../support/corrosion-emulator/index.js'

describe('admin socket frames', () => {
  it('prefixes JSON with its u32 big-endian byte length and reads several frames and a partial one', () => {
    const frame = encodeFrame('Reload')
    assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 0, 8])
    assert.equal(frame.subarray(4).toString(), '"Reload"')
    const two = Buffer.concat([encodeFrame({Log: {level: 'info', msg: 'é'}}), encodeFrame('Success'), encodeFrame('Ping').subarray(0, 6)])
    const {frames, rest} = decodeFrames(two)
    assert.deepEqual(frames, [{Log: {level: 'info', msg: 'é'}}, 'Success'])
    assert.equal(rest.length, 6)
  })
})

describe('admin socket against the emulated agent', () => {
  let dir: string
  let agent: EmulatorAgent
  let socket: string

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corro-admin-'))
    fs.mkdirSync(path.join(dir, 'schema'))
    socket = path.join(dir, 'admin.sock')
    agent = await startEmulator({schemaPaths: [path.join(dir, 'schema')], adminSocket: socket})
  })
  after(async () => {
    await agent.close()
    fs.rmSync(dir, {recursive: true, force: true})
  })

  it('answers Ping with Success', async () => {
    assert.deepEqual(await pingAdmin(socket), {logs: []})
  })

  it('reloads the schema files, reading Log frames until Success', async () => {
    fs.writeFileSync(path.join(dir, 'schema', 'backends.sql'), backendsTableDdl())
    const result = await reloadSchema(socket)
    assert.deepEqual(result.logs.map((l) => l.msg), ['reloading schema from configured paths...', 'schema reload finished'])
    // corro-admin LogLevel is #[serde(rename_all = "snake_case")]
    assert.deepEqual(result.logs.map((l) => l.level), ['info', 'info'])
    assert.equal(agent.rows("SELECT name FROM sqlite_master WHERE name = 'backends__crsql_clock'").length, 1)
  })

  it('turns {"Error":{"msg":…}} into CorrosionReloadError with the agent text', async () => {
    fs.writeFileSync(path.join(dir, 'schema', 'zz-bad.sql'), 'CREATE TABLE bad (id TEXT PRIMARY KEY);')
    try {
      await assert.rejects(
        reloadSchema(socket),
        (e: unknown) =>
          e instanceof CorrosionReloadError &&
          e.agentMessage === 'Table bad has no primary key or primary key is nullable. CRRs must have a non nullable primary key' &&
          e.code === 'EP_CORROSION_RELOAD_FAILED' &&
          e.exitCode === 3,
      )
    } finally {
      fs.rmSync(path.join(dir, 'schema', 'zz-bad.sql'))
    }
  })

  it('says which socket it cannot open', async () => {
    const missing = path.join(dir, 'missing.sock')
    await assert.rejects(pingAdmin(missing), (e: unknown) => e instanceof CorrosionAdminError && e.message.includes(missing) && e.message.includes('ENOENT') && e.exitCode === 4)
  })
})

describe('admin socket framing over a dribbling peer', () => {
  let dir: string
  let server: net.Server
  let mode: 'dribble' | 'hang-up' = 'dribble'

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corro-admin-'))
    server = net.createServer((s) => {
      s.once('data', () => {
        if (mode === 'hang-up') return void s.end()
        const bytes = Buffer.concat([encodeFrame({Log: {level: 'info', msg: 'one'}}), encodeFrame({Log: {level: 'warn', msg: 'two'}}), encodeFrame('Success')])
        let i = 0
        const tick = () => {
          if (i >= bytes.length) return
          s.write(bytes.subarray(i, i + 3))
          i += 3
          setImmediate(tick)
        }
        tick()
      })
    })
    await new Promise<void>((r) => server.listen(path.join(dir, 'a.sock'), () => r()))
  })
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()))
    fs.rmSync(dir, {recursive: true, force: true})
  })

  it('reassembles frames split across reads', async () => {
    const result = await adminCommand(path.join(dir, 'a.sock'), 'Reload')
    assert.deepEqual(result.logs, [
      {level: 'info', msg: 'one'},
      {level: 'warn', msg: 'two'},
    ])
  })

  it('fails when the socket closes before the final frame', async () => {
    mode = 'hang-up'
    await assert.rejects(adminCommand(path.join(dir, 'a.sock'), 'Reload'), (e: unknown) => e instanceof CorrosionAdminError && /closed before answering Reload/.test(e.message))
  })
})

describe('corrosion reload through the binary on PATH', () => {
  let dir: string
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corro-bin-'))
    fs.mkdirSync(path.join(dir, 'ok'))
    fs.mkdirSync(path.join(dir, 'fail'))
    fs.writeFileSync(path.join(dir, 'ok', 'corrosion'), `#!/bin/sh\necho "$@" > "${path.join(dir, 'args')}"\necho "INFO Successfully reloaded Corrosion's schema from configured paths!"\n`, {mode: 0o755})
    // As the real binary (HEAD): tracing lines on stdout, the error's Display on stderr, exit 1.
    fs.writeFileSync(
      path.join(dir, 'fail', 'corrosion'),
      '#!/bin/sh\necho " INFO corrosion::admin: reloading schema from configured paths... ts=2026-01-01 0:00:00.0 +00:00:00"\necho "ERROR corrosion::admin: boom"\necho "ERROR corrosion::command::reload: Failed to reload schema: boom"\necho "Failed to reload schema: boom" >&2\nexit 1\n',
      {mode: 0o755},
    )
    fs.mkdirSync(path.join(dir, 'nosock'))
    fs.writeFileSync(path.join(dir, 'nosock', 'corrosion'), '#!/bin/sh\necho "No such file or directory (os error 2)" >&2\nexit 1\n', {mode: 0o755})
  })
  after(() => fs.rmSync(dir, {recursive: true, force: true}))

  it('finds the first executable corrosion on PATH', () => {
    assert.equal(findCorrosionBinary([path.join(dir, 'none'), path.join(dir, 'ok'), path.join(dir, 'fail')].join(path.delimiter)), path.join(dir, 'ok', 'corrosion'))
    assert.equal(findCorrosionBinary(path.join(dir, 'none')), undefined)
  })

  it('passes --admin-path before the subcommand', async () => {
    await runCorrosionReload({binary: path.join(dir, 'ok', 'corrosion'), adminPath: '/run/c/admin.sock'})
    assert.equal(fs.readFileSync(path.join(dir, 'args'), 'utf8').trim(), '--admin-path /run/c/admin.sock reload')
  })

  it('maps a refused reload to CorrosionReloadError with the agent text', async () => {
    await assert.rejects(runCorrosionReload({binary: path.join(dir, 'fail', 'corrosion')}), (e: unknown) => e instanceof CorrosionReloadError && e.agentMessage === 'boom')
  })

  it('maps an admin socket the binary cannot open to CorrosionAdminError, not a schema refusal', async () => {
    await assert.rejects(
      runCorrosionReload({binary: path.join(dir, 'nosock', 'corrosion'), adminPath: '/nope/admin.sock'}),
      (e: unknown) => e instanceof CorrosionAdminError && /No such file or directory \(os error 2\)/.test(e.message) && e.exitCode === 4,
    )
  })

  it('reads the failure texts of every corrosion version', () => {
    assert.deepEqual(classifyReloadFailure('Failed to reload schema: unique indexes are not supported: i\n'), {kind: 'refused', message: 'unique indexes are not supported: i'})
    // v1.0.0 prints the agent message bare
    assert.deepEqual(classifyReloadFailure('unique indexes are not supported: i\n'), {kind: 'refused', message: 'unique indexes are not supported: i'})
    assert.deepEqual(classifyReloadFailure('Connection refused (os error 111)\n'), {kind: 'unreachable', message: 'Connection refused (os error 111)'})
    assert.deepEqual(classifyReloadFailure("Failed to reload schema: Failed to get response from Corrosion's admin!\n").kind, 'unreachable')
  })
})
