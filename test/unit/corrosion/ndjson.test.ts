import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {CorrosionProtocolError} from '../../../src/corrosion/errors.js'
import {parseQueryEvent, readNdjson, type QueryEvent} from '../../../src/corrosion/ndjson.js'

async function* chunks(parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p
}

async function collect(parts: Uint8Array[]): Promise<QueryEvent[]> {
  const out: QueryEvent[] = []
  for await (const e of readNdjson(chunks(parts))) out.push(e)
  return out
}

const BODY =
  '{"columns":["id","name"]}\n' +
  '{"row":[1,["a","café ☕"]]}\n' +
  '\n' +
  '{"eoq":{"time":0.001,"change_id":0}}\n' +
  '{"change":["update",1,["a","ü"],1]}\n' +
  '{"error":"boom"}\n' +
  '{"notify":["update",["a"]]}\n'

describe('readNdjson', () => {
  it('gives the same events for every split point, multi-byte characters included', async () => {
    const bytes = Buffer.from(BODY, 'utf8')
    const whole = await collect([bytes])
    assert.equal(whole.length, 6)
    for (let cut = 1; cut < bytes.length; cut++) {
      const split = await collect([bytes.subarray(0, cut), bytes.subarray(cut)])
      assert.deepEqual(split, whole, `split at byte ${cut}`)
    }
    const byteByByte = await collect([...bytes].map((b) => Uint8Array.of(b)))
    assert.deepEqual(byteByByte, whole)
  })

  it('dispatches every event on its single key', async () => {
    const events = await collect([Buffer.from(BODY)])
    assert.deepEqual(events, [
      {type: 'columns', columns: ['id', 'name']},
      {type: 'row', rowid: 1, cells: ['a', 'café ☕']},
      {type: 'eoq', time: 0.001, changeId: 0},
      {type: 'change', changeType: 'update', rowid: 1, cells: ['a', 'ü'], changeId: 1},
      {type: 'error', message: 'boom'},
      {type: 'notify', changeType: 'update', pk: ['a']},
    ])
  })

  it('parses a last line that has no newline, and skips blank lines', async () => {
    const events = await collect([Buffer.from('\n\n{"eoq":{"time":0}}')])
    assert.deepEqual(events, [{type: 'eoq', time: 0}])
  })

  it('keeps blobs as byte arrays and eoq without change_id for queries', () => {
    assert.deepEqual(parseQueryEvent('{"row":[3,[[0,255],null,1.5]]}'), {type: 'row', rowid: 3, cells: [[0, 255], null, 1.5]})
    assert.deepEqual(parseQueryEvent('{"eoq":{"time":1e-5}}'), {type: 'eoq', time: 1e-5})
  })

  it('refuses what is not a Corrosion event', () => {
    for (const line of ['not json', '[1]', '{"a":1,"b":2}', '{"unknown":1}', '{"change":["upsert",1,[],1]}', '{"row":[1]}']) {
      assert.throws(() => parseQueryEvent(line), CorrosionProtocolError, line)
    }
  })
})
