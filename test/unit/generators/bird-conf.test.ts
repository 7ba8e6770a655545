// bird.conf as generated for POPs with anycast: every one parses with the real `bird -p -c` (v4 and
// v6, several peers, passwords, every gate phase), imports nothing, exports only the anycast statics
// through the gate, and never holds a password value. A broken file must fail the same check.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {GATE_PHASES, parseGateFile, renderGateFile} from '../../../src/anycast/gate.js'
import {readPasswords, renderBirdPasswords} from '../../../src/anycast/passwords.js'
import type {BirdModel} from '../../../src/generators/anycast-model.js'
import {renderBirdConf} from '../../../src/generators/bird-conf.js'
import {parseSecretsJson, planPopConfigs} from '../../../src/generators/index.js'
import {parseTopologyText} from '../../../src/topology/index.js'
import {birdParse, birdUnavailableReason} from '../../support/bird.js'
import {ROOT, tempDir} from '../../support/proxy-process.js'

const FIXTURE = path.join(ROOT, 'test/fixtures/pop-anycast')
const PASSWORDS = {EDGEPROXY_BGP_PASSWORD: 'sa-md5-Secret-1', EDGEPROXY_BGP_PASSWORD_TRANSIT: 'us transit secret'}

function plannedBirdModels(): BirdModel[] {
  const {topology} = parseTopologyText(fs.readFileSync(path.join(FIXTURE, 'topology.yaml'), 'utf8'), 'topology.yaml')
  const secrets = parseSecretsJson(fs.readFileSync(path.join(FIXTURE, 'secrets.json'), 'utf8'), 'secrets.json')
  return planPopConfigs(topology, secrets).pops.flatMap((p) => (p.host.anycast ? [p.host.anycast.bird] : []))
}

/** Writes the model's bird.conf with its includes in `dir`, as it would sit on a POP. */
function install(dir: string, model: BirdModel, phase: (typeof GATE_PHASES)[number]): {conf: string; text: string} {
  const local: BirdModel = {...model, gateFile: path.join(dir, 'anycast-gate.conf'), passwordsFile: path.join(dir, 'passwords.conf')}
  fs.writeFileSync(local.gateFile, renderGateFile(phase))
  const names = model.peers.flatMap((p) => (p.passwordEnv ? [p.passwordEnv] : []))
  fs.writeFileSync(local.passwordsFile, renderBirdPasswords(readPasswords(names, PASSWORDS)))
  const text = renderBirdConf(local, ['test header'])
  const conf = path.join(dir, 'bird.conf')
  fs.writeFileSync(conf, text)
  return {conf, text}
}

const skip = birdUnavailableReason()
if (skip) console.log(`# bird-conf: skipping the bird -p -c checks: ${skip}`)

