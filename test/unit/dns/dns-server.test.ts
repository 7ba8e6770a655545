// DnsServer and DnsService on real sockets (port 0), with a real Router: TCP framing byte by byte,
// the idle timeout, the connection cap, bind errors naming the setting, and the service's table
// following the router's snapshot.
import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import {once} from 'node:events'
import net from 'node:net'
import {after, describe, test} from 'node:test'

import {Router} from '../../../src/balancer/router.js'
import {DnsCounters} from '../../../src/dns/dns-counters.js'
import {DnsServer} from '../../../src/dns/dns-server.js'
import {DnsService} from '../../../src/dns/dns-service.js'
import {DNS_LISTEN_SETTING, parseDnsDomain, parseDnsListen} from '../../../src/dns/settings.js'
import {isEdgeproxyError} from '../../../src/errors.js'
import {createLogger} from '../../../src/log/logger.js'
import {makeBackend} from '../../support/backend-fixture.js'
import {encodeQuery, frame, resolveError, resolver, tcpExchange, udpExchange} from '../../support/dns.js'

const logger = createLogger({write: () => {}})
const echo = (message: Buffer) => Buffer.from(message)

async function server(options: Partial<ConstructorParameters<typeof DnsServer>[0]> = {}) {
  const s = new DnsServer({handle: echo, logger, setting: DNS_LISTEN_SETTING, ...options})
  const [bound] = await s.listen([{host: '127.0.0.1', port: 0}])
  return {s, port: bound.port}
}

describe('DnsServer sockets', () => {
  const open: DnsServer[] = []
  after(() => open.forEach((s) => s.close()))

  test('UDP and TCP share the port; a frame trickled one byte at a time is answered once whole', async () => {
    const {s, port} = await server()
    open.push(s)
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    const message = Buffer.from('0123456789abcdefghij')
    const framed = frame(message)
    let received = Buffer.alloc(0)
    socket.on('data', (c: Buffer) => (received = Buffer.concat([received, c])))
    for (const byte of framed) {
      socket.write(Buffer.from([byte]))
      await new Promise((resolve) => setImmediate(resolve))
    }
    while (received.length < framed.length) await once(socket, 'data')
    assert.deepEqual(received, framed)
    socket.destroy()
    const udp = dgram.createSocket('udp4')
    udp.send(message, port, '127.0.0.1')
    const [reply] = (await once(udp, 'message')) as [Buffer]
    assert.deepEqual(reply, message)
    udp.close()
  })

  test('an idle TCP connection is closed after the idle timeout', async () => {
    const {s, port} = await server({idleTimeoutMs: 150})
    open.push(s)
    const socket = net.connect(port, '127.0.0.1')
    socket.write(Buffer.from([0x00])) // half a length prefix, then silence
    const started = Date.now()
    await once(socket, 'close')
    assert.ok(Date.now() - started >= 100)
    assert.equal(s.stats.tcpIdleClosed, 1)
  })

  test('connections beyond the cap are closed at once; the others are served', async () => {
    const {s, port} = await server({maxTcpConnections: 2})
    open.push(s)
    const held = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')]
    await Promise.all(held.map((c) => once(c, 'connect')))
    while (s.openConnections < 2) await new Promise((resolve) => setImmediate(resolve))
    const extra = net.connect(port, '127.0.0.1')
    extra.on('error', () => {})
    await once(extra, 'close')
    assert.equal(s.stats.tcpRefused, 1)
    held[0].write(frame(Buffer.from('ping')))
    const [data] = (await once(held[0], 'data')) as [Buffer]
    assert.equal(data.subarray(2).toString(), 'ping')
    held.forEach((c) => c.destroy())
  })

  test('a handler that throws costs one message, not the server', async () => {
    let calls = 0
    const {s, port} = await server({
      handle: (m) => {
        calls++
        if (m.toString() === 'boom') throw new Error('boom')
        return echo(m)
      },
    })
    open.push(s)
    const udp = dgram.createSocket('udp4')
    udp.send(Buffer.from('boom'), port, '127.0.0.1')
    udp.send(Buffer.from('fine'), port, '127.0.0.1')
    const [reply] = (await once(udp, 'message')) as [Buffer]
    assert.equal(reply.toString(), 'fine')
    assert.equal(calls, 2)
    udp.close()
  })

  test('a taken port fails with EP_LISTEN_FAILED naming the setting', async () => {
    const taken = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', resolve))
    const s = new DnsServer({handle: echo, logger, setting: DNS_LISTEN_SETTING})
    await assert.rejects(s.listen([{host: '127.0.0.1', port: taken.address().port}]), (error: unknown) => {
      assert.ok(isEdgeproxyError(error))
      assert.equal(error.code, 'EP_LISTEN_FAILED')
      assert.match(error.message, /in use/)
      assert.match(error.suggestion ?? '', /EDGEPROXY_DNS_LISTEN_ADDR/)
      return true
    })
    taken.close()
  })
})

