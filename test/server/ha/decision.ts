// The failover decision (ha/decision.ts): a table of what the agent's heartbeats, the server's probe
// and the replicas say, at a given moment of an injected clock, and whether the set fails over.
import t from 'tap'
import { decide, type SetObservation } from '../../../src/server/ha/decision.js'
import { leaseExpiry, promotableAt } from '../../../src/protocol/index.js'

const lease = { leaseMs: 2000, marginMs: 1000 }
const base: SetObservation = { now: 10_000, lastHeardAt: 0, lease, busy: false, engineAnswers: false, replicas: [{ id: 'r1', linkUp: false }] }

t.test('a table of views: failover only when every witness agrees', async (t) => {
  const rows: Array<[string, Partial<SetObservation>, boolean, string?]> = [
    ['all agree: gone', {}, true],
    ['heard just now (slow under load, or healthy)', { lastHeardAt: 9_900 }, false, 'heard within its lease'],
    ['heard 2.9 s ago: lease lapsed, margin not yet', { lastHeardAt: 7_100 }, false, 'heard within its lease'],
    ['heard exactly lease + margin ago', { lastHeardAt: 7_000 }, true],
    ['heartbeats late but the engine answers (slow primary)', { engineAnswers: true }, false, 'engine answers'],
    ['agent dead, engine healthy', { engineAnswers: true, replicas: [{ id: 'r1', linkUp: true }] }, false, 'engine answers'],
    ['engine not probed', { engineAnswers: undefined }, false, 'not probed'],
    [
      'one replica still streaming (disagrees)',
      {
        replicas: [
          { id: 'r1', linkUp: false },
          { id: 'r2', linkUp: true },
        ],
      },
      false,
      'r2 still replicates',
    ],
    ['no replica answers: degraded, never a blind promote', { replicas: [{ id: 'r1' }] }, false, 'no replica answers'],
    ['no replica at all', { replicas: [] }, false, 'no replica answers'],
    ['one answers (down), one silent: failover among those that answered', { replicas: [{ id: 'r1', linkUp: false }, { id: 'r2' }] }, true],
    ['a task runs on the set', { busy: true }, false, 'a task runs'],
  ]
  for (const [what, change, failover, reason] of rows) {
    const d = decide({ ...base, ...change })
    t.equal(d.failover, failover, what)
    if (!d.failover && reason) t.match(d.reason, reason, `${what}: ${d.reason}`)
  }
  const d = decide({ ...base, replicas: [{ id: 'r1', linkUp: false }, { id: 'r2' }] })
  t.same(d.failover && d.replicas, ['r1'], 'only answering replicas are candidates')
  t.same(decide({ ...base, replicas: [{ id: 'r1' }] }), { failover: false, reason: 'no replica answers', degraded: true }, 'the degraded case is flagged')
})

t.test('the one rule both sides use: no promotion while any lease the server gave can still run', async (t) => {
  // The agent sends a heartbeat at its time S; the server receives it at R >= S (transit d) and acks it.
  for (const d of [0, 5, 250, 999]) {
    const S = 1_000
    const R = S + d
    const agentLeaseEnds = leaseExpiry(S, lease)
    const serverMayPromote = promotableAt(R, lease)
    t.ok(serverMayPromote - agentLeaseEnds >= lease.marginMs, `transit ${d} ms: the agent has at least the margin to fence (${serverMayPromote - agentLeaseEnds} ms)`)
  }
})
