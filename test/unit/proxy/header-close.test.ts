// With PROXY protocol on, a client that connects and closes before sending its header (a load
// balancer's TCP check, a port scan) is released when it closes, not at the handshake timeout: it
// leaves the open connections at once and does not hold up a graceful stop. A real Engine on port 0.
import assert from 'node:assert/strict'
import net from 'node:net'
import path from 'node:path'
import {test} from 'node:test'

import {resolveStartConfig} from '../../../src/config/start-config.js'
import {Engine} from '../../../src/engine.js'
import {silentLogger} from '../../../src/log/logger.js'
import {waitUntil} from '../../support/backends.js'
import {tempDir} from '../../support/proxy-process.js'

test('a client that closes before its PROXY header is released at once, not at the handshake timeout', async (t) => {
  const tmp = tempDir()
  t.after(tmp.cleanup)
  const config = resolveStartConfig({}, {
    EDGEPROXY_LISTEN_ADDR: '127.0.0.1:0',
    EDGEPROXY_API_LISTEN_ADDR: '127.0.0.1:0',
    EDGEPROXY_DB_PATH: path.join(tmp.dir, 'routing.db'),
    EDGEPROXY_PROXY_PROTOCOL: 'true',
    // Far longer than the waits below: only the close can release these connections in time.
    EDGEPROXY_HANDSHAKE_TIMEOUT_SECS: '120',
    // This thread relays (engine.connections is its own table): on Node 24, auto would start workers.
    EDGEPROXY_WORKERS: '1',
  })
  const engine = await Engine.start(config, {logger: silentLogger, version: 'test'})
  t.after(() => engine.shutdown(0))
  const connect = async () => {
    const socket = net.connect({port: engine.tcpAddress!.port, host: '127.0.0.1'})
    await new Promise((resolve) => socket.once('connect', resolve))
    return socket
  }
  // A client that stays silent and open is counted (the control).
  const silent = await connect()
  await waitUntil(() => engine.connections.size === 1)
  // A TCP check: connect, then FIN without a byte.
  const check = await connect()
  await waitUntil(() => engine.connections.size === 2)
  check.end()
  await waitUntil(() => engine.connections.size === 1)
  // A scanner that closes abruptly.
  const scan = await connect()
  await waitUntil(() => engine.connections.size === 2)
  scan.destroy()
  await waitUntil(() => engine.connections.size === 1)
  silent.destroy()
  await waitUntil(() => engine.connections.size === 0)
  // Nothing left to hold a graceful stop: it ends without cutting anything.
  const stopped = await engine.shutdown(60_000)
  assert.equal(stopped.cut, 0)
})
