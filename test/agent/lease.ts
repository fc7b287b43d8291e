// The primary's lease and fence (agent/lease.ts) with an injected clock, a fake engine and fake
// replication views: lapse + no replica -> fenced; lapse with replicas -> writable (failsafe);
// renewals count from the heartbeat's sending; an HA primary starts fenced until its first lease.
import t from 'tap'
import { Lease } from '../../src/agent/lease.js'
import { promotableAt, type HaSpec } from '../../src/protocol/index.js'

const spec: HaSpec = { role: 'primary', heartbeatMs: 100, leaseMs: 1000, marginMs: 400 }

function setup(o: { connected?: number; spec?: HaSpec; ejected?: boolean } = {}) {
  let now = 0
  const events: string[] = []
  const state = { connected: o.connected ?? 0, failViews: false, hangViews: false, pending: undefined as Promise<number> | undefined }
  const lease = new Lease(
    o.spec ?? spec,
    {
      fence: async () => void events.push('fence'),
      unfence: async () => void events.push('unfence'),
    },
    {
      replicasConnected: async () => {
        if (state.failViews) throw new Error('engine down')
        if (state.hangViews) return new Promise<number>(() => undefined)
        if (state.pending) return state.pending
        return state.connected
      },
      linkUp: async () => false,
    },
    () => undefined,
    () => now,
    o.ejected,
  )
  return { lease, events, state, at: (ms: number) => (now = ms) }
}

t.test('a lapsed lease with no replica connected fences; renewals count from sending', async (t) => {
  const { lease, events, at } = setup()
  at(0)
  lease.set(undefined)
  lease.set(spec) // made primary by set_ha: a first lease from now
  t.ok(lease.holds, 'set_ha primary: holds a first lease')
  lease.sent(1_000_000) // heartbeat stamp 1e6 sent at monotonic 0
  at(900)
  lease.renew(1_000_000)
  at(999)
  t.ok(lease.holds, 'still held just before sending + lease')
  at(1000)
  // A late acknowledgement of an old heartbeat does not stretch the lease.
  lease.renew(1_000_000)
  t.notOk(lease.holds, 'lapsed at sending + lease, however late the ack')
  lease.renew(42) // an unknown stamp: ignored
  t.notOk(lease.holds, 'an ack of a heartbeat never sent gives nothing')
  await lease.check()
  t.same(events, ['fence'], 'fenced')
  t.ok(lease.isFenced)
  t.ok(1000 < promotableAt(0, spec), 'fenced before the server may promote (lease + margin after it heard the heartbeat)')
  // The control plane is back and renews: the engine starts again.
  at(1100)
  lease.sent(1_000_100)
  lease.renew(1_000_100)
  await new Promise((r) => setImmediate(r))
  t.same(events, ['fence', 'unfence'], 'unfenced on a renewal')
  t.notOk(lease.isFenced)
})

t.test('failsafe: with replicas connected a lapsed lease keeps the engine writable', async (t) => {
  const { lease, events, state, at } = setup({ connected: 1 })
  lease.set(spec)
  at(5000)
  t.notOk(lease.holds, 'lapsed')
  await lease.check()
  t.same(events, [], 'not fenced while a replica is connected')
  state.connected = 0
  await lease.check()
  t.same(events, ['fence'], 'fenced once the replicas are gone')
})

t.test('a view that fails counts as no replica (fence on doubt)', async (t) => {
  const { lease, events, state, at } = setup({ connected: 1 })
  lease.set(spec)
  state.failViews = true
  at(5000)
  await lease.check()
  t.same(events, ['fence'])
})

t.test('a view that does not answer within the margin (1 s at least) counts as no replica (its SQL waits behind a stuck commit)', async (t) => {
  const { lease, events, state, at } = setup({ connected: 1 })
  lease.set(spec)
  state.hangViews = true
  at(5000)
  t.equal(lease.viewMs, 1000, 'the margin, 1 s at least')
  await lease.check()
  t.same(events, ['fence'], 'fenced, not stuck in the check')
})

t.test('set_ha `ejected` arriving while a check waits for the view: no fence (the rejoin needs the engine running)', async (t) => {
  const { lease, events, state, at } = setup({ connected: 1 })
  lease.set(spec)
  at(5000)
  let answer!: (n: number) => void
  state.pending = new Promise<number>((r) => (answer = r))
  const checking = lease.check()
  t.equal(lease.eject(), false, 'ejected while the check waits (the engine not held stopped)')
  answer(0)
  await checking
  t.same(events, [], 'not fenced')
  t.notOk(lease.isFenced)
})

t.test('an HA primary starts fenced until its first renewal; replicas never fence', async (t) => {
  const { lease, events, at } = setup({ spec })
  t.ok(lease.startsFenced(), 'the engine is held at boot')
  t.ok(lease.isFenced)
  lease.set(spec) // set_ha again (the server's reconcile): still no lease while fenced
  t.notOk(lease.holds, 'no lease from set_ha while held fenced')
  at(10)
  lease.sent(7)
  lease.renew(7)
  await new Promise((r) => setImmediate(r))
  t.same(events, ['unfence'], 'started once leased')

  const replica = setup({ spec: { ...spec, role: 'replica' } })
  t.notOk(replica.lease.startsFenced(), 'a replica starts normally')
  replica.at(100_000)
  t.ok(replica.lease.holds, 'a replica needs no lease')
  await replica.lease.check()
  t.same(replica.events, [], 'and never fences')
  t.same(await replica.lease.view(), { linkUp: false, replicasConnected: null, leased: false, fenced: false }, 'its view reports its link')
})

t.test('an ejected primary (a failover deposed it): its engine is neither held stopped nor fenced, until it has another role', async (t) => {
  const booted = setup({ ejected: true })
  t.notOk(booted.lease.startsFenced(), 'started with an ejected bootstrap: the engine starts (read-only, by the supervisor)')
  booted.at(5000)
  await booted.lease.check()
  t.same(booted.events, [], 'no lease, no replica: still not stopped (the rejoin flow needs it running)')

  // An agent that started before the eject holds its engine stopped; set_ha with `ejected` releases it.
  const live = setup()
  t.ok(live.lease.startsFenced(), 'an HA primary without a lease holds its engine')
  t.ok(live.lease.eject(), 'eject: the engine was held stopped (the caller starts it fenced read-only)')
  t.notOk(live.lease.isFenced)
  live.at(5000)
  await live.lease.check()
  t.same(live.events, [], 'ejected: the lease stops nothing')
  t.notOk(live.lease.eject(), 'a second eject: nothing held')

  // Rejoined: a replica of the new primary; promoted later, it is an ordinary HA primary again.
  live.lease.set({ ...spec, role: 'replica' })
  live.lease.set(spec)
  live.at(10_000)
  await live.lease.check()
  t.same(live.events, ['fence'], 'a primary again: its lease fences as before')
})
