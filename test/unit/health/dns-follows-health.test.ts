// DNS answers follow health: the DNS server asks Router.isRoutable, which check states and circuits
// feed, so a DOWN backend or one with an open circuit leaves `<app>.internal` and comes back with it.
import assert from 'node:assert/strict'
import {test} from 'node:test'

import dnsPacket, {type Packet, type RecordType} from 'dns-packet'

import {Router} from '../../../src/balancer/router.js'
import {answer, type QueryContext} from '../../../src/dns/answer.js'
import {buildRecordTable} from '../../../src/dns/record-table.js'
import type {CheckTarget} from '../../../src/health/health-table.js'
import {makeBackend} from '../../support/backend-fixture.js'

const TARGET: CheckTarget = {type: 'tcp', host: '10.1.0.1', port: 9000, path: '/health', sni: 'a'}
const result = (isPass: boolean) => ({isPass, latencyMs: 1, error: isPass ? null : 'connect ECONNREFUSED', atMs: 0})

test('a DOWN backend and one with an open circuit leave the DNS answers, and come back', () => {
  let monotonic = 0
  const router = new Router({
    localRegion: 'sa',
    bindingTtlMs: 1000,
    bindingMaxEntries: 10,
    failureCooldownMs: 10_000,
    now: () => 1_800_000_000_000,
    monotonicNow: () => monotonic,
    checks: {rise: 1, fall: 1},
    circuit: {failureThreshold: 1, failureWindowMs: 60_000, baseOpenMs: 1000, maxOpenMs: 1000, jitterPercent: 0, successThreshold: 1, maxEjectionPercent: 50},
  })
  router.setBackends([
    makeBackend('a', {app: 'web', host: '10.1.0.1'}),
    makeBackend('b', {app: 'web', host: '10.1.0.2'}),
    makeBackend('c', {app: 'web', host: '10.1.0.3'}),
  ])
  const table = buildRecordTable(router.snapshot, {domain: 'internal', ttlSecs: 5, negativeTtlSecs: 7, maxAnswers: 0, serial: 1})
  const ctx: QueryContext = {view: router, remoteAddress: '127.0.0.1', localAddress: '127.0.0.1', countryOf: () => null, nowMs: 1_800_000_000_000, random: () => 0.5}
  const addresses = () => {
    const q: Packet = {type: 'query', id: 1, flags: 0, questions: [{name: 'web.internal', type: 'A' as RecordType, class: 'IN'}]}
    const decoded = dnsPacket.decode(dnsPacket.encode(answer(q, table, ctx).packet))
    return (decoded.answers ?? []).map((a) => String((a as {data: unknown}).data)).sort()
  }
  assert.deepEqual(addresses(), ['10.1.0.1', '10.1.0.2', '10.1.0.3'])
  router.health.track('a', TARGET)
  router.health.recordCheck('a', result(false))
  router.markFailed('b', 'ECONNREFUSED')
  assert.equal(router.health.circuits!.phase('b'), 'open')
  assert.deepEqual(addresses(), ['10.1.0.3'], 'a is DOWN, b has an open circuit')
  router.health.recordCheck('a', result(true))
  monotonic += 1000
  assert.deepEqual(addresses(), ['10.1.0.1', '10.1.0.2', '10.1.0.3'], 'a UP again, b half-open (it takes trial connections)')
})
