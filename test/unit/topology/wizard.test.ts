// The pop generate-config wizard driven by a scripted Prompter: answers are checked with the same
// rules as the file, a refused answer is asked again, and the saved file parses to the same cluster.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import type {Choice, Prompter} from '../../../src/cli/prompts/prompter.js'
import {runTopologyWizard, suggestWireguardAddress} from '../../../src/cli/prompts/topology-wizard.js'
import {loadTopologyFile, parseIpv4Network} from '../../../src/topology/index.js'

/** Plays back answers in order; '' takes the default. Records every refusal. */
function scripted(answers: Array<string | boolean>): Prompter & {refusals: string[]; asked: string[]} {
  const queue = [...answers]
  const refusals: string[] = []
  const asked: string[] = []
  const next = (message: string) => {
    asked.push(message)
    if (queue.length === 0) throw new Error(`no scripted answer for ${JSON.stringify(message)}`)
    return queue.shift()!
  }
  return {
    refusals,
    asked,
    async input(message, options = {}) {
      for (;;) {
        const raw = next(message)
        const answer = raw === '' ? (options.default ?? '') : String(raw)
        const verdict = options.validate ? options.validate(answer) : true
        if (verdict === true) return answer
        refusals.push(`${message}: ${verdict}`)
      }
    },
    async select<T extends string>(message: string, choices: ReadonlyArray<Choice<T>>, defaultValue?: T) {
      const raw = next(message)
      const answer = (raw === '' ? defaultValue : raw) as T
      assert.ok(choices.some((c) => c.value === answer), `${String(answer)} is one of the choices of ${message}`)
      return answer
    },
    async confirm(message, defaultValue = true) {
      const raw = next(message)
      return raw === '' ? defaultValue : Boolean(raw)
    },
  }
}

describe('topology wizard', () => {
  test('asks for the cluster and POPs, re-asks bad answers, saves a file that parses to the same topology', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wizard-'))
    t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
    const file = path.join(dir, 'topology.yaml')
    const prompter = scripted([
      'Edge!', 'edge', // cluster: refused, then accepted
      'plaintext',
      '', // network default 10.50.0.0/16
      true, // default ports
      'sa', 'sa', 'br', '203.0.113.10', '', true, // POP 1, WireGuard address suggested (10.50.1.1)
      'sa', 'us', 'us', 'XX', '', '203.0.113.10', '198.51.100.7', '10.50.1.1', '10.60.0.1', '', true, // POP 2 with refusals
      'eu', 'eu', 'DE', '2001:db8::20', '', false,
      file,
    ])
    const result = await runTopologyWizard(prompter)
    assert.equal(result.file, file)
    assert.deepEqual(prompter.refusals.map((r) => r.split(':')[0]), [
      'Cluster name',
      'POP #2 name',
      'Country of us (ISO code, empty for none)',
      'Public address of us (IP or DNS name other POPs reach)',
      'WireGuard address of us',
      'WireGuard address of us',
    ])
    const saved = loadTopologyFile(file)
    assert.deepEqual(saved.topology, result.parsed.topology)
    assert.deepEqual(
      saved.topology.pops.map((p) => [p.name, p.region, p.country, p.publicAddress, p.wireguardAddress]),
      [
        ['sa', 'sa', 'BR', '203.0.113.10', '10.50.1.1'],
        ['us', 'us', undefined, '198.51.100.7', '10.50.2.1'],
        ['eu', 'eu', 'DE', '2001:db8::20', '10.50.3.1'],
      ],
    )
    assert.equal(saved.topology.cluster, 'edge')
    assert.equal(saved.topology.ports.corrosionApi, 8090)
  })

  test('suggests the next free WireGuard address inside the network', () => {
    const n16 = parseIpv4Network('10.50.0.0/16')
    assert.equal(suggestWireguardAddress(n16, 0, new Set()), '10.50.1.1')
    assert.equal(suggestWireguardAddress(n16, 1, new Set(['10.50.2.1'])), '10.50.0.2')
    const n29 = parseIpv4Network('192.168.0.8/29')
    assert.equal(suggestWireguardAddress(n29, 0, new Set()), '192.168.0.9')
    assert.equal(suggestWireguardAddress(n29, 0, new Set(['192.168.0.9', '192.168.0.10', '192.168.0.11', '192.168.0.12', '192.168.0.13', '192.168.0.14'])), undefined)
  })
})
