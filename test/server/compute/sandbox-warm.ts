// The warm sandboxes' bookkeeping (sandbox-warm.ts): ids drawn ahead as UUIDs, taken only for a pooled-size volume,
// each to one create, a dead one removed and the next tried, kept from the reconciler until its reserve, drained.
import t from 'tap'
import { WarmSandboxes } from '../../../src/server/compute/sandbox-warm.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

function harness(size: number) {
  const made: string[] = []
  const dropped: string[] = []
  const dead = new Set<string>()
  const logs: string[] = []
  const warm = new WarmSandboxes({
    size,
    make: async (id) => {
      made.push(id)
      return 1000 + made.length
    },
    drop: async (id) => {
      dropped.push(id)
    },
    alive: (id) => !dead.has(id),
    log: (m) => logs.push(m),
  })
  return { warm, made, dropped, dead, logs }
}

t.test('take: a warm sandbox per create of a 1 GB volume, under the id drawn for it', async (t) => {
  const h = harness(1)
  t.equal(h.warm.take(1), undefined, 'none before start')
  h.warm.start()
  await h.warm.settled()
  t.equal(h.made.length, 1, 'one made')
  t.match(h.made[0], UUID, 'its id is a UUID, as an instance id')
  t.equal(h.warm.take(2), undefined, 'a 2 GB volume: not this one (the cold path)')
  t.equal(h.warm.readyCount, 1, 'still ready')
  t.ok(h.warm.holds(h.made[0]!), 'ready: the lab keeps its directory')
  const id = h.warm.take(1)
  t.equal(id, h.made[0], 'a 1 GB volume takes it')
  t.equal(h.warm.take(1), undefined, 'never twice')
  t.ok(h.warm.holds(id!), 'taken, reserve not run yet: still kept')
  t.ok(h.warm.reserved(id!), 'its reserve finds it')
  t.notOk(h.warm.reserved(id!), 'once')
  t.notOk(h.warm.holds(id!), "then it is the instance's (its row names it)")
  t.notOk(h.warm.reserved('another'), 'an id never taken: a cold reserve')
})

t.test('a warm sandbox whose agent died is removed, and the next one taken', async (t) => {
  const h = harness(1)
  h.warm.start()
  await h.warm.settled()
  const first = h.made[0]!
  h.dead.add(first)
  t.equal(h.warm.take(1), undefined, 'the only one is dead: none')
  await new Promise((r) => setImmediate(r))
  t.same(h.dropped, [first], 'it was removed')
  t.match(h.logs.join('\n'), /its agent is gone: removed/)
  h.warm.refill()
  await h.warm.settled()
  const second = h.made[1]!
  t.not(second, first, 'a new one under a new id')
  t.equal(h.warm.take(1), second)
})

t.test('size 0 makes none; drain removes what no create took', async (t) => {
  const off = harness(0)
  off.warm.start()
  await off.warm.settled()
  t.equal(off.made.length, 0, 'size 0: none')
  const h = harness(1)
  h.warm.start()
  await h.warm.settled()
  await h.warm.drain()
  t.same(h.dropped, h.made, 'drained')
  h.warm.refill()
  await h.warm.settled()
  t.equal(h.made.length, 1, 'none made after a drain')
})
