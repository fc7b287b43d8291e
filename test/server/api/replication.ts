// Replication through the API with scripted agents: validations and faults, views,
// delete refused with replicas, and the create-replica / promote / eject / detach flows.
import t, { type Test } from 'tap'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { apiLab, otherMember, type ApiLab } from '../../helpers/api.js'
import { scriptedAgent, until, type ScriptedAgent, type ScriptedHandler } from '../../helpers/scripted-agent.js'
import { sample, serverModule } from '../../helpers/lab.js'
import { replicationSets } from '../../../src/server/db/replication-sets.js'
import { cliCommand } from '../../../src/server/endpoints/haproxy.js'
import { writerProxy } from '../../../src/server/endpoints/haproxy-config.js'

const fault = (name: string, code: number, message: string) => ({ [name]: { code, message } })

/** What a scripted source answers to get_replication_snapshot / get_replica_context. */
const context = (host: string) => ({
  master: { host, port: 3306 },
  replica_conf: { log_position: '0-1-5', replication_user: { name: 'slave_0123abcd', password: 'Secret-pw-1' } },
  datastore_manager: 'mariadb',
})

interface Member {
  id: string
  agent: ScriptedAgent
  calls: Array<[string, Record<string, unknown>]>
}

/** A scripted agent that records every call with its args (for order checks). */
async function member(t: Test, lab: ApiLab, id: string, handlers: Record<string, ScriptedHandler> = {}, log?: Array<[string, string]>): Promise<Member> {
  const calls: Array<[string, Record<string, unknown>]> = []
  const wrapped: Record<string, ScriptedHandler> = {}
  for (const m of [
    'make_read_only',
    'get_latest_txn_id',
    'wait_for_txn',
    'detach_replica',
    'enable_as_master',
    'get_replica_context',
    'attach_replica',
    'demote_replication_master',
    'get_last_txn',
    'get_replication_snapshot',
    ...Object.keys(handlers),
  ]) {
    wrapped[m] = (req) => {
      calls.push([req.method, req.args])
      log?.push([id, req.method])
      const h = handlers[req.method]
      if (h) return h(req)
      if (req.method === 'get_replica_context' || req.method === 'get_replication_snapshot') return context(`127.0.0.${id.length}`)
      if (req.method === 'get_latest_txn_id') return '0-1-7'
      return null
    }
  }
  await until(() => existsSync(join(lab.dataDir, 'instances', id, 'agent.json')), 5000, `agent.json of ${id}`)
  const agent = await scriptedAgent(lab.dataDir, id, wrapped)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  return { id, agent, calls }
}

async function show(lab: ApiLab, id: string) {
  return (await lab.req('GET', `/v1.0/${lab.demo.project}/instances/${id}`)).body.instance
}

async function active(lab: ApiLab, id: string) {
  await until(async () => (await show(lab, id)).status === 'ACTIVE', 5000, `${id} ACTIVE`)
}

/** A MariaDB source built to ACTIVE by a scripted agent. */
async function source(t: Test, lab: ApiLab, name: string, handlers: Record<string, ScriptedHandler> = {}, log?: Array<[string, string]>): Promise<Member> {
  const r = await lab.req('POST', `/v1.0/${lab.demo.project}/instances`, { body: { instance: { name, flavorRef: '1', volume: { size: 2 }, datastore: { type: 'mariadb' } } } })
  t.equal(r.status, 200, `source ${name} accepted`)
  const m = await member(t, lab, r.body.instance.id, handlers, log)
  await active(lab, m.id)
  return m
}

