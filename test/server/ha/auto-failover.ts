// Automatic failover through the API with scripted agents on the real broker (ha/): the flag
// (set, refused, shown, pushed to agents), lease renewals, and the detection: a slow primary
// whose engine answers, a replica that still streams, then all witnesses agree -> the eject flow
// runs by itself, the flag follows the new primary, the old one is never leased again.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { apiLab, type ApiLab } from '../../helpers/api.js'
import { HA_MEMBER_METHODS, haMemberAnswer, scriptedAgent, until, type ScriptedAgent, type ScriptedHandler } from '../../helpers/scripted-agent.js'
import type { RpcRequest } from '../../../src/protocol/index.js'

const fault = (name: string, code: number, message: string) => ({ [name]: { code, message } })
const HA = { heartbeatMs: 100, leaseMs: 400, marginMs: 200 }

interface Member {
  id: string
  agent: ScriptedAgent
  requests: RpcRequest[]
}

/** A scripted member answering HA calls (ha_view from `view()`) and the eject flow's calls. */
async function member(t: Test, lab: ApiLab, id: string, handlers: Record<string, ScriptedHandler> = {}): Promise<Member> {
  const requests: RpcRequest[] = []
  const record: ScriptedHandler = (req) => {
    requests.push(req)
    const h = handlers[req.method]
    return h ? h(req) : haMemberAnswer(req)
  }
  await until(() => existsSync(join(lab.dataDir, 'instances', id, 'agent.json')), 5000, `agent.json of ${id}`)
  const agent = await scriptedAgent(lab.dataDir, id, Object.fromEntries([...HA_MEMBER_METHODS, ...Object.keys(handlers)].map((m) => [m, record])))
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  return { id, agent, requests }
}

const show = async (lab: ApiLab, id: string) => (await lab.req('GET', `/v1.0/${lab.demo.project}/instances/${id}`)).body.instance

async function source(t: Test, lab: ApiLab, name: string): Promise<Member> {
  const r = await lab.req('POST', `/v1.0/${lab.demo.project}/instances`, { body: { instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } } } })
  const m = await member(t, lab, r.body.instance.id)
  await until(async () => (await show(lab, m.id)).status === 'ACTIVE', 5000, `${name} ACTIVE`)
  return m
}

/** A fake engine on the instance's address and port: a MariaDB greeting, so the server's probe succeeds. */
async function fakeEngine(t: Test, host: string, port: number): Promise<Server> {
  const s = createServer((c) => c.end(Buffer.from([0x05, 0, 0, 0, 0x0a, 0x31, 0x30, 0x2e, 0x00])))
  await new Promise<void>((res, rej) => s.once('error', rej).listen(port, host, () => res()))
  t.teardown(() => new Promise((r) => s.close(() => r(undefined))))
  return s
}

