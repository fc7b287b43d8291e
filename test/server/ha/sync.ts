// Synchronous replication through the API with scripted agents on the real broker (ha/sync.ts,
// ha/sync-keeper.ts): the flag's refusals (nothing written, nothing sent), the view, the settings each
// member's engine gets (set_sync_replication), the report of a set whose commits wait, turning it off,
// and a promote moving it to the new primary before it takes a write.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { apiLab, otherMember, type ApiLab } from '../../helpers/api.js'
import { HA_MEMBER_METHODS, haMemberAnswer, scriptedAgent, until, type ScriptedAgent } from '../../helpers/scripted-agent.js'
import type { RpcRequest, SyncView } from '../../../src/protocol/index.js'

const fault = (name: string, code: number, message: string) => ({ [name]: { code, message } })

interface Member {
  id: string
  agent: ScriptedAgent
  requests: RpcRequest[]
}

/** What the scripted primaries answer to sync_view (changed by the test). */
let view: SyncView = { synchronous: true, acknowledging: 1, oldestWaitMs: 0 }

async function member(t: Test, lab: ApiLab, id: string): Promise<Member> {
  const requests: RpcRequest[] = []
  const handle = (req: RpcRequest): unknown => {
    requests.push(req)
    return req.method === 'sync_view' ? view : haMemberAnswer(req)
  }
  await until(() => existsSync(join(lab.dataDir, 'instances', id, 'agent.json')), 5000, `agent.json of ${id}`)
  const agent = await scriptedAgent(lab.dataDir, id, Object.fromEntries(HA_MEMBER_METHODS.map((m) => [m, handle])))
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  return { id, agent, requests }
}

