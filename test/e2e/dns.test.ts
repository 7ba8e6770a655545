// End to end: `bin/run.js start --dns` answers `<app>.internal` names from its routing table, checked
// through Node's own resolver (c-ares, independent of the server) and raw packets (flags, TTLs, TC),
// on an IPv4 and an [::1] listener; a disabled backend leaves DNS within one reload; 200 backends
// truncate over UDP and come whole over TCP; hostile datagrams and TCP frames leave it answering.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import dgram from 'node:dgram'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {parseExposition, sampleValue, type Sample} from '../../src/metrics/exposition.js'
import {RoutingDb} from '../support/routing-db.js'
import {runCli, startProxy, tempDir, type ProxyProcess} from '../support/proxy-process.js'
import {assertDocumented} from '../support/json-shapes.js'
import {encodeQuery, frame, hasIpv6Loopback, resolveError, resolver, tcpExchange, ttlsOf, udpExchange} from '../support/dns.js'

interface Listening {
  v4: number
  v6: number
}

async function dnsPorts(proxy: ProxyProcess): Promise<Listening> {
  const e = await proxy.waitFor('dns_listening')
  const entries = String(e.dns).split(',')
  const port = (prefix: string) => Number(entries.find((x) => x.startsWith(prefix))?.split(':').pop() ?? 0)
  return {v4: port('127.0.0.1'), v6: port('[::1]')}
}

async function apiGet(proxy: ProxyProcess, pathname: string): Promise<Record<string, unknown>> {
  const started = await proxy.waitFor('started')
  const response = await fetch(`http://${String(started.api)}${pathname}`)
  return (await response.json()) as Record<string, unknown>
}

const sorted = (list: string[]) => [...list].sort()

