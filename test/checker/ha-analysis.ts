// The HA checker's analysis (test/helpers/ha-checker.ts analyse) on synthetic histories: a clean failover,
// a lost acknowledged write, a split brain, and a run without failover; it reports what is in the history,
// so it cannot answer 0 by construction.
import t from 'tap'
import { analyse, reportLine, type History, type Op } from '../helpers/ha-checker.js'

const OLD = '10.0.0.2'
const NEW = '10.0.0.3'
const FAULT = 10_000

/** Key k sent at `sent`, acked 5 ms later by `server` (no server: unanswered). */
const op = (key: number, sent: number, server?: string): Op => (server ? { key, client: 1, sentAt: sent, ackAt: sent + 5, server } : { key, client: 1, sentAt: sent, error: 'no answer in 2000 ms' })

function history(ops: Op[], o: { old?: number[]; final: number[]; finalPrimary?: string }): History {
  return {
    ops,
    faultAt: FAULT,
    initialPrimary: OLD,
    finalPrimary: o.finalPrimary ?? NEW,
    members:
      o.finalPrimary === OLD
        ? [{ server: OLD, keys: o.final }]
        : [
            { server: OLD, keys: o.old ?? [] },
            { server: NEW, keys: o.final },
          ],
  }
}

t.test('a clean failover: nothing lost, no split brain, the failover time from the fault', async (t) => {
  const ops = [op(1, 9_000, OLD), op(2, 9_500, OLD), op(3, FAULT + 100), op(4, FAULT + 2_000, NEW), op(5, FAULT + 2_100, NEW)]
  const r = analyse(history(ops, { old: [1, 2], final: [1, 2, 4, 5] }))
  t.same(r, { attempted: 5, acked: 4, failedOver: true, lost: [], splitBrain: [], phantom: [], failoverMs: 2_005, longestGapMs: 2_005 })
  t.match(reportLine(r), /acked 4\/5, failover yes, first ack on the new primary after 2\.00 s, .* lost 0, split-brain 0/)
})

t.test('an acknowledged write the new primary never got is lost; an unacknowledged one is not', async (t) => {
  const ops = [op(1, 9_000, OLD), op(2, 9_900, OLD), op(3, 9_950), op(4, FAULT + 3_000, NEW)]
  const r = analyse(history(ops, { old: [1, 2, 3], final: [1, 4] }))
  t.same(r.lost, [2], 'key 2 was acked by the old primary and is not on the new one')
  t.same(r.splitBrain, [])
  t.equal(r.failoverMs, 3_005)
})

t.test('a write the old primary accepts after the new one took its first is split brain', async (t) => {
  const ops = [op(1, 9_000, OLD), op(2, FAULT + 1_000, NEW), op(3, FAULT + 1_200, OLD), op(4, FAULT + 800, OLD), op(5, FAULT + 1_300, NEW)]
  const r = analyse(history(ops, { old: [1, 3, 4], final: [1, 2, 5] }))
  t.same(r.splitBrain, [3], 'key 3: sent after the new primary acked key 2, acked by the old one')
  t.same(r.lost, [3, 4], 'and both writes of the old primary after the fault are lost')
})

t.test('no failover (the primary recovered in place): the time to its first ack after the fault', async (t) => {
  const ops = [op(1, 9_000, OLD), op(2, FAULT + 10), op(3, FAULT + 4_000, OLD)]
  const r = analyse(history(ops, { final: [1, 3], finalPrimary: OLD }))
  t.same(r, { attempted: 3, acked: 2, failedOver: false, lost: [], splitBrain: [], phantom: [], failoverMs: 4_005, longestGapMs: 4_005 })
})

t.test("a key on the final primary nobody sent is reported (the checker's own sanity)", async (t) => {
  const r = analyse(history([op(1, 9_000, OLD)], { final: [1, 99] }))
  t.same(r.phantom, [99])
  t.equal(r.failoverMs, undefined, 'no ack on the new primary: no failover time')
})