const show = async (lab: ApiLab, id: string) => {
  const r = await lab.req('GET', `/v1.0/${lab.demo.project}/instances/${id}`)
  if (!r.body.instance) throw new Error(`GET ${id}: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.instance
}

async function instance(t: Test, lab: ApiLab, body: Record<string, unknown>): Promise<Member> {
  const r = await lab.req('POST', `/v1.0/${lab.demo.project}/instances`, { body: { instance: body } })
  t.equal(r.status, 200, `${String(body.name)} accepted`, { body: r.body })
  const m = await member(t, lab, r.body.instance.id)
  await until(async () => (await show(lab, m.id)).status === 'ACTIVE', 10_000, `${String(body.name)} ACTIVE`)
  return m
}

const lastSync = (m: Member) => m.requests.filter((r) => r.method === 'set_sync_replication').pop()?.args.sync

t.test('sync_replication: refusals, view, engines told, waiting reported, off, promote', async (t) => {
  // (The test polls the view: no rate limit; no real agent processes: scripted agents answer.)
  const lab = await apiLab(t, { rateLimits: [], spawnAgents: false })
  t.teardown(() => {
    if (t.passing() === false) t.comment(lab.logs.filter((l) => /sync|rpc/.test(l)).join('\n'))
  })
  const p = `/v1.0/${lab.demo.project}`
  const put = (id: string, instance: Record<string, unknown>) => lab.req('PUT', `${p}/instances/${id}`, { body: { instance } })
  const records = lab.server.lab.instances
  const src = await instance(t, lab, { name: 'src', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } })

  // Refusals: a clear fault, nothing written, nothing sent.
  t.same(
    (await put(src.id, { sync_replication: true })).body,
    fault('badRequest', 400, `Instance ${src.id} has no replicas: synchronous replication needs a replica source with one or more replicas.`),
    'no replicas: 400',
  )
  t.same((await put(src.id, { sync_replication: 'yes' })).body, fault('badRequest', 400, "Invalid sync_replication 'yes': true or false."), 'not a boolean: 400')
  const withSync = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'r0', replica_of: src.id, sync_replication: true } } })
  t.same(
    withSync.body,
    fault('badRequest', 400, 'Synchronous replication is set on a replica source once a replica is ACTIVE: create the replica, then update its source with sync_replication.'),
    'at create: 400 with the way to do it',
  )
  t.equal(records.replicaIds(src.id).length, 0, 'no replica made by the refused create')
  const redis = await instance(t, lab, { name: 'kv', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
  t.match(
    (await put(redis.id, { sync_replication: true })).body,
    { badRequest: { code: 400, message: /^Synchronous replication is not supported for datastore redis: Redis replicates asynchronously/ } },
    'redis: 400',
  )

  await src.agent.heartbeat('HEALTHY')
  const r1 = await instance(t, lab, { name: 'r1', replica_of: src.id })
  t.same((await show(lab, src.id)).sync_replication, false, 'a source shows sync_replication false')
  t.same(
    (await put(r1.id, { sync_replication: true })).body,
    fault('badRequest', 400, `Instance ${r1.id} is a replica: synchronous replication is set on its replica source ${src.id}.`),
    'on a replica: 400',
  )
  const other = otherMember(lab)
  const foreign = await lab.req('PUT', `/v1.0/${other.project}/instances/${src.id}`, { body: { instance: { sync_replication: true } }, token: other.token })
  t.equal(foreign.status, 404, 'a member of another project: 404 (not found)')
  records.setTask(r1.id, 'REBOOTING')
  t.equal((await put(src.id, { sync_replication: true })).status, 422, 'a task on a replica: 422')
  records.setTask(r1.id, 'NONE')
  // Its only replica's engine is down (its agent says so; the instance itself stays ACTIVE): none can acknowledge.
  await r1.agent.heartbeat('SHUTDOWN')
  await until(async () => (await show(lab, r1.id)).operating_status === 'SHUTDOWN', 5000, "r1's engine shown down")
  t.equal((await show(lab, r1.id)).status, 'ACTIVE', 'r1 itself ACTIVE')
  t.same(
    (await put(src.id, { sync_replication: true })).body,
    fault('unprocessableEntity', 422, `No replica of instance ${src.id} can acknowledge commits (none is ACTIVE with its engine running): synchronous replication would hold every write.`),
    'no replica with its engine running: 422',
  )
  await r1.agent.heartbeat('HEALTHY')
  await until(async () => (await show(lab, r1.id)).operating_status === 'HEALTHY', 5000, "r1's engine up again")
  t.equal(records.get(src.id)!.sync_replication, 0, 'nothing written by the refusals')
  t.notOk(
    [src, r1, redis].some((m) => m.requests.some((r) => r.method === 'set_sync_replication' && r.args.sync !== null)),
    'no engine was told to wait',
  )

  // On: the primary waits for r1, r1 acknowledges; both views show it.
  t.equal((await put(src.id, { sync_replication: true })).status, 202, 'on: 202')
  await until(
    () => JSON.stringify(lastSync(src)) === JSON.stringify({ role: 'primary', standbys: [r1.id] }) && JSON.stringify(lastSync(r1)) === '{"role":"replica"}',
    5000,
    'set_sync_replication to both',
  )
  await until(async () => (await show(lab, src.id)).sync_replication_status === 'synchronous', 5000, 'status synchronous')
  t.match(await show(lab, r1.id), { sync_replication: true, sync_replication_status: 'synchronous' }, "the replica shows its set's")

  // No replica acknowledges: shown at once, notified after the grace, and restored.
  view = { synchronous: true, acknowledging: 1, oldestWaitMs: 4000 }
  await until(async () => (await show(lab, src.id)).sync_replication_status === 'waiting', 5000, 'status waiting (a connected replica that does not answer)')
  const notes = (what: string) => lab.server.lab.notifications.list(`trove.instance.sync_replication.${what}`)
  await until(() => notes('waiting').length === 1, 10_000, 'a waiting notification')
  t.match(notes('waiting')[0]!.payload, { instance_id: src.id, message: /no replica can acknowledge; commits wait/ }, 'it says why and what to do')
  view = { synchronous: true, acknowledging: 1, oldestWaitMs: 0 }
  await until(() => notes('restored').length === 1, 5000, 'a restored notification')
  t.equal(notes('waiting').length, 1, 'one notification per episode')

  // A second replica joins the list of standbys.
  await src.agent.heartbeat('HEALTHY')
  const r2 = await instance(t, lab, { name: 'r2', replica_of: src.id })
  await until(() => JSON.stringify(lastSync(src)) === JSON.stringify({ role: 'primary', standbys: [r1.id, r2.id].sort() }), 5000, 'r2 among the standbys')
  await until(() => JSON.stringify(lastSync(r2)) === '{"role":"replica"}', 5000, 'r2 acknowledges')

  // Promote r1: it is set to wait for the others before it takes a write; the flag moves with it.
  for (const m of [src, r1, r2]) await m.agent.heartbeat('HEALTHY')
  const promote = await lab.req('POST', `${p}/instances/${r1.id}/action`, { body: { promote_to_replica_source: {} } })
  t.equal(promote.status, 202, 'promote accepted')
  await until(async () => (await show(lab, r1.id)).status === 'ACTIVE' && records.get(src.id)!.slave_of_id === r1.id, 10_000, 'promoted')
  const calls = r1.requests.map((r) => r.method)
  const syncAt = calls.lastIndexOf('set_sync_replication')
  t.ok(syncAt >= 0 && syncAt < calls.lastIndexOf('detach_replica'), 'the candidate waits for a replica before it leaves its source')
  t.same(
    r1.requests.filter((r) => r.method === 'set_sync_replication').find((r) => (r.args.sync as { role?: string } | null)?.role === 'primary')?.args.sync,
    { role: 'primary', standbys: [src.id, r2.id].sort() },
    'its standbys: the old primary and the other replica',
  )
  t.equal(records.get(r1.id)!.sync_replication, 1, 'the new primary has the flag')
  t.equal(records.get(src.id)!.sync_replication, 0, 'the old one not')
  await until(() => JSON.stringify(lastSync(src)) === '{"role":"replica"}', 5000, 'the old primary acknowledges now')

  // Off: the engines are told (a waiting commit is released), the views say so.
  t.equal((await put(r1.id, { sync_replication: false })).status, 202, 'off: 202')
  await until(() => lastSync(r1) === null && lastSync(src) === null && lastSync(r2) === null, 5000, 'every member told: not synchronous')
  t.equal((await show(lab, src.id)).sync_replication, false, 'shown off')

  // The last replica gone: the flag goes off, with a notification.
  t.equal((await put(r1.id, { sync_replication: true })).status, 202, 'on again')
  for (const r of [src, r2]) t.equal((await lab.req('DELETE', `${p}/instances/${r.id}`)).status, 202, 'replica deleted')
  await until(() => records.get(r1.id)!.sync_replication === 0, 20_000, 'off once no replica is left')
  t.equal(notes('off').length, 1, 'notified')
})
