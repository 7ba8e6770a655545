// The emulator's cross-process replication (HttpClusterLink): changesets with every SQLite value
// type survive the HTTP hop, order is kept, and a peer that was down gets what it missed.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import {describe, it} from 'node:test'

import {decodeChangeset, encodeChangeset, HttpClusterLink} from '../../support/corrosion-emulator/http-link.js'
import {startEmulator} from '../../support/corrosion-emulator/index.js'
import {backendsSchemaDir} from '../../support/corrosion-emulator/targets.js'

describe('emulator: replication over HTTP between agents', () => {
  it('encodes bigints and blobs, which JSON cannot carry', () => {
    const column = (value: unknown) => ({value, version: 1, site: 'a'})
    const changeset = {
      origin: 'a',
      ts: 1,
      changes: [{table: 't', pk: '["x"]', cl: 1, site: 'a', columns: {n: column(9007199254740993n), b: column(Buffer.from([0, 255])), f: column(1.5), z: column(null)}}],
    }
    const back = decodeChangeset(encodeChangeset(changeset))
    assert.deepEqual(back, changeset)
    assert.equal(typeof back.changes[0]!.columns.n!.value, 'bigint')
  })

  it('two agents replicate in order; a peer down for a while catches up when it returns', async (t) => {
    const schemaDir = backendsSchemaDir()
    const a = await startEmulator({schemaPaths: [schemaDir]})
    const b = await startEmulator({schemaPaths: [schemaDir]})
    const linkA = await new HttpClusterLink(a, {listen: {host: '127.0.0.1', port: 0}, peers: [], retryMs: 20}).start()
    let linkB = await new HttpClusterLink(b, {listen: {host: '127.0.0.1', port: 0}, peers: [], retryMs: 20}).start()
    const bPort = linkB.address.port
    linkA.addPeer(`http://127.0.0.1:${bPort}`)
    linkB.addPeer(`http://127.0.0.1:${linkA.address.port}`)
    t.after(async () => {
      await linkA.close()
      await linkB.close()
      await a.close()
      await b.close()
      fs.rmSync(schemaDir, {recursive: true, force: true})
    })

    a.transact([['INSERT INTO backends (id, port) VALUES (?, ?)', ['h1', 80]]])
    a.transact([['UPDATE backends SET port = ? WHERE id = ?', [81, 'h1']]])
    await linkA.delivered()
    assert.deepEqual(b.rows('SELECT id, port FROM backends'), [{id: 'h1', port: 81}], 'the later write wins: order kept')

    b.transact([['INSERT INTO backends (id, port) VALUES (?, ?)', ['h2', 90]]])
    await linkB.delivered()
    assert.deepEqual(a.rows('SELECT id FROM backends ORDER BY id').map((r) => r.id), ['h1', 'h2'], 'both ways')

    await linkB.close()
    a.transact([['INSERT INTO backends (id, port) VALUES (?, ?)', ['h3', 82]]])
    const caughtUp = linkA.delivered()
    let isDelivered = false
    void caughtUp.then(() => (isDelivered = true))
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(isDelivered, false, 'nothing delivered while the peer is down')
    assert.equal(linkA.members().filter((m) => m.isAlive).length, 0)
    linkB = await new HttpClusterLink(b, {listen: {host: '127.0.0.1', port: bPort}, peers: [], retryMs: 20}).start()
    await caughtUp
    assert.deepEqual(b.rows('SELECT id FROM backends ORDER BY id').map((r) => r.id), ['h1', 'h2', 'h3'])
    assert.equal(linkA.members().filter((m) => m.isAlive).length, 1)
  })
})