describe('DNS settings', () => {
  test('listen: a comma list of IP literals, IPv6 in brackets; no wildcard, no host names, no duplicates', () => {
    assert.deepEqual(parseDnsListen('127.0.0.1:5353, [fd00::3]:53'), [
      {host: '127.0.0.1', port: 5353},
      {host: 'fd00::3', port: 53},
    ])
    assert.throws(() => parseDnsListen('0.0.0.0:5353'), /wildcard/)
    assert.throws(() => parseDnsListen('[::]:5353'), /wildcard/)
    assert.throws(() => parseDnsListen('localhost:5353'), /not an IP address literal/)
    assert.throws(() => parseDnsListen('127.0.0.1:53,127.0.0.1:53'), /twice/)
    assert.throws(() => parseDnsListen(''), /no address/)
  })

  test('domain: lower-cased, trailing dot dropped, never the root', () => {
    assert.equal(parseDnsDomain('Edge.Internal.'), 'edge.internal')
    assert.throws(() => parseDnsDomain('.'), /root/)
    assert.throws(() => parseDnsDomain('a..b'), /label/)
    assert.throws(() => parseDnsDomain('bad domain'), /label/)
  })
})

describe('DnsService', () => {
  test('answers from the router; a new snapshot gives a new table (and serial), the same snapshot does not', async () => {
    const router = new Router({localRegion: 'sa', bindingTtlMs: 1000, bindingMaxEntries: 10, failureCooldownMs: 1000})
    router.setBackends([makeBackend('a', {app: 'web', host: '10.0.0.1'})])
    const geo = {source: 'test', builtAtMs: 0, isEmbedded: false, country: () => null}
    const dnsCounters = new DnsCounters()
    const service = new DnsService({router, geo, logger, dnsCounters}, {listen: [{host: '127.0.0.1', port: 0}], domain: 'internal', ttlSecs: 5, negativeTtlSecs: 5, maxAnswers: 0})
    await service.start()
    after(() => service.close())
    const port = service.server.addresses[0].port
    const r = resolver('127.0.0.1', port)
    assert.deepEqual(await r.resolve4('web.internal'), ['10.0.0.1'])
    const first = service.currentTable()
    assert.equal(service.currentTable(), first, 'no rebuild while the snapshot is the same')
    router.setBackends([makeBackend('a', {app: 'web', host: '10.0.0.1'}), makeBackend('b', {app: 'web', host: '10.0.0.2'})])
    assert.deepEqual((await r.resolve4('web.internal')).sort(), ['10.0.0.1', '10.0.0.2'])
    assert.ok(service.currentTable().serial > first.serial)
    router.setBackends([])
    assert.equal(await resolveError(r.resolve4('web.internal')), 'ENOTFOUND')
    const [reply] = await tcpExchange('127.0.0.1', port, frame(encodeQuery('internal', 'SOA')), 1)
    assert.equal(reply.rcode, 'NOERROR')
    assert.equal((await udpExchange('127.0.0.1', port, encodeQuery('x.example', 'A'))).decoded.rcode, 'REFUSED')
    const health = service.health().fields
    assert.equal(health.queries, 5)
    assert.deepEqual(health.rcodes, {NOERROR: 3, NXDOMAIN: 1, REFUSED: 1})
    assert.equal(dnsCounters.get('A', 'NOERROR'), 2)
    assert.equal(dnsCounters.get('SOA', 'NOERROR'), 1)
  })
})
