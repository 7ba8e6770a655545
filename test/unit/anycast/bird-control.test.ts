// birdc -v replies as BIRD 2.0.12 prints them (captured from real daemons), and BirdControl's
// handling of a birdc that is missing, a socket nobody listens on, and a refused configure.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {BirdControl, parseBirdReplies, parseExportedRoutes, parseProtocols} from '../../../src/anycast/bird-control.js'
import {birdUnavailableReason, BIRDC, startBird} from '../../support/bird.js'
import {tempDir} from '../../support/proxy-process.js'

const PROTOCOLS = `0001 BIRD 2.0.12 ready.
2002-Name       Proto      Table      State  Since         Info
1002-device1    Device     ---        up     23:34:48.252  
     edge_anycast4 Static     master4    up     23:34:48.252  
     edge_peer1 BGP        ---        up     23:34:49.141  Established   
     edge_peer2 BGP        ---        start  23:34:48.252  Active        Socket: Connection refused
0000 
`

const EXPORT = `0001 BIRD 2.0.12 ready.
1007-Table master4:
     198.51.100.0/24      blackhole [edge_anycast4 23:34:48.252] * (200)
1008-\tType: static univ
1012-\tBGP.as_path: 65010
     \tBGP.community: (65535,0) (65010,7)
1007-
     Table master6:
     2001:db8:100::/48    blackhole [edge_anycast6 23:34:48.252] * (200)
1008-\tType: static univ
0000 
`

describe('birdc replies', () => {
  test('codes and continuation lines', () => {
    const replies = parseBirdReplies(PROTOCOLS)
    assert.equal(replies[0]!.code, 1)
    assert.deepEqual(replies.filter((r) => r.code === 1002).length, 4)
  })

  test('show protocols', () => {
    assert.deepEqual(parseProtocols(parseBirdReplies(PROTOCOLS)), [
      {name: 'device1', proto: 'Device', table: '---', state: 'up', since: '23:34:48.252', info: ''},
      {name: 'edge_anycast4', proto: 'Static', table: 'master4', state: 'up', since: '23:34:48.252', info: ''},
      {name: 'edge_peer1', proto: 'BGP', table: '---', state: 'up', since: '23:34:49.141', info: 'Established'},
      {name: 'edge_peer2', proto: 'BGP', table: '---', state: 'start', since: '23:34:48.252', info: 'Active Socket: Connection refused'},
    ])
  })

  test('show route export … all: prefixes, path and communities', () => {
    assert.deepEqual(parseExportedRoutes(parseBirdReplies(EXPORT)), [
      {prefix: '198.51.100.0/24', asPath: '65010', communities: ['65535:0', '65010:7']},
      {prefix: '2001:db8:100::/48', asPath: '', communities: []},
    ])
  })
})

describe('BirdControl', () => {
  test('a missing birdc is EP_BIRD_UNAVAILABLE naming it', async () => {
    const bird = new BirdControl({socket: '/nonexistent/bird.ctl', birdc: '/nonexistent/birdc', timeoutMs: 2000})
    await assert.rejects(bird.configure(), (e: Error & {code?: string; exitCode?: number}) => e.code === 'EP_BIRD_UNAVAILABLE' && e.exitCode === 4 && /not installed/.test(e.message))
  })

  const skip = birdUnavailableReason()
  test('a socket nobody listens on is EP_BIRD_UNAVAILABLE quoting birdc', {skip}, async () => {
    const bird = new BirdControl({socket: '/nonexistent/bird.ctl', birdc: BIRDC, timeoutMs: 2000})
    await assert.rejects(bird.protocols(), (e: Error & {code?: string}) => e.code === 'EP_BIRD_UNAVAILABLE' && /Unable to connect|No such file/.test(e.message))
  })

  test('configure on a real BIRD; a config that no longer parses is EP_BIRD_REFUSED with its line', {skip}, async (t) => {
    const {dir, cleanup} = tempDir('edgeproxy-birdc-')
    t.after(cleanup)
    const conf = path.join(dir, 'bird.conf')
    fs.writeFileSync(conf, 'router id 192.0.2.1;\nprotocol device {\n}\n')
    const daemon = await startBird(dir, 'solo', conf)
    t.after(() => daemon.stop())
    const bird = new BirdControl({socket: daemon.socket, birdc: BIRDC, timeoutMs: 5000})
    assert.equal(await bird.configure(), 'Reconfigured')
    assert.deepEqual((await bird.protocols()).map((p) => p.name), ['device1'])
    fs.writeFileSync(conf, 'router id 192.0.2.1;\nprotocol device {\n  nonsense;\n}\n')
    await assert.rejects(bird.configure(), (e: Error & {code?: string}) => e.code === 'EP_BIRD_REFUSED' && /bird\.conf:3/.test(e.message))
  })
})