/** A small deterministic PRNG, so a failing fuzz run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('internal DNS: three apps over several regions', () => {
  const tmp = tempDir()
  const dbPath = path.join(tmp.dir, 'routing.db')
  let proxy: ProxyProcess
  let db: RoutingDb
  let ports: Listening
  let isIpv6 = false
  const r = () => resolver('127.0.0.1', ports.v4)

  before(async () => {
    isIpv6 = await hasIpv6Loopback()
    proxy = await startProxy({
      env: {
        EDGEPROXY_DB_PATH: dbPath,
        EDGEPROXY_REGION: 'sa',
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_DNS_ENABLED: 'true',
        EDGEPROXY_DNS_LISTEN_ADDR: isIpv6 ? '127.0.0.1:0,[::1]:0' : '127.0.0.1:0',
      },
    })
    ports = await dnsPorts(proxy)
    db = new RoutingDb(dbPath)
    const reloaded = proxy.next('store_reloaded', (e) => e.backends === 8)
    db.db.transaction(() => {
      db.insert({id: 'web-sa-1', app: 'web', region: 'sa', country: 'BR', wg_ip: '10.1.0.1', wg_ip6: 'fd00:1::1', port: 9000})
      db.insert({id: 'web-sa-2', app: 'web', region: 'sa', country: 'AR', wg_ip: '10.1.0.2', port: 9000})
      db.insert({id: 'web-eu-1', app: 'web', region: 'eu', country: 'FR', wg_ip: '10.2.0.1', port: 9000, weight: 7})
      db.insert({id: 'web-us-1', app: 'web', region: 'us', country: 'US', wg_ip: 'fd00:3::1', port: 9443})
      db.insert({id: 'api-eu-1', app: 'api', region: 'eu', country: 'DE', wg_ip: '10.2.1.1', port: 8000})
      db.insert({id: 'api-ap-1', app: 'api', region: 'ap', country: 'JP', wg_ip: '10.4.1.1', port: 8000})
      db.insert({id: 'db-us-1', app: 'db', region: 'us', country: 'US', wg_ip: '10.3.2.1', port: 5432, healthy: 0})
      db.insert({id: 'db-us-2', app: 'db', region: 'us', country: 'US', wg_ip: '10.3.2.2', port: 5432, draining: 1})
    })()
    await reloaded
  })
  after(async () => {
    db?.close()
    await proxy?.stop()
    tmp.cleanup()
  })

  test('A and AAAA of <app>, global.<app>, <region>.<app>, <id>.vm.<app>, top<N>.nearest.of.<app>', async () => {
    assert.deepEqual(sorted(await r().resolve4('web.internal')), ['10.1.0.1', '10.1.0.2', '10.2.0.1'])
    assert.deepEqual(sorted(await r().resolve6('web.internal')), ['fd00:1::1', 'fd00:3::1'])
    assert.deepEqual(sorted(await r().resolve4('global.web.internal')), ['10.1.0.1', '10.1.0.2', '10.2.0.1'])
    assert.deepEqual(sorted(await r().resolve4('api.internal')), ['10.2.1.1', '10.4.1.1'])
    assert.deepEqual(sorted(await r().resolve4('sa.web.internal')), ['10.1.0.1', '10.1.0.2'])
    assert.deepEqual(await r().resolve4('eu.api.internal'), ['10.2.1.1'])
    assert.deepEqual(await r().resolve6('us.web.internal'), ['fd00:3::1'])
    assert.deepEqual(await r().resolve4('web-eu-1.vm.web.internal'), ['10.2.0.1'])
    assert.deepEqual(await r().resolve6('web-sa-1.vm.web.internal'), ['fd00:1::1'])
    // A loopback querier has no country: this POP's region (sa) first, ties to the smaller id.
    assert.deepEqual(await r().resolve4('top1.nearest.of.web.internal'), ['10.1.0.1'])
    assert.deepEqual(await r().resolve4('top2.nearest.of.web.internal'), ['10.1.0.1', '10.1.0.2'])
    const withTtl = await r().resolve4('web.internal', {ttl: true})
    assert.ok(withTtl.every((a) => a.ttl === 5), 'default TTL 5 s')
  })

  test('SRV of <app>.internal and _<app>._tcp.internal: tier, weight, port, target', async () => {
    for (const name of ['web.internal', '_web._tcp.internal']) {
      const srv = await r().resolveSrv(name)
      assert.deepEqual(
        srv.map((s) => `${s.name} ${s.priority} ${s.weight} ${s.port}`).sort(),
        ['web-eu-1.vm.web.internal 3 7 9000', 'web-sa-1.vm.web.internal 2 2 9000', 'web-sa-2.vm.web.internal 2 2 9000', 'web-us-1.vm.web.internal 3 2 9443'],
      )
    }
    const raw = await udpExchange('127.0.0.1', ports.v4, encodeQuery('_api._tcp.internal', 'SRV', {ednsSize: 1232}))
    const glue = raw.decoded.additionals!.flatMap((a) => (a.type === 'A' ? [`${a.name} ${a.data}`] : []))
    assert.deepEqual(sorted(glue), ['api-ap-1.vm.api.internal 10.4.1.1', 'api-eu-1.vm.api.internal 10.2.1.1'], 'targets resolved in the additional section')
  })

  test('TXT of _apps.internal, regions.<app>.internal, vms.<app>.internal', async () => {
    assert.deepEqual(await r().resolveTxt('_apps.internal'), [['api,web']], 'db has no routable backend')
    assert.deepEqual(await r().resolveTxt('regions.web.internal'), [['eu,sa,us']])
    assert.deepEqual(await r().resolveTxt('vms.api.internal'), [['api-ap-1 ap,api-eu-1 eu']])
  })

  test('SOA and NS at the apex', async () => {
    const soa = await r().resolveSoa('internal')
    assert.equal(soa.nsname, 'ns.internal')
    assert.equal(soa.hostmaster, 'hostmaster.internal')
    assert.equal(soa.minttl, 5, 'the negative TTL')
    assert.deepEqual(await r().resolveNs('internal'), ['ns.internal'])
    assert.deepEqual(await r().resolve4('ns.internal'), ['127.0.0.1'])
  })

  test('negative answers: NXDOMAIN (unknown, no routable backend), NODATA (no such type), REFUSED (outside the domain)', async () => {
    assert.equal(await resolveError(r().resolve4('nope.internal')), 'ENOTFOUND')
    assert.equal(await resolveError(r().resolve4('db.internal')), 'ENOTFOUND', 'every backend of db is disabled or draining')
    assert.equal(await resolveError(r().resolve4('ap.web.internal')), 'ENOTFOUND')
    assert.equal(await resolveError(r().resolve6('api.internal')), 'ENODATA')
    assert.equal(await resolveError(r().resolveTxt('web.internal')), 'ENODATA')
    assert.equal(await resolveError(r().resolve4('example.com')), 'EREFUSED')
  })

  test('raw packets: AA set, RA clear, TTLs, the SOA with the negative TTL in negative answers', async () => {
    const yes = (await udpExchange('127.0.0.1', ports.v4, encodeQuery('web.internal', 'A'))).decoded
    assert.equal(yes.rcode, 'NOERROR')
    assert.equal(yes.flag_aa, true)
    assert.equal(yes.flag_ra, false)
    assert.equal(yes.flag_tc, false)
    assert.deepEqual(ttlsOf(yes), [5, 5, 5])
    for (const [name, type, rcode] of [
      ['nope.internal', 'A', 'NXDOMAIN'],
      ['db.internal', 'A', 'NXDOMAIN'],
      ['api.internal', 'AAAA', 'NOERROR'],
    ]) {
      const no = (await udpExchange('127.0.0.1', ports.v4, encodeQuery(name, type))).decoded
      assert.equal(no.rcode, rcode, name)
      assert.equal(no.flag_aa, true)
      assert.deepEqual(no.answers, [])
      assert.equal(no.authorities![0].type, 'SOA')
      assert.deepEqual(ttlsOf(no, 'authorities'), [5])
    }
    const refused = (await udpExchange('127.0.0.1', ports.v4, encodeQuery('example.com', 'A'))).decoded
    assert.equal(refused.rcode, 'REFUSED')
    assert.equal(refused.flag_aa, false)
    assert.equal(refused.flag_ra, false, 'not a recursive resolver')
  })

  test('the [::1] listener answers, and every reply leaves from the address the query was sent to', async (t) => {
    if (!isIpv6) {
      t.skip('this machine has no IPv6 loopback (::1) to listen on')
      return
    }
    assert.deepEqual(sorted(await resolver('::1', ports.v6).resolve4('web.internal')), ['10.1.0.1', '10.1.0.2', '10.2.0.1'])
    assert.deepEqual(await resolver('::1', ports.v6).resolve6('ns.internal'), ['::1'])
    assert.equal((await udpExchange('::1', ports.v6, encodeQuery('web.internal', 'AAAA'))).from, '::1')
    assert.equal((await udpExchange('127.0.0.1', ports.v4, encodeQuery('web.internal', 'AAAA'))).from, '127.0.0.1')
    const [overTcp] = await tcpExchange('::1', ports.v6, frame(encodeQuery('api.internal', 'A')), 1)
    assert.equal(overTcp.answers!.length, 2)
  })

  test('route explain shows what DNS would answer (API and command)', async () => {
    const started = await proxy.waitFor('started')
    const body = (await apiGet(proxy, '/api/v1/route?ip=90.0.0.1')) as {dns: {domain: string; apps: {app: string; rcode: string; addresses: string[]; nearest: string[]}[]}}
    assert.equal(body.dns.domain, 'internal')
    const web = body.dns.apps.find((a) => a.app === 'web')!
    assert.deepEqual(web.addresses, ['10.1.0.1', '10.1.0.2', '10.2.0.1', 'fd00:1::1', 'fd00:3::1'])
    assert.deepEqual(web.nearest, ['10.2.0.1'], 'a French client: the FR backend')
    assert.equal(body.dns.apps.find((a) => a.app === 'db')!.rcode, 'NXDOMAIN')
    const cli = await runCli(['route', 'explain', '90.0.0.1', '--api-url', `http://${String(started.api)}`])
    assert.equal(cli.code, 0, cli.stderr)
    assert.match(cli.stdout, /DNS would answer/)
    assert.match(cli.stdout, /web\.internal\s.*10\.1\.0\.1, 10\.1\.0\.2, 10\.2\.0\.1, fd00:1::1, fd00:3::1/)
    assert.match(cli.stdout, /top1\.nearest\.of\.web\.internal\s.*10\.2\.0\.1/)
    assert.match(cli.stdout, /db\.internal\s.*NXDOMAIN/)
  })

  test('metrics: edgeproxy_dns_queries_total{qtype,rcode} counts each query once; the scrape passes promtool', async (t) => {
    const started = await proxy.waitFor('started')
    const scrape = async () => parseExposition(await (await fetch(`http://${String(started.api)}/metrics`)).text())
    const count = (samples: Sample[], qtype: string, rcode: string) => sampleValue(samples, 'edgeproxy_dns_queries_total', {qtype, rcode}) ?? 0
    const before = await scrape()
    await udpExchange('127.0.0.1', ports.v4, encodeQuery('web.internal', 'AAAA'))
    await udpExchange('127.0.0.1', ports.v4, encodeQuery('web.internal', 'AAAA'))
    await udpExchange('127.0.0.1', ports.v4, encodeQuery('nope.internal', 'SRV'))
    await udpExchange('127.0.0.1', ports.v4, encodeQuery('example.com', 'TXT'))
    const after = await scrape()
    assert.equal(count(after, 'AAAA', 'NOERROR') - count(before, 'AAAA', 'NOERROR'), 2)
    assert.equal(count(after, 'SRV', 'NXDOMAIN') - count(before, 'SRV', 'NXDOMAIN'), 1)
    assert.equal(count(after, 'TXT', 'REFUSED') - count(before, 'TXT', 'REFUSED'), 1)
    const text = await (await fetch(`http://${String(started.api)}/metrics`)).text()
    const result = spawnSync('promtool', ['check', 'metrics'], {input: text, encoding: 'utf8'})
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      t.skip('promtool is not installed (Debian package prometheus; .ci/run installs it)')
      return
    }
    assert.equal(result.status, 0, `promtool check metrics:\n${result.stdout}${result.stderr}`)
  })

  test('edgeproxy dns query: rcode, flags, TTLs and sections, --json, over IPv4 and [::1]', async () => {
    const json = await runCli(['dns', 'query', 'web.internal', '--server', `127.0.0.1:${ports.v4}`, '--json'])
    assert.equal(json.code, 0, json.stderr)
    assertDocumented('edgeproxy dns query', JSON.parse(json.stdout))
    const result = JSON.parse(json.stdout) as {rcode: string; transport: string; flags: {aa: boolean; ra: boolean}; answers: {type: string; ttl: number; data: string}[]}
    assert.equal(result.rcode, 'NOERROR')
    assert.equal(result.transport, 'udp')
    assert.deepEqual(result.flags, {aa: true, tc: false, rd: true, ra: false})
    assert.deepEqual(sorted(result.answers.map((a) => `${a.type} ${a.ttl} ${a.data}`)), ['A 5 10.1.0.1', 'A 5 10.1.0.2', 'A 5 10.2.0.1'])

    const server = isIpv6 ? `[::1]:${ports.v6}` : `127.0.0.1:${ports.v4}`
    const srv = await runCli(['dns', 'query', '_api._tcp.internal', '--type', 'SRV', '--server', server])
    assert.equal(srv.code, 0, srv.stderr)
    assert.ok(srv.stdout.startsWith(`_api._tcp.internal SRV: NOERROR [aa rd] from ${server} over udp`), srv.stdout)
    assert.match(srv.stdout, /_api\._tcp\.internal\s+5\s+SRV\s+3 2 8000 api-eu-1\.vm\.api\.internal/)
    assert.match(srv.stdout, /additional\n(.*\n)*\s+api-ap-1\.vm\.api\.internal\s+5\s+A\s+10\.4\.1\.1/)

    const missing = await runCli(['dns', 'query', 'nope.internal', '--server', `127.0.0.1:${ports.v4}`, '--tcp'])
    assert.equal(missing.code, 0, 'a negative answer is a result')
    assert.match(missing.stdout, /nope\.internal A: NXDOMAIN \[aa rd\] from 127\.0\.0\.1:\d+ over tcp/)
    assert.match(missing.stdout, /authority\n\s+internal\s+5\s+SOA\s+ns\.internal hostmaster\.internal \d+ 3600 600 86400 5/)

    const nodata = await runCli(['dns', 'query', 'api.internal', '--type', 'AAAA', '--server', `127.0.0.1:${ports.v4}`])
    assert.match(nodata.stdout, /no AAAA record for this name \(try --type A\)/)
  })

  test('edgeproxy dns query: no server exits 4, a bad --server or name exits 3', async () => {
    const down = await runCli(['dns', 'query', 'web.internal', '--server', '127.0.0.1:1', '--json'])
    assert.equal(down.code, 4)
    assert.equal((JSON.parse(down.stdout) as {error: {code: string}}).error.code, 'EP_DNS_UNREACHABLE')
    const bad = await runCli(['dns', 'query', 'web.internal', '--server', 'dns.example:53'])
    assert.equal(bad.code, 3)
    assert.match(bad.stderr, /Code: EP_INVALID_SERVER/)
    const badName = await runCli(['dns', 'query', 'a..internal', '--server', `127.0.0.1:${ports.v4}`])
    assert.equal(badName.code, 3)
    assert.match(badName.stderr, /Code: EP_INVALID_NAME/)
  })

  test('backend disable: the record is gone within one reload, and back after enable', async () => {
    const disabled = proxy.next('store_reloaded')
    const out = await runCli(['backend', 'disable', 'web-eu-1', '--db', dbPath])
    assert.equal(out.code, 0, out.stderr)
    await disabled
    assert.deepEqual(sorted(await r().resolve4('web.internal')), ['10.1.0.1', '10.1.0.2'])
    assert.equal(await resolveError(r().resolve4('eu.web.internal')), 'ENOTFOUND')
    assert.equal(await resolveError(r().resolve4('web-eu-1.vm.web.internal')), 'ENODATA', 'the name stays, without an address')
    const enabled = proxy.next('store_reloaded')
    assert.equal((await runCli(['backend', 'enable', 'web-eu-1', '--db', dbPath])).code, 0)
    await enabled
    assert.deepEqual(await r().resolve4('eu.web.internal'), ['10.2.0.1'])
  })

  test('10,000 random datagrams and broken TCP frames: the server keeps answering', async () => {
    const seed = Number(process.env.DNS_FUZZ_SEED ?? Date.now() % 100_000)
    const random = prng(seed)
    const bytes = (n: number) => Buffer.from(Array.from({length: n}, () => Math.floor(random() * 256)))
    const valid = encodeQuery('web.internal', 'A', {ednsSize: 1232})
    const socket = dgram.createSocket('udp4')
    let replies = 0
    let marker: {id: number; resolve: () => void} | undefined
    socket.on('message', (reply) => {
      replies++
      if (marker !== undefined && reply.length >= 2 && reply.readUInt16BE(0) === marker.id) marker.resolve()
    })
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
    const before = ((await apiGet(proxy, '/health')) as {dns: {queries: number}}).dns.queries
    for (let i = 0; i < 10_000; i++) {
      const kind = i % 4
      let datagram: Buffer
      if (kind === 0) datagram = bytes(Math.floor(random() * 600)) // noise of any length, headers included
      else if (kind === 1) {
        datagram = Buffer.from(valid) // a real query with a few bytes flipped
        for (let k = 0; k < 1 + Math.floor(random() * 4); k++) datagram[Math.floor(random() * datagram.length)] = Math.floor(random() * 256)
      } else if (kind === 2) datagram = valid.subarray(0, Math.floor(random() * valid.length)) // cut short
      else {
        datagram = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00]), bytes(8), bytes(Math.floor(random() * 80))]) // a query header, garbage counts and body
      }
      socket.send(datagram, ports.v4, '127.0.0.1')
      // Every 50 datagrams, a real query: its answer means the server has read everything before it
      // (loopback keeps order), which also keeps the socket buffers from overflowing. The kernel may
      // still drop the marker when the buffer is full: it is sent again until answered.
      if (i % 50 === 49) {
        const id = 0xf000 + Math.floor(i / 50)
        const query = encodeQuery('web.internal', 'A', {id})
        await new Promise<void>((resolve) => {
          const again = setInterval(() => socket.send(query, ports.v4, '127.0.0.1'), 50)
          marker = {
            id,
            resolve: () => {
              clearInterval(again)
              resolve()
            },
          }
          socket.send(query, ports.v4, '127.0.0.1')
        })
      }
    }
    const processed = ((await apiGet(proxy, '/health')) as {dns: {queries: number}}).dns.queries - before
    assert.ok(processed >= 9_900, `${processed} datagrams read by the server (seed ${seed})`)

    // TCP: a frame cut short then closed, a 1-byte prefix, garbage with and without a header,
    // a frame announcing more than it sends, and valid queries pipelined after the garbage.
    const cut = frame(valid).subarray(0, 10)
    for (const bytesOut of [cut, Buffer.from([0x00]), frame(Buffer.alloc(0)), Buffer.from([0xff, 0xff, 1, 2, 3])]) {
      await new Promise<void>((resolve) => {
        const s = net.connect(ports.v4, '127.0.0.1', () => s.end(bytesOut))
        s.on('close', () => resolve())
        s.on('error', () => resolve())
        s.resume()
      })
    }
    const pipelined = Buffer.concat([frame(bytes(5)), frame(Buffer.concat([Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), bytes(30)])), frame(encodeQuery('api.internal', 'A', {id: 7})), frame(encodeQuery('web.internal', 'A', {id: 8}))])
    const [formerr, first, second] = await tcpExchange('127.0.0.1', ports.v4, pipelined, 3)
    assert.equal(formerr.id, 0xabcd)
    assert.equal(formerr.rcode, 'FORMERR', `seed ${seed}`)
    assert.deepEqual([first.id, first.answers!.length, second.id, second.answers!.length], [7, 2, 8, 3], 'answered in order after the garbage')

    assert.equal(proxy.child.exitCode, null, `the process is alive (seed ${seed})`)
    assert.deepEqual(sorted(await r().resolve4('web.internal')), ['10.1.0.1', '10.1.0.2', '10.2.0.1'])
    const health = (await apiGet(proxy, '/health')) as {dns: {queries: number; rcodes: Record<string, number>}}
    assert.ok(health.dns.rcodes.FORMERR > 100, `FORMERR counted (seed ${seed}): ${JSON.stringify(health.dns.rcodes)}`)
    assert.ok(health.dns.rcodes.DROPPED > 100, 'short datagrams dropped')
    socket.close()
    assert.ok(replies > 1000, `${replies} replies to the noise`)
  })
})

describe('internal DNS: 200 backends, TC over UDP, the full set over TCP, TTL settings', () => {
  const tmp = tempDir()
  const dbPath = path.join(tmp.dir, 'routing.db')
  let proxy: ProxyProcess
  let port: number

  before(async () => {
    proxy = await startProxy({
      env: {
        EDGEPROXY_DB_PATH: dbPath,
        EDGEPROXY_DB_RELOAD_SECS: '0.1',
        EDGEPROXY_DNS_ENABLED: 'true',
        EDGEPROXY_DNS_LISTEN_ADDR: '127.0.0.1:0',
        EDGEPROXY_DNS_TTL_SECS: '9',
        EDGEPROXY_DNS_NEGATIVE_TTL_SECS: '3',
      },
    })
    port = (await dnsPorts(proxy)).v4
    const db = new RoutingDb(dbPath)
    const reloaded = proxy.next('store_reloaded', (e) => e.backends === 200)
    db.db.transaction(() => {
      for (let i = 0; i < 200; i++) db.insert({id: `big-${i}`, app: 'big', region: 'sa', wg_ip: `10.20.${i >> 8}.${i & 255}`, port: 7000})
    })()
    db.close()
    await reloaded
  })
  after(async () => {
    await proxy?.stop()
    tmp.cleanup()
  })

  test('UDP without EDNS: at most 512 bytes, TC set, whole records; with EDNS 4096: at most 1232', async () => {
    const plain = await udpExchange('127.0.0.1', port, encodeQuery('big.internal', 'A'))
    assert.ok(plain.reply.length <= 512, `${plain.reply.length} bytes`)
    assert.equal(plain.decoded.flag_tc, true)
    assert.ok(plain.decoded.answers!.length > 5 && plain.decoded.answers!.length < 200)
    assert.ok(plain.decoded.answers!.every((a) => a.type === 'A' && net.isIPv4(String(a.data))))
    assert.ok(ttlsOf(plain.decoded).every((t) => t === 9), 'EDGEPROXY_DNS_TTL_SECS')
    const edns = await udpExchange('127.0.0.1', port, encodeQuery('big.internal', 'A', {ednsSize: 4096}))
    assert.ok(edns.reply.length <= 1232 && edns.reply.length > 512, `${edns.reply.length} bytes`)
    assert.equal(edns.decoded.flag_tc, true)
    assert.ok(edns.decoded.answers!.length > plain.decoded.answers!.length)
  })

  test('TCP returns all 200, pipelined queries answered in order; Node resolver falls back to TCP by itself', async () => {
    const replies = await tcpExchange(
      '127.0.0.1',
      port,
      Buffer.concat([frame(encodeQuery('big.internal', 'A', {id: 1})), frame(encodeQuery('nope.internal', 'A', {id: 2})), frame(encodeQuery('big.internal', 'SRV', {id: 3}))]),
      3,
    )
    assert.deepEqual(replies.map((p) => p.id), [1, 2, 3])
    assert.equal(replies[0].flag_tc, false)
    assert.equal(replies[0].answers!.length, 200)
    assert.equal(replies[1].rcode, 'NXDOMAIN')
    assert.deepEqual(ttlsOf(replies[1], 'authorities'), [3], 'EDGEPROXY_DNS_NEGATIVE_TTL_SECS')
    assert.equal(replies[2].answers!.length, 200)
    assert.equal(replies[2].additionals!.length, 200, 'SRV targets with their addresses')
    assert.equal((await resolver('127.0.0.1', port).resolve4('big.internal')).length, 200)
    const cli = await runCli(['dns', 'query', 'big.internal', '--server', `127.0.0.1:${port}`, '--json'])
    const result = JSON.parse(cli.stdout) as {transport: string; answers: {ttl: number}[]}
    assert.equal(result.transport, 'tcp', 'the command retries over TCP after a truncated UDP answer')
    assert.equal(result.answers.length, 200)
  })
})
