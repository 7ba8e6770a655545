// GET /health's answer from a real Engine: 200 ok with a table; 503 when no routing table was ever
// loaded (a feed that has not synced once: the POP cannot route at all); 503 `draining` during a
// graceful stop while the API still answers. The feed here is a stand-in for a store that never
// delivered a table, which the real feeds only reach before start() returns.
import assert from 'node:assert/strict'
import net from 'node:net'
import path from 'node:path'
import {test} from 'node:test'

import type {Backend} from '../../../src/balancer/backend.js'
import {resolveStartConfig} from '../../../src/config/start-config.js'
import {Engine} from '../../../src/engine.js'
import {silentLogger} from '../../../src/log/logger.js'
import type {FeedStatus, RoutingFeed} from '../../../src/store/routing-feed.js'
import {SqliteBackendStore} from '../../../src/store/sqlite-backend-store.js'
import {tempDir} from '../../support/proxy-process.js'

class NeverSyncedFeed implements RoutingFeed {
  readonly kind = 'sqlite' as const
  describe(): string {
    return 'sqlite:never'
  }
  async start(): Promise<Backend[]> {
    return []
  }
  refresh(): void {}
  status(): FeedStatus {
    return {kind: 'sqlite', target: this.describe(), isCurrent: false, lastSyncAtMs: 0, error: 'no table yet'}
  }
  close(): void {}
}

const config = (dbPath: string, env: Record<string, string> = {}) =>
  resolveStartConfig({}, {EDGEPROXY_LISTEN_ADDR: '127.0.0.1:0', EDGEPROXY_API_LISTEN_ADDR: '127.0.0.1:0', EDGEPROXY_DB_PATH: dbPath, ...env})

async function health(engine: Engine): Promise<{status: number; body: Record<string, unknown>}> {
  const res = await fetch(`http://127.0.0.1:${engine.apiAddress!.port}/health`)
  return {status: res.status, body: (await res.json()) as Record<string, unknown>}
}

test('/health is 503 while no routing table was ever loaded', async (t) => {
  const tmp = tempDir()
  t.after(tmp.cleanup)
  const dbPath = path.join(tmp.dir, 'routing.db')
  const writer = SqliteBackendStore.open(dbPath, {create: true})
  const engine = await Engine.start(config(dbPath), {logger: silentLogger, version: 'test', stores: {feed: new NeverSyncedFeed(), writer}})
  t.after(() => engine.shutdown(0))
  const reply = await health(engine)
  assert.equal(reply.status, 503)
  assert.equal(reply.body.status, 'degraded')
  assert.ok((reply.body.degraded_reasons as string[]).some((r) => /no routing table loaded yet/.test(r)))
})

test('/health is 200 ok with a table, then 503 draining during a graceful stop while the API keeps answering', async (t) => {
  const tmp = tempDir()
  t.after(tmp.cleanup)
  // PROXY protocol on: a client that has not sent its header yet stays open, holding the drain.
  const engine = await Engine.start(config(path.join(tmp.dir, 'routing.db'), {EDGEPROXY_PROXY_PROTOCOL: 'true'}), {logger: silentLogger, version: 'test'})
  const ok = await health(engine)
  assert.deepEqual([ok.status, ok.body.status], [200, 'ok'])
  const client = net.connect({port: engine.tcpAddress!.port, host: '127.0.0.1'})
  await new Promise((resolve) => client.once('connect', resolve))
  await new Promise((resolve) => setImmediate(resolve))
  const stopped = engine.shutdown(5000)
  const draining = await health(engine)
  assert.deepEqual([draining.status, draining.body.status], [503, 'draining'])
  const list = await fetch(`http://127.0.0.1:${engine.apiAddress!.port}/api/v1/backends`)
  assert.equal(list.status, 200, 'backend list still works during the drain')
  client.destroy()
  await stopped
  await assert.rejects(fetch(`http://127.0.0.1:${engine.apiAddress!.port}/health`), 'closed once the drain is over')
})