/** Replicas of `src` built to ACTIVE; returns the create response and the members. */
async function replicas(t: Test, lab: ApiLab, src: Member, name: string, count?: number, log?: Array<[string, string]>) {
  const body = { instance: { name, replica_of: src.id, ...(count ? { replica_count: count } : {}) } }
  const r = await lab.req('POST', `/v1.0/${lab.demo.project}/instances`, { body })
  t.equal(r.status, 200, `replica(s) ${name} accepted (${JSON.stringify(r.body).slice(0, 200)})`)
  const ids = lab.server.lab.instances.replicasOf(src.id).map((i) => i.id)
  const members = await Promise.all(ids.filter((id) => id !== src.id).map((id) => member(t, lab, id, {}, log)))
  for (const m of members) await active(lab, m.id)
  return { created: r.body.instance, members }
}

t.test('create replica: validations and faults in upstream order', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const src = await source(t, lab, 'src')
  const post = (instance: Record<string, unknown>) => lab.req('POST', `${p}/instances`, { body: { instance: { name: 'r', replica_of: src.id, ...instance } } })
  const cases: Array<[string, Record<string, unknown>, number, unknown]> = [
    ['flavor', { flavorRef: '1' }, 400, fault('badRequest', 400, 'Cannot specify flavor when creating replicas.')],
    ['datastore', { datastore: { type: 'mariadb' } }, 400, fault('badRequest', 400, 'Cannot specify datastore when creating replicas.')],
    ['volume', { volume: { size: 1 } }, 400, fault('badRequest', 400, 'Cannot specify volume when creating replicas.')],
    ['locality', { locality: 'affinity' }, 400, fault('badRequest', 400, 'Cannot specify locality when creating replicas.')],
    ['unknown source', { replica_of: '00000000-0000-0000-0000-000000000000' }, 404, fault('itemNotFound', 404, 'Resource 00000000-0000-0000-0000-000000000000 cannot be found.')],
    ['databases', { databases: [{ name: 'd' }] }, 400, fault('badRequest', 400, 'Cannot create a replica with users or databases.')],
    ['users', { users: [{ name: 'u', password: 'p' }] }, 400, fault('badRequest', 400, 'Cannot create a replica with users or databases.')],
    ['count over 3', { replica_count: 4 }, 400, fault('badRequest', 400, "Validation error: instance['replica_count'] 4 is greater than the maximum of 3")],
    ['not a uuid', { replica_of: 'src' }, 400, undefined],
  ]
  for (const [what, body, status, expected] of cases) {
    const r = await post(body)
    t.equal(r.status, status, `${what}: ${status}`)
    if (expected) t.same(r.body, expected, `${what}: fault`)
  }
  const other = otherMember(lab)
  const foreign = await lab.req('POST', `/v1.0/${other.project}/instances`, { token: other.token, body: { instance: { name: 'r', replica_of: src.id } } })
  t.same(foreign.body, fault('itemNotFound', 404, `Resource ${src.id} cannot be found.`), "another project's source: 404")

  // A source that cannot act: 422 (upstream's validate_can_perform_action).
  const building = (await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'b', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } } } })).body.instance.id
  t.same(
    (await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'r', replica_of: building } } })).body,
    fault('unprocessableEntity', 422, `Instance ${building} is not currently available for an action to be performed (instance status was BUILD).`),
    'source still building: 422',
  )
  t.equal(lab.server.lab.instances.replicasOf(src.id).length, 0, 'nothing was created')
  t.same(src.calls, [], 'the source was never asked for a snapshot')
})

