// The pools' bookkeeping (sandbox-pool.ts): claims never hand one part out twice, refills stay within the size,
// a failed make stops the refills until the next claim, a drain removes every part it held or was making.
import t from 'tap'
import { PartPool, poolSizeFrom } from '../../../src/server/compute/sandbox-pool.js'

/** A pool whose makes resolve when the test says (`finish`), or fail (`fail`), recording what it made and dropped. */
function harness(size: number, sweeping?: () => Promise<unknown> | undefined) {
  const made: string[] = []
  const dropped: string[] = []
  const logs: string[] = []
  const pending: Array<{ key: string; resolve: (v: string) => void; reject: (e: Error) => void }> = []
  const pool = new PartPool<string>({
    size,
    what: 'part',
    log: (m) => logs.push(m),
    ...(sweeping ? { sweeping } : {}),
    make: (key) =>
      new Promise<string>((resolve, reject) => {
        made.push(key)
        pending.push({ key, resolve, reject })
      }),
    drop: async (key) => {
      dropped.push(key)
    },
  })
  const finish = async () => {
    for (const p of pending.splice(0)) p.resolve(`part-${p.key}`)
    await pool.settled()
  }
  const fail = async () => {
    for (const p of pending.splice(0)) p.reject(new Error('mkfs failed'))
    await pool.settled()
  }
  return { pool, made, dropped, logs, pending, finish, fail }
}

t.test('claims: each part to one caller, none when empty; keys of parts ready and being made', async (t) => {
  const h = harness(3)
  t.same(h.pool.keys(), [], 'a pool not started makes nothing')
  h.pool.start()
  t.equal(h.made.length, 3, 'start fills the pool')
  t.same(h.pool.keys().sort(), [...h.made].sort(), 'parts being made are listed (a sweep keeps them)')
  t.equal(h.pool.claim(), undefined, 'nothing ready while the makes run')
  await h.finish()
  t.equal(h.pool.readyCount, 3)
  // Five creates in one tick (as many as the event loop can run before a refill could).
  const got = [h.pool.claim(), h.pool.claim(), h.pool.claim(), h.pool.claim(), h.pool.claim()]
  const parts = got.filter((g) => g !== undefined).map((g) => g.part)
  t.equal(parts.length, 3, 'three claims get a part, two none')
  t.equal(new Set(parts).size, 3, 'no part twice')
  t.same(h.pool.keys(), [], 'claimed parts are no longer the pool’s')
  t.equal(h.made.length, 3, 'a claim starts no refill (the owner refills when creates go quiet)')
})

t.test('refill: up to the size, counting the parts being made', async (t) => {
  const h = harness(2)
  h.pool.start()
  h.pool.refill()
  h.pool.refill()
  t.equal(h.made.length, 2, 'refills while two are being made make none more')
  await h.finish()
  h.pool.claim()
  h.pool.refill()
  h.pool.refill()
  t.equal(h.made.length, 3, 'one claimed: one made')
  await h.finish()
  t.equal(h.pool.readyCount, 2)
  const zero = harness(0)
  zero.pool.start()
  zero.pool.refill()
  t.equal(zero.made.length, 0, 'size 0: the pool is off')
  t.equal(zero.pool.claim(), undefined)
})

t.test('a failed make: logged, no refill until the next claim', async (t) => {
  const h = harness(2)
  h.pool.start()
  await h.fail()
  t.equal(h.pool.readyCount, 0)
  t.same(h.pool.keys(), [], 'a failed part is not kept')
  t.match(h.logs, [/pool: a part was not made .*mkfs failed/])
  h.pool.refill()
  t.equal(h.made.length, 2, 'no retry loop on a broken host')
  t.equal(h.pool.claim(), undefined, 'the claim finds none (the create makes its own)')
  h.pool.refill()
  t.equal(h.made.length, 4, 'after a claim the pool tries again')
  await h.finish()
  t.equal(h.pool.readyCount, 2)
})

t.test('drain: the ready parts and those still being made are dropped; nothing is made after', async (t) => {
  const h = harness(2)
  h.pool.start()
  await h.finish()
  h.pool.claim()
  h.pool.refill()
  t.equal(h.pending.length, 1, 'one being made')
  const drained = h.pool.drain()
  await h.finish()
  await drained
  t.equal(h.dropped.length, 2, 'the ready one and the one made during the drain')
  t.equal(h.pool.readyCount, 0)
  h.pool.refill()
  t.equal(h.pending.length, 0, 'a drained pool makes nothing')
  t.equal(h.pool.claim(), undefined)
})

t.test('a refill waits for a running sweep of the lab (which would take a part made meanwhile for an orphan)', async (t) => {
  let end!: () => void
  let sweep: Promise<void> | undefined = new Promise<void>((r) => (end = r)).then(() => (sweep = undefined))
  const h = harness(2, () => sweep)
  h.pool.start()
  t.equal(h.made.length, 0, 'nothing made while the sweep runs')
  t.same(h.pool.keys(), [])
  end()
  await sweep
  await new Promise((r) => setImmediate(r))
  t.equal(h.made.length, 2, 'made once it ended')
  await h.finish()
  t.equal(h.pool.readyCount, 2)
})

t.test('TROVE_SANDBOX_POOL', async (t) => {
  t.equal(poolSizeFrom(undefined), 2, 'default')
  t.equal(poolSizeFrom(''), 2)
  t.equal(poolSizeFrom('0'), 0, 'off')
  t.equal(poolSizeFrom('5'), 5)
  t.throws(() => poolSizeFrom('-1'), /TROVE_SANDBOX_POOL=-1 refused: a whole number from 0 to 16/)
  t.throws(() => poolSizeFrom('17'), /refused/)
  t.throws(() => poolSizeFrom('two'), /refused/)
})