t.test('auto_failover: refusals, the flag in views, agents and bootstraps; detection and failover', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, ha: HA })
  const p = `/v1.0/${lab.demo.project}`
  const put = (id: string, instance: Record<string, unknown>) => lab.req('PUT', `${p}/instances/${id}`, { body: { instance } })
  const src = await source(t, lab, 'db')

  t.same(
    (await put(src.id, { auto_failover: true })).body,
    fault('badRequest', 400, `Instance ${src.id} has no replicas: automatic failover needs a replica source with one or more replicas.`),
    'no replicas: 400',
  )
  t.same((await put(src.id, { auto_failover: 'yes' })).body, fault('badRequest', 400, "Invalid auto_failover 'yes': true or false."), 'not a boolean: 400')
  const standalone = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'x', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' }, auto_failover: true } } })
  t.equal(standalone.status, 400, 'at create without replica_of: 400')
  t.notOk(
    lab.server.lab.instances.listAll().some((i) => i.name === 'x'),
    'nothing created',
  )

  // A replica created with auto_failover: the source's set gets the flag.
  const made = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'r1', replica_of: src.id, auto_failover: true } } })
  t.equal(made.status, 200, 'replica with auto_failover accepted')
  const r1 = await member(t, lab, made.body.instance.id, { get_last_txn: () => ['127.0.0.1:3306', 12] })
  await until(async () => (await show(lab, r1.id)).status === 'ACTIVE', 5000, 'r1 ACTIVE')
  t.equal((await show(lab, src.id)).auto_failover, true, 'the source shows auto_failover true')
  t.equal((await show(lab, r1.id)).auto_failover, true, "the replica shows its set's")
  t.same((await put(r1.id, { auto_failover: true })).body, fault('badRequest', 400, `Instance ${r1.id} is a replica: automatic failover is set on its replica source ${src.id}.`), 'on a replica: 400')
  lab.server.lab.instances.setTask(src.id, 'REBOOTING')
  t.equal((await put(src.id, { auto_failover: false })).status, 422, 'while a task runs: 422')
  lab.server.lab.instances.setTask(src.id, 'NONE')
  t.equal((await put(src.id, { auto_failover: false })).status, 202, 'off: 202')
  t.equal((await show(lab, src.id)).auto_failover, false, 'shown off')
  t.equal((await put(src.id, { auto_failover: true })).status, 202, 'on: 202')

  // The agents get their HA spec (set_ha) and their bootstraps keep it for their next start.
  const setHa = (m: Member) => m.requests.filter((r) => r.method === 'set_ha').pop()?.args.ha as { role?: string } | null | undefined
  await until(() => setHa(src)?.role === 'primary' && setHa(r1)?.role === 'replica', 5000, 'set_ha to both')
  t.same(setHa(src), { role: 'primary', ...HA }, "the primary's spec")
  // The primary's heartbeats are acknowledged with their own stamp (its lease).
  await src.agent.heartbeat('HEALTHY')
  const stamp = src.agent.lastSent
  await until(() => src.requests.some((r) => r.method === 'renew_lease' && r.args.sent === stamp), 5000, 'renew_lease of that heartbeat')
  // One whose engine is down is not (a crashed engine, or an agent holding it stopped): the witnesses decide.
  await src.agent.heartbeat('SHUTDOWN')
  const down = src.agent.lastSent
  await src.agent.heartbeat('HEALTHY')
  const up = src.agent.lastSent
  await until(() => src.requests.some((r) => r.method === 'renew_lease' && r.args.sent === up), 5000, 'renew_lease of the next healthy one')
  t.notOk(
    src.requests.some((r) => r.method === 'renew_lease' && r.args.sent === down),
    'no lease for a heartbeat with the engine down',
  )

  // A slow primary: no heartbeat for longer than the lease, but its engine answers the probe.
  const addr = lab.server.lab.instances.get(src.id)!
  const engine = await fakeEngine(t, addr.address!, addr.port!)
  let linkUp = true
  const views = () => r1.requests.filter((r) => r.method === 'ha_view').length
  const replicaView: ScriptedHandler = () => ({ linkUp, replicasConnected: null, leased: false, fenced: false })
  r1.requests.length = 0
  await r1.agent.close()
  const r1b = await scriptedAgent(lab.dataDir, r1.id, {
    ha_view: (req) => {
      r1.requests.push(req)
      return replicaView(req)
    },
    get_last_txn: () => ['127.0.0.1:3306', 12],
    get_replica_context: () => ({ master: { host: '127.0.0.1', port: 3306 }, replica_conf: { replication_user: { name: 'slave_1', password: 'Secret-pw-1' } } }),
    detach_replica: () => null,
    enable_as_master: () => null,
    make_read_only: () => null,
    renew_lease: (req) => {
      r1.requests.push(req)
      return null
    },
    set_ha: (req) => {
      r1.requests.push(req)
      return null
    },
  })
  t.teardown(() => r1b.close())
  await r1b.heartbeat('HEALTHY')
  const probesBefore = views()
  // (The monitor asks the replica only once the lease and margin have passed: each ha_view is a look.)
  await until(() => views() >= probesBefore + 3, 10_000, 'the monitor looked three times')
  t.equal(lab.server.lab.instances.get(src.id)!.slave_of_id ?? null, null, 'engine answers (slow primary): no failover')
  t.equal((await show(lab, src.id)).status, 'ACTIVE', 'nothing runs')

  // Engine gone, but the replica still streams from it: no failover either.
  await new Promise((r) => engine.close(() => r(undefined)))
  const before = views()
  await until(() => views() >= before + 3, 10_000, 'three more looks')
  t.notOk((await show(lab, r1.id)).replica_of === undefined, 'a replica that still streams: no failover')

  // Every witness agrees: the eject flow runs by itself; r1 is the primary and holds the flag.
  const notifications = () => lab.server.lab.notifications.list('trove.instance.auto_failover')
  linkUp = false
  await until(async () => (await show(lab, r1.id)).replica_of === undefined && (await show(lab, r1.id)).status === 'ACTIVE', 15_000, 'r1 promoted').catch((e) => {
    t.comment(lab.logs.filter((l) => /ha:|eject|task/.test(l)).join('\n'))
    throw e
  })
  await until(() => notifications().length === 1, 5000, 'the failover notification')
  const n = notifications()[0]!.payload as { instance_id: string; new_primary_id: string; timeline: Record<string, { after_fault_ms: number }> }
  t.equal(n.instance_id, src.id, 'names the old primary')
  t.equal(n.new_primary_id, r1.id, 'and the new one')
  t.same(Object.keys(n.timeline), ['last_heartbeat', 'fault_seen', 'agreed', 'writer_moved', 'promoted', 'endpoints_moved'], 'the timeline')
  t.ok(n.timeline.writer_moved!.after_fault_ms <= n.timeline.promoted!.after_fault_ms, 'the writer moved before the flow ended')
  t.comment(`timeline: ${JSON.stringify(n.timeline)}`)
  t.equal(lab.server.lab.instances.get(r1.id)!.auto_failover, 1, 'the flag follows the new primary')
  t.equal(lab.server.lab.instances.get(src.id)!.auto_failover, 2, 'the old primary is marked failed over')
  await until(() => (r1.requests.filter((r) => r.method === 'set_ha').pop()?.args.ha as { role?: string } | undefined)?.role === 'primary', 5000, 'r1 told it is the primary')
  // The old primary comes back: its heartbeats are never acknowledged again.
  const old = src.requests.filter((r) => r.method === 'renew_lease').length
  await src.agent.heartbeat('HEALTHY')
  await r1b.heartbeat('HEALTHY')
  const r1stamp = r1b.lastSent
  await until(() => r1.requests.some((r) => r.method === 'renew_lease' && r.args.sent === r1stamp), 5000, 'the new primary is leased')
  t.equal(src.requests.filter((r) => r.method === 'renew_lease').length, old, 'the failed-over primary is not')
  t.equal(lab.server.lab.instances.get(r1.id)!.auto_failover, 1, 'the new primary keeps the flag while the old one may rejoin')

  // The old primary rejoins as r1's replica (the rejoin flow's records): it leaves the failed-over mark, gets a replica's spec.
  lab.server.lab.instances.setSlaveOf(src.id, r1.id)
  await until(() => setHa(src)?.role === 'replica', 5000, 'the rejoined old primary is told it is a replica')
  t.equal(lab.server.lab.instances.get(src.id)!.auto_failover, 0, 'mark cleared')
  t.equal((await show(lab, src.id)).auto_failover, true, "it shows its set's flag")
})