t.test('create replicas: rows, names, quota, agent.json, views; delete refused; replica of a replica', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const src = await source(t, lab, 'db')
  const before = lab.server.lab.quotas.usage(lab.demo.project).find((u) => u.resource === 'instances')!.in_use
  const { created, members } = await replicas(t, lab, src, 'db-rep', 2)
  t.equal(members.length, 2, 'two replicas')
  t.equal(lab.server.lab.quotas.usage(lab.demo.project).find((u) => u.resource === 'instances')!.in_use, before + 2, 'quota taken for both')
  const names = await Promise.all(members.map(async (m) => (await show(lab, m.id)).name))
  t.same(names.sort(), ['db-rep-1', 'db-rep-2'], 'named <name>-1..N')
  t.equal(created.name, 'db-rep-2', 'the response is the last one created')
  t.match(created, { status: 'BUILD', flavor: { id: '1' }, volume: { size: 2 }, datastore: { type: 'mariadb' }, replica_of: { id: src.id } }, 'flavor, volume and datastore copied from the source')
  t.equal(src.calls.filter(([m]) => m === 'get_replication_snapshot').length, 2, 'one snapshot per replica')

  const bootFile = join(lab.dataDir, 'instances', members[0]!.id, 'agent.json')
  t.equal(statSync(bootFile).mode & 0o777, 0o600, 'agent.json is 0600')
  const boot = JSON.parse(readFileSync(bootFile, 'utf8'))
  t.same(boot.prepare.replica, { sourceId: src.id, snapshot: context(`127.0.0.${src.id.length}`) }, 'prepare.replica carries the source context')

  const s = await show(lab, src.id)
  t.same(s.replicas.map((r: { id: string }) => r.id).sort(), members.map((m) => m.id).sort(), 'source show: replicas')
  t.match(s.replicas[0].links, [{ rel: 'self', href: new RegExp(`/v1.0/${lab.demo.project}/instances/${s.replicas[0].id}$`) }, { rel: 'bookmark' }], 'with links')
  t.notOk('replica_of' in s, 'a source has no replica_of')
  const r = await show(lab, members[0]!.id)
  t.match(r.replica_of, { id: src.id, links: [{ rel: 'self' }, { rel: 'bookmark' }] }, 'replica show: replica_of')
  t.notOk('replicas' in r, 'a replica has no replicas')
  const list = (await lab.req('GET', `${p}/instances`)).body.instances
  t.equal(list.find((i: { id: string }) => i.id === src.id).replicas.length, 2, 'list: replicas on the source')
  t.equal(list.find((i: { id: string }) => i.id === members[0]!.id).replica_of.id, src.id, 'list: replica_of on a replica')

  t.same((await lab.req('DELETE', `${p}/instances/${src.id}`)).body, fault('forbidden', 403, 'Detach replicas before deleting replica source.'), 'delete refused while it has replicas')
  t.same(
    (await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'rr', replica_of: members[0]!.id } } })).body,
    fault('unauthorized', 401, `Cannot create a replica of a replica ${members[0]!.id}`),
    'replica of a replica: 401',
  )
})

t.test('a snapshot failure: the replica is ERROR (BUILDING_ERROR_REPLICA) with the fault, the source keeps running', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const src = await source(t, lab, 'db', {
    get_replication_snapshot: () => {
      throw new Error('mariadb-dump: access denied')
    },
  })
  const r = await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'rep', replica_of: src.id } } })
  const id = r.body.instance.id as string
  await until(async () => (await show(lab, id)).status === 'ERROR', 5000, 'replica ERROR')
  const rep = await show(lab, id)
  t.match(rep.fault.message, /Failed to create the replication snapshot of .*: mariadb-dump: access denied/, 'the fault says why')
  const mgmt = (await lab.req('GET', `/v1.0/${lab.admin.project}/mgmt/instances/${id}`, { token: lab.admin.token })).body.instance
  t.match(mgmt, { task_description: 'Build error: Replica.' })
  t.equal((await show(lab, src.id)).status, 'ACTIVE', 'the source is untouched')
  t.equal((await lab.req('DELETE', `${p}/instances/${id}`)).status, 202, 'the failed replica can be deleted')
})

