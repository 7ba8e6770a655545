// The verdict on the local agent's own view of its cluster (pure, clock injected): too few members
// alive, or gaps that do not shrink, are degraded with the reason; an unreadable agent is no verdict.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {AgentView} from '../../../src/corrosion/agent-view.js'

describe('AgentView', () => {
  it('calls an agent that sees fewer members than required degraded, naming the setting, and fine again once it sees them', () => {
    const view = new AgentView({minMembers: 1, gapsStuckMs: 60_000})
    assert.deepEqual(view.degraded(0), [], 'nothing read yet: no verdict')
    view.observe({members: 0, gaps: 0}, 1000)
    const [reason] = view.degraded(1000)
    assert.match(reason!, /sees 0 other member\(s\) alive, fewer than 1 \(EDGEPROXY_CORROSION_MIN_MEMBERS\)/)
    assert.deepEqual(view.fields(1500), {members: 0, gaps: 0, min_members: 1, checked_age_secs: 0.5})
    view.observe({members: 2, gaps: 0}, 2000)
    assert.deepEqual(view.degraded(2000), [])
    view.unknown()
    assert.deepEqual(view.degraded(3000), [])
    assert.deepEqual(view.fields(3000), {members: null, gaps: null, min_members: 1, checked_age_secs: null})
  })

  it('turns the members check off with 0 (a one-agent cluster)', () => {
    const view = new AgentView({minMembers: 0, gapsStuckMs: 60_000})
    view.observe({members: 0, gaps: 0}, 0)
    assert.deepEqual(view.degraded(0), [])
  })

  it('calls gaps degraded only once they have not shrunk for gapsStuckMs; shrinking or clearing restarts the wait', () => {
    const view = new AgentView({minMembers: 0, gapsStuckMs: 10_000})
    view.observe({members: 1, gaps: 5}, 0)
    assert.deepEqual(view.degraded(9_999), [])
    view.observe({members: 1, gaps: 7}, 9_999) // grew: still the same wait
    assert.match(view.degraded(10_000).join(), /misses 7 change version\(s\) \(gaps\) and they have not shrunk for 10 s/)
    view.observe({members: 1, gaps: 3}, 11_000) // shrank: sync is catching up
    assert.deepEqual(view.degraded(20_999), [])
    assert.equal(view.degraded(21_000).length, 1)
    view.observe({members: 1, gaps: 0}, 22_000)
    assert.deepEqual(view.degraded(100_000), [])
  })
})
