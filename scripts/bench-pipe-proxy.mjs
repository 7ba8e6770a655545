#!/usr/bin/env node
// The benchmark's baseline: the plainest correct Node TCP proxy (socket.pipe both ways, errors
// handled, half-close passed on). Usage: node scripts/bench-pipe-proxy.mjs LISTEN_PORT BACKEND_PORT
import net from 'node:net'

const [listenPort, backendPort] = process.argv.slice(2).map(Number)
net
  .createServer({allowHalfOpen: true, noDelay: true}, (client) => {
    const backend = net.connect({port: backendPort, host: '127.0.0.1', allowHalfOpen: true, noDelay: true})
    client.pipe(backend)
    backend.pipe(client)
    client.on('error', () => backend.destroy())
    backend.on('error', () => client.destroy())
    client.on('close', () => backend.destroy())
    backend.on('close', () => client.destroy())
  })
  .listen(listenPort, '127.0.0.1')