t.test('promote: upstream order of guest calls, the old primary follows, tasks PROMOTE then NONE', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const log: Array<[string, string]> = []
  const src = await source(t, lab, 'db', {}, log)
  const { members } = await replicas(t, lab, src, 'rep', 2, log)
  const [cand, other] = members as [Member, Member]
  log.length = 0
  t.same(
    (await lab.req('POST', `${p}/instances/${src.id}/action`, { body: { promote_to_replica_source: {} } })).body,
    fault('badRequest', 400, `Instance ${src.id} is not a replica.`),
    'promote a source: 400',
  )

  const r = await lab.req('POST', `${p}/instances/${cand.id}/action`, { body: sample('instance-action-promote-replica-request.json') })
  t.equal(r.status, 202, 'accepted')
  await until(async () => (await show(lab, cand.id)).status === 'ACTIVE' && !(await show(lab, cand.id)).replica_of, 10_000, 'promoted')
  const order = log.map(([id, m]) => `${id === src.id ? 'old' : id === cand.id ? 'cand' : 'other'}:${m}`)
  t.same(
    order,
    [
      'old:make_read_only',
      'old:get_latest_txn_id',
      'cand:wait_for_txn',
      'cand:detach_replica',
      'cand:enable_as_master',
      'cand:make_read_only',
      'cand:get_replica_context',
      'other:detach_replica',
      'other:attach_replica',
      'old:attach_replica',
      'old:demote_replication_master',
    ],
    'internals.md 1.7 order',
  )
  t.same(cand.calls.find(([m]) => m === 'wait_for_txn')![1], { txn: '0-1-7' }, "the candidate waits for the old primary's last transaction")
  t.same(src.calls.find(([m]) => m === 'make_read_only')![1], { read_only: true })
  t.same(
    cand.calls.filter(([m]) => m === 'make_read_only').map(([, a]) => a),
    [{ read_only: false }],
    'the candidate becomes writable',
  )
  t.same(src.calls.find(([m]) => m === 'attach_replica')![1].replica_info, context(`127.0.0.${cand.id.length}`), 'the old primary follows the candidate')
  const c = await show(lab, cand.id)
  t.same(c.replicas.map((x: { id: string }) => x.id).sort(), [src.id, other.id].sort(), 'the candidate is the source of the set')
  t.equal((await show(lab, src.id)).replica_of.id, cand.id, 'the old primary is a replica')
  t.equal((await show(lab, other.id)).replica_of.id, cand.id, 'the other replica follows the candidate')
  for (const id of [src.id, cand.id, other.id]) t.equal((await show(lab, id)).status, 'ACTIVE', 'task NONE again')
  t.same(lab.server.lab.db.prepare("SELECT state, step FROM tasks WHERE kind = 'promote_to_replica_source'").get(), { state: 'done', step: 'finish' }, 'a recorded task')
})

t.test('promote failing: every member PROMOTION_ERROR with a fault on the candidate; reset clears it', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const src = await source(t, lab, 'db')
  const { members } = await replicas(t, lab, src, 'rep')
  const cand = members[0]!
  // The candidate cannot catch up.
  await cand.agent.close()
  const failing = await scriptedAgent(lab.dataDir, cand.id, {
    wait_for_txn: () => {
      throw new Error('the replica did not reach GTID 0-1-7 within 175 s')
    },
  })
  t.teardown(() => failing.close())
  await failing.heartbeat('HEALTHY')
  t.equal((await lab.req('POST', `${p}/instances/${cand.id}/action`, { body: { promote_to_replica_source: {} } })).status, 202)
  await until(async () => (await show(lab, cand.id)).status === 'ERROR', 5000, 'ERROR')
  t.equal((await show(lab, src.id)).status, 'ERROR', 'the source too')
  t.match((await show(lab, cand.id)).fault.message, /Replica promotion of .* failed: the replica did not reach GTID/)
  const mgmt = (await lab.req('GET', `/v1.0/${lab.admin.project}/mgmt/instances/${cand.id}`, { token: lab.admin.token })).body.instance
  t.match(mgmt, { task_description: 'Replica Promotion Error.' })
  t.equal((await show(lab, cand.id)).replica_of.id, src.id, 'still a replica of the source')
  t.equal((await lab.req('POST', `/v1.0/${lab.admin.project}/instances/${cand.id}/action`, { token: lab.admin.token, body: { reset_status: {} } })).status, 202, 'reset_status')
  t.not((await show(lab, cand.id)).status, 'ERROR', 'no longer ERROR by its task')
})