describe('generated bird.conf', () => {
  const models = plannedBirdModels()

  test('the fixture has IPv4 and IPv6 peers, several per POP, with and without passwords', () => {
    assert.deepEqual(
      models.map((m) => [m.pop, m.peers.map((p) => `${p.family}${p.passwordSymbol ? 'pw' : ''}`)]),
      [
        ['sa', ['4pw', '6pw']],
        ['us', ['4pw', '4', '6']],
      ],
    )
  })

  test('passes bird -p -c for every POP and every gate phase', {skip}, (t) => {
    const {dir, cleanup} = tempDir('edgeproxy-bird-')
    t.after(cleanup)
    for (const model of models) {
      for (const phase of GATE_PHASES) {
        const {conf} = install(dir, model, phase)
        const result = birdParse(conf)
        assert.equal(result.code, 0, `${model.pop} (${phase}): ${result.output}`)
      }
    }
  })

  test('a broken file fails the same check (the check can fail)', {skip}, (t) => {
    const {dir, cleanup} = tempDir('edgeproxy-bird-')
    t.after(cleanup)
    const {conf, text} = install(dir, models[0]!, 'withdrawn')
    fs.writeFileSync(conf, text.replace('route 2001:db8:100::/48 blackhole;', 'route 198.51.100.0/24 blackhole;'))
    const wrongFamily = birdParse(conf)
    assert.equal(wrongFamily.code, 1)
    assert.match(wrongFamily.output, /incompatible with channel type/)
    fs.writeFileSync(conf, text)
    fs.rmSync(path.join(dir, 'passwords.conf'))
    assert.notEqual(birdParse(conf).code, 0, 'the password constants come from the include')
  })

  test('imports nothing, exports only through the gate filter, never to the kernel, no password value', (t) => {
    const {dir, cleanup} = tempDir('edgeproxy-bird-')
    t.after(cleanup)
    for (const model of models) {
      const {text} = install(dir, model, 'announced')
      const blocks = text.split(/^protocol bgp /m).slice(1)
      assert.equal(blocks.length, model.peers.length)
      for (const block of blocks) {
        assert.match(block, /^ {4}import none;$/m)
        assert.match(block, /^ {4}export filter edge_anycast_export;$/m)
        assert.equal((block.match(/^ {2}ipv[46] \{$/gm) ?? []).length, 1, 'one channel, of the peer address family')
      }
      assert.doesNotMatch(text, /protocol kernel|protocol direct|export all/)
      assert.match(text, /^ {2}if !EDGE_ANNOUNCE then reject;$/m)
      assert.match(text, /^ {4}bgp_community\.add\(\(65535, 0\)\);$/m)
      assert.match(text, /^ {4}bgp_path\.prepend\(65010\);$/m)
      for (const value of Object.values(PASSWORDS)) assert.ok(!text.includes(value), 'no password value in bird.conf')
      for (const peer of model.peers.filter((p) => p.passwordEnv)) assert.match(text, new RegExp(`^ {2}password ${peer.passwordSymbol};`, 'm'))
    }
  })

  test('a POP with no peer of an announced family still parses and rejects everything', {skip}, (t) => {
    const {dir, cleanup} = tempDir('edgeproxy-bird-')
    t.after(cleanup)
    const v6only = {...models[0]!, announce: {4: ['198.51.100.0/24'], 6: []}, peers: models[0]!.peers.filter((p) => p.family === 6)}
    const {conf, text} = install(dir, v6only, 'announced')
    assert.match(text, /^ {2}reject;/m)
    assert.equal(birdParse(conf).code, 0, birdParse(conf).output)
  })
})

describe('gate file and passwords include', () => {
  test('the gate file says each phase and reads back', () => {
    for (const phase of GATE_PHASES) assert.equal(parseGateFile(renderGateFile(phase)), phase)
    assert.equal(parseGateFile('define EDGE_ANNOUNCE = maybe;'), undefined)
    assert.match(renderGateFile('withdrawn'), /^define EDGE_ANNOUNCE = false;$/m)
    assert.match(renderGateFile('draining'), /^define EDGE_DRAINING = true;$/m)
  })

  test('passwords: missing, empty, quoted or too long values are refused, naming the variable', () => {
    assert.throws(() => readPasswords(['A'], {}), (e: Error & {code?: string; field?: string}) => e.code === 'EP_BGP_PASSWORD_INVALID' && e.field === 'A' && /not set/.test(e.message))
    assert.throws(() => readPasswords(['A'], {A: ''}), /A is empty/)
    assert.throws(() => readPasswords(['A'], {A: 'x"y'}), /quote/)
    assert.throws(() => readPasswords(['A'], {A: 'x'.repeat(81)}), /81 bytes/)
    assert.equal(renderBirdPasswords(readPasswords(['B', 'A', 'B'], {A: 'one', B: 'two'})).split('\n').filter((l) => l.startsWith('define')).join('\n'), 'define EDGE_PW_A = "one";\ndefine EDGE_PW_B = "two";')
  })
})