t.test('the flag goes off when the last replica is detached', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, ha: HA })
  const p = `/v1.0/${lab.demo.project}`
  const src = await source(t, lab, 'db')
  const made = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'r1', replica_of: src.id, auto_failover: true } } })
  const r1 = await member(t, lab, made.body.instance.id)
  await until(async () => (await show(lab, r1.id)).status === 'ACTIVE', 5000, 'r1 ACTIVE')
  // Heartbeats keep the primary leased meanwhile (no failover while the detach runs).
  const beat = setInterval(() => void src.agent.heartbeat('HEALTHY'), 100)
  t.teardown(() => clearInterval(beat))
  // The primary's spec comes once its replica is idle (not while it is built).
  await until(() => src.requests.some((r) => r.method === 'set_ha' && (r.args.ha as { role?: string } | null)?.role === 'primary'), 5000, "the primary's spec")
  t.equal((await lab.req('PATCH', `${p}/instances/${r1.id}`, { body: { instance: { replica_of: null } } })).status, 202, 'detach accepted')
  await until(async () => (await show(lab, src.id)).auto_failover === undefined || (await show(lab, src.id)).auto_failover === false, 10_000, 'flag off')
  t.equal(lab.server.lab.instances.get(src.id)!.auto_failover, 0, 'off in the records')
  await until(() => src.requests.some((r) => r.method === 'set_ha' && r.args.ha === null), 5000, 'the agent leaves HA')
})

/** Once r1 is ACTIVE, the primary heartbeats until it has its spec (leased), then goes silent; nothing answers at its engine's address. */
async function silentOnceLeased(lab: ApiLab, src: Member, r1: Member): Promise<void> {
  await until(async () => (await show(lab, r1.id)).status === 'ACTIVE', 5000, 'r1 ACTIVE')
  const beat = setInterval(() => void src.agent.heartbeat('HEALTHY'), 100)
  try {
    await until(() => src.requests.some((r) => r.method === 'set_ha' && (r.args.ha as { role?: string } | null)?.role === 'primary'), 5000, "the primary's spec")
  } finally {
    clearInterval(beat)
  }
}