t.test('eject: only a source whose heartbeat is stale; the most advanced replica takes over', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const src = await source(t, lab, 'db')
  const { members } = await replicas(t, lab, src, 'rep', 2)
  const [a, b] = members as [Member, Member]
  const eject = () => lab.req('POST', `${p}/instances/${src.id}/action`, { body: sample('instance-action-eject-replica-request.json') })
  t.same((await eject()).body, fault('badRequest', 400, `Replica Source ${src.id} cannot be ejected as it has a current heartbeat`), 'a live source: 400')
  t.same((await lab.req('POST', `${p}/instances/${a.id}/action`, { body: { eject_replica_source: {} } })).body, fault('badRequest', 400, `Instance ${a.id} is not a replica source.`), 'a replica: 400')

  // The source goes silent; b is further ahead than a.
  await src.agent.close()
  lab.server.lab.db.prepare("UPDATE service_statuses SET updated_at = '2000-01-01T00:00:00' WHERE instance_id = ?").run(src.id)
  await a.agent.close()
  await b.agent.close()
  const host = `127.0.0.9:3306`
  // a's re-pointing is held until the writer endpoint is checked (a real one restarts its engine: seconds).
  let repointed!: () => void
  const held = new Promise<void>((r) => (repointed = r))
  t.teardown(() => repointed())
  const agentA = await scriptedAgent(lab.dataDir, a.id, { get_last_txn: () => [host, 10], get_replica_context: () => context('127.0.0.2'), attach_replica: () => held.then(() => true) })
  const agentB = await scriptedAgent(lab.dataDir, b.id, { get_last_txn: () => [host, 12], get_replica_context: () => context('127.0.0.3') })
  t.teardown(() => Promise.all([agentA.close(), agentB.close()]))
  await agentA.heartbeat('HEALTHY')
  await agentB.heartbeat('HEALTHY')
  // The set's writer endpoint (a real HAProxy, endpoints/sets.ts) reaches the source until the eject.
  const admin = join(lab.dataDir, 'endpoints', 'admin.sock')
  /** The writer proxy's servers that take connections (HAProxy's `show stat`: not in maintenance). */
  const writers = async () => {
    const set = replicationSets(lab.server.lab.db).ofInstance(src.id)
    if (!set) return []
    return (await cliCommand(admin, 'show stat'))
      .split('\n')
      .map((l) => l.split(','))
      .filter((f) => f[0] === writerProxy(set.id) && f[1] !== 'FRONTEND' && f[1] !== 'BACKEND' && f[17] !== 'MAINT')
      .map((f) => f[1])
  }
  let seen: unknown
  await until(async () => (seen = await writers().catch((e: Error) => e.message)).toString() === src.id, 30_000, 'the writer endpoint on the source').catch((e: Error) => {
    throw new Error(`${e.message}: ${JSON.stringify(seen)}`)
  })
  t.equal((await eject()).status, 202, 'a dead source: accepted')
  t.equal((await show(lab, src.id)).status, 'EJECT', 'EJECT while it runs')
  await agentA.called('attach_replica')
  t.same(await writers(), [b.id], 'b writable: the writer endpoint reaches it while a is still being re-pointed')
  t.equal((await show(lab, b.id)).status, 'EJECT', 'the flow still runs')
  repointed()
  await until(async () => !(await show(lab, b.id)).replica_of && (await show(lab, b.id)).status === 'ACTIVE', 10_000, 'b took over')
  await until(async () => (await show(lab, a.id)).status === 'ACTIVE', 5000, 'a ACTIVE')
  t.equal((await show(lab, a.id)).replica_of.id, b.id, 'a follows b')
  t.same(
    agentB.calls.filter((m) => !['get_filesystem_stats', 'rpc_ping', 'set_sync_replication'].includes(m)),
    ['get_last_txn', 'detach_replica', 'enable_as_master', 'make_read_only', 'get_replica_context'],
    'b: the candidate steps',
  )
  t.same(
    agentA.calls.filter((m) => !['get_filesystem_stats', 'rpc_ping', 'set_sync_replication'].includes(m)),
    ['get_last_txn', 'detach_replica', 'attach_replica'],
    'a: re-pointed',
  )
  t.notOk((await show(lab, src.id)).replicas, 'the dead source has no replicas left')
  t.equal((await show(lab, src.id)).status, 'ACTIVE', 'and its task is NONE')
})

