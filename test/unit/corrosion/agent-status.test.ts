// corrosion status' verdict against the emulator: idle is healthy, unreachable / unauthorized /
// unhealthy / missing schema are not, each with its exit code.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import {describe, it} from 'node:test'

import {corrosionStatus} from '../../../src/corrosion/agent-status.js'
import {CorrosionClient} from '../../../src/corrosion/client.js'
import {startEmulator} from '../../support/corrosion-emulator/index.js'
import {backendsSchemaDir} from '../../support/corrosion-emulator/targets.js'

describe('corrosionStatus', () => {
  it('calls a quiet agent with the schema healthy (idle, not down)', async (t) => {
    const dir = backendsSchemaDir()
    const agent = await startEmulator({schemaPaths: [dir], token: 'tok'})
    const client = new CorrosionClient({url: agent.url, token: 'tok'})
    t.after(async () => {
      await client.close()
      await agent.close()
      fs.rmSync(dir, {recursive: true, force: true})
    })
    agent.transact(["INSERT INTO backends (id, wg_ip, port) VALUES ('a', '10.0.0.1', 80)"])
    const s = await corrosionStatus(client)
    assert.equal(s.isHealthy, true)
    assert.equal(s.exitCode, 0)
    assert.equal(s.auth, 'accepted')
    assert.equal(s.health!.state, 'idle')
    assert.equal(s.members, 0, "an idle /v1/health leaves members out: read from the agent's own tables")
    assert.deepEqual(s.backends, {rowCount: 1})
    assert.deepEqual(s.schema, {isPresent: true, isCrr: true, missingColumns: [], extraColumns: []})
    assert.deepEqual(s.problems, [])

    const isolated = await corrosionStatus(client, {}, {minMembers: 1})
    assert.deepEqual([isolated.isHealthy, isolated.exitCode, isolated.members, isolated.minMembers], [false, 4, 0, 1])
    assert.match(isolated.problems.join('\n'), /sees 0 other member\(s\) alive, fewer than 1: it is cut off from its cluster/)
    agent.setMembers(2)
    assert.deepEqual((await corrosionStatus(client, {}, {minMembers: 1})).problems, [])
    agent.setMembers(undefined)

    agent.recordLag(0.01)
    agent.gaps = 3
    const unhealthy = await corrosionStatus(client, {gaps: 0})
    assert.equal(unhealthy.health!.state, 'unhealthy')
    assert.equal(unhealthy.gaps, 3)
    assert.equal(unhealthy.members, 0)
    assert.equal(unhealthy.exitCode, 4)
  })

  it('reports a refused token (exit 3), a missing table (exit 3) and an unreachable agent (exit 4)', async (t) => {
    const agent = await startEmulator({token: 'tok'})
    const wrong = new CorrosionClient({url: agent.url, token: 'nope'})
    const right = new CorrosionClient({url: agent.url, token: 'tok'})
    t.after(async () => {
      await wrong.close()
      await right.close()
      await agent.close()
    })
    const refused = await corrosionStatus(wrong)
    assert.deepEqual([refused.isReachable, refused.auth, refused.exitCode, refused.isHealthy], [true, 'refused', 3, false])
    const noTable = await corrosionStatus(right)
    assert.equal(noTable.exitCode, 3)
    assert.equal(noTable.schema.isPresent, false)
    assert.match(noTable.problems.join('\n'), /table backends does not exist \(run edgeproxy corrosion init-schema\)/)
    const url = agent.url
    await agent.stop()
    const down = await corrosionStatus(right)
    assert.deepEqual([down.isReachable, down.exitCode], [false, 4])
    assert.deepEqual(down.problems, [`cannot reach Corrosion at ${url}`])
  })
})