/** No failover recorded, r1 not promoted (no second primary), still following src. */
function nothingPromoted(t: Test, lab: ApiLab, src: Member, r1: Member): void {
  t.equal(lab.server.lab.notifications.list('trove.instance.auto_failover').length, 0, 'no failover recorded')
  t.notOk(
    r1.requests.some((r) => ['detach_replica', 'enable_as_master'].includes(r.method)),
    'the replica was not promoted (no second primary)',
  )
  t.equal(lab.server.lab.instances.get(r1.id)!.slave_of_id, src.id, 'it still follows the old primary')
}

// The replica's engine is down too: its agent cannot say how its link stands (a real one's query fails); or a
// hostile agent answers its view with null (once made the monitor's look throw: no decision, no report, ever).
const unanswered: Array<[string, () => unknown]> = [
  [
    'its view fails',
    () => {
      throw new Error('engine down')
    },
  ],
  ['its view is null', () => null],
]
for (const [how, view] of unanswered)
  t.test(`no replica able to take over (${how}): the set is DEGRADED and reported, nothing promoted`, async (t) => {
    const lab = await apiLab(t, { spawnAgents: false, ha: HA })
    const p = `/v1.0/${lab.demo.project}`
    const src = await source(t, lab, 'db')
    const made = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'r1', replica_of: src.id, auto_failover: true } } })
    const r1 = await member(t, lab, made.body.instance.id, { ha_view: view })
    await silentOnceLeased(lab, src, r1)
    const notes = () => lab.server.lab.notifications.list('trove.instance.auto_failover.degraded')
    await until(() => notes().length === 1, 10_000, 'the degraded notification')
    const message = `Automatic failover of ${src.id} cannot complete: the primary is gone and no replica answers; the set is DEGRADED.`
    t.match(notes()[0]!.payload, { instance_id: src.id, message }, 'notified, with why')
    t.equal((await show(lab, src.id)).fault?.message, message, "shown as the primary's fault")
    // The monitor goes on looking; nothing moves, and the report is not repeated.
    const looks = () => r1.requests.filter((r) => r.method === 'ha_view').length
    const before = looks()
    await until(() => looks() >= before + 3, 10_000, 'three more looks')
    t.equal(notes().length, 1, 'one report per episode')
    nothingPromoted(t, lab, src, r1)
    t.equal(lab.server.lab.instances.get(src.id)!.auto_failover, 1, 'the primary is not marked failed over')
    // The set's only primary may come back as it is: its next heartbeat is acknowledged, even with its engine down.
    await src.agent.heartbeat('SHUTDOWN')
    const stamp = src.agent.lastSent
    await until(() => src.requests.some((r) => r.method === 'renew_lease' && r.args.sent === stamp), 5000, 'its lease renewed')
    t.pass('the primary, heard again, is leased again (still the only one)')
  })

t.test('a failover that cannot complete: reported, the set in error, never two primaries', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, ha: HA })
  const p = `/v1.0/${lab.demo.project}`
  const src = await source(t, lab, 'db')
  const made = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'r1', replica_of: src.id, auto_failover: true } } })
  // The replica sees its link down (the witnesses agree), but cannot say how far it got: the eject flow fails.
  const r1 = await member(t, lab, made.body.instance.id, {
    ha_view: () => ({ linkUp: false, replicasConnected: null, leased: false, fenced: false }),
    get_last_txn: () => {
      throw new Error('engine down')
    },
  })
  await silentOnceLeased(lab, src, r1)
  const errors = () => lab.server.lab.notifications.list('trove.instance.auto_failover.error')
  await until(() => errors().length === 1, 15_000, 'the failover error notification')
  t.match(errors()[0]!.payload, { instance_id: src.id, error: /no replica reported its last transaction/ }, 'notified, with why')
  t.match((await show(lab, src.id)).fault?.message, /^Ejection of replica source .* failed: no replica reported its last transaction/, "shown as the primary's fault")
  t.same([(await show(lab, src.id)).status, (await show(lab, r1.id)).status], ['ERROR', 'ERROR'], 'both members shown in error')
  nothingPromoted(t, lab, src, r1)
  // The old primary is marked failed over first: never leased again, so its agent keeps its engine fenced.
  t.equal(lab.server.lab.instances.get(src.id)!.auto_failover, 2, 'the old primary is marked failed over')
  const leases = src.requests.filter((r) => r.method === 'renew_lease').length
  await src.agent.heartbeat('HEALTHY')
  await r1.agent.heartbeat('HEALTHY')
  await until(() => lab.server.lab.instances.lastSent(r1.id) === r1.agent.lastSent, 5000, 'a later heartbeat handled')
  t.equal(src.requests.filter((r) => r.method === 'renew_lease').length, leases, 'the old primary is not leased again')
})