t.test('detach: PUT/PATCH replica_of, task DETACH then NONE; the replica becomes standalone', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const src = await source(t, lab, 'db')
  const { members } = await replicas(t, lab, src, 'rep')
  const rep = members[0]!
  t.same(
    (await lab.req('PATCH', `${p}/instances/${src.id}`, { body: sample('instance-patch-detach-replica-request.json') })).body,
    fault('badRequest', 400, `Instance ${src.id} is not a replica.`),
    'a source: 400',
  )
  const r = await lab.req('PATCH', `${p}/instances/${rep.id}`, { body: { instance: { name: 'standalone', slave_of: null } } })
  t.equal(r.status, 202, 'PATCH slave_of accepted')
  await until(async () => !(await show(lab, rep.id)).replica_of, 5000, 'detached')
  const s = await show(lab, rep.id)
  t.match(s, { name: 'standalone', status: 'ACTIVE' }, 'renamed too, ACTIVE')
  t.same(
    rep.calls.filter(([m]) => m === 'detach_replica').map(([, a]) => a),
    [{ for_failover: false }],
    'detach_replica(for_failover=false)',
  )
  t.notOk((await show(lab, src.id)).replicas, 'the source has no replicas')
  t.equal((await lab.req('DELETE', `${p}/instances/${src.id}`)).status, 202, 'and can be deleted now')
})

t.test('a promote interrupted by a server restart resumes at its step and finishes', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const src = await source(t, lab, 'db')
  const { members } = await replicas(t, lab, src, 'rep')
  const cand = members[0]!
  await cand.agent.close()
  let waits = 0
  let release!: () => void
  const held = new Promise<void>((r) => (release = r))
  const slow = await scriptedAgent(lab.dataDir, cand.id, {
    wait_for_txn: async () => {
      if (++waits === 1) await held
      return null
    },
    get_replica_context: () => context('127.0.0.7'),
  })
  t.teardown(() => slow.close())
  await slow.heartbeat('HEALTHY')
  t.equal((await lab.req('POST', `${p}/instances/${cand.id}/action`, { body: { promote_to_replica_source: {} } })).status, 202)
  await slow.called('wait_for_txn')
  await lab.server.close()

  const { buildServer } = await serverModule()
  const again = await buildServer({ dataDir: lab.dataDir, host: '127.0.0.1', port: 0, spawnAgents: false, log: () => {} })
  await again.start()
  t.teardown(() => again.close())
  await Promise.all([slow.connected(2), src.agent.connected(2)])
  await slow.heartbeat('HEALTHY')
  await src.agent.heartbeat('HEALTHY')
  await until(() => again.lab.instances.get(cand.id)?.task_description === 'No tasks for the instance.', 10_000, 'promote finished')
  t.equal(waits, 2, 'the catch-up step ran again')
  t.notOk(again.lab.instances.get(cand.id)?.slave_of_id, 'the candidate is the source')
  t.equal(again.lab.instances.get(src.id)?.slave_of_id, cand.id, 'the old primary follows it')
  t.same(again.lab.db.prepare("SELECT state FROM tasks WHERE kind = 'promote_to_replica_source'").pluck().all(), ['done'], 'the same task finished')
  release()
})
