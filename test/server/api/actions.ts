import t, { type Test } from 'tap'
import { apiLab, type ApiLab } from '../../helpers/api.js'
import { deferred, scriptedAgent, until, type ScriptedHandler } from '../../helpers/scripted-agent.js'
import { sample, buildServer } from '../../helpers/lab.js'

const createBody = (name: string) => ({ instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } })

/** An instance built to ACTIVE by a scripted agent that answers calls with `handlers`. */
async function activeInstance(t: Test, lab: ApiLab, name: string, handlers: Record<string, ScriptedHandler> = {}) {
  const p = `/v1.0/${lab.demo.project}`
  const id = (await lab.req('POST', `${p}/instances`, { body: createBody(name) })).body.instance.id as string
  const agent = await scriptedAgent(lab.dataDir, id, handlers)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE')
  return { id, agent, show: async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance }
}

t.test('restart: REBOOT while the guest restarts, ACTIVE again after; a resumable task', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const gate = deferred()
  const { id, agent, show } = await activeInstance(t, lab, 'restart-me', { restart: () => gate.promise.then(() => null) })
  t.match(await show(), { status: 'ACTIVE', operating_status: 'HEALTHY' })

  const r = await lab.req('POST', `${p}/instances/${id}/action`, { body: sample('instance-action-restart-request.json') })
  t.equal(r.status, 202, 'the upstream sample is accepted')
  t.equal(r.body, undefined, 'empty body')
  await agent.called('restart')
  t.match(await show(), { status: 'REBOOT', operating_status: '' }, 'REBOOT while the guest restarts')
  const mgmt = (await lab.req('GET', `/v1.0/${lab.admin.project}/mgmt/instances/${id}`, { token: lab.admin.token })).body.instance
  t.match(mgmt, { task_description: 'Rebooting the instance.', service_status: 'RESTARTING' }, 'task REBOOTING, service RESTARTING')
  const again = await lab.req('POST', `${p}/instances/${id}/action`, { body: { restart: {} } })
  t.same(
    again.body,
    { unprocessableEntity: { code: 422, message: `Instance ${id} is not currently available for an action to be performed (task status was REBOOTING).` } },
    'no second restart meanwhile',
  )
  const task = lab.server.lab.db.prepare("SELECT kind, state, step FROM tasks WHERE instance_id = ? AND kind = 'restart_instance'").get(id)
  t.same(task, { kind: 'restart_instance', state: 'running', step: 'restart' }, 'recorded as a task')

  gate.resolve()
  await agent.heartbeat('HEALTHY')
  await until(async () => (await show()).status === 'ACTIVE', 5000, 'ACTIVE again')
  t.match(await show(), { status: 'ACTIVE', operating_status: 'HEALTHY' })
  t.same(lab.server.lab.db.prepare("SELECT state, error FROM tasks WHERE instance_id = ? AND kind = 'restart_instance'").get(id), { state: 'done', error: null })
})

t.test('a failed restart still ends the task (upstream: task NONE in finally) and is kept on the task row', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const { id, show } = await activeInstance(t, lab, 'fails', {
    restart: () => {
      throw new Error('postgres did not answer within 180 s')
    },
  })
  t.equal((await lab.req('POST', `${p}/instances/${id}/action`, { body: { restart: {} } })).status, 202)
  await until(() => lab.server.lab.db.prepare("SELECT state FROM tasks WHERE instance_id = ? AND kind = 'restart_instance'").pluck().get(id) === 'failed', 5000, 'task failed')
  t.equal((await show()).status, 'ACTIVE', 'task back to NONE')
  t.equal(lab.server.lab.db.prepare("SELECT error FROM tasks WHERE instance_id = ? AND kind = 'restart_instance'").pluck().get(id), 'postgres did not answer within 180 s')
})

t.test('a restart interrupted by a server restart resumes and finishes', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  let restarts = 0
  const first = deferred()
  const { id, agent } = await activeInstance(t, lab, 'across', {
    restart: async () => {
      restarts++
      if (restarts === 1) await first.promise
      return null
    },
  })
  t.equal((await lab.req('POST', `${p}/instances/${id}/action`, { body: { restart: {} } })).status, 202)
  await agent.called('restart')
  await lab.server.close()

  const again = await buildServer({ dataDir: lab.dataDir, host: '127.0.0.1', port: 0, spawnAgents: false, log: () => {} })
  await again.start()
  t.teardown(() => again.close())
  // Back on the new broker, the agent reports a guest that is not healthy: the restart is sent again.
  await agent.connected(2)
  await agent.heartbeat('RUNNING')
  await agent.called('restart', 2)
  await until(() => again.lab.instances.get(id)?.task_description === 'No tasks for the instance.', 5000, 'task NONE')
  t.same(again.lab.db.prepare("SELECT state FROM tasks WHERE instance_id = ? AND kind = 'restart_instance'").pluck().all(id), ['done'], 'the same task finished')
  first.resolve()
})

t.test('reset_status: admins only (policy 403), task NONE and service status unknown', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const building = (await lab.req('POST', `${p}/instances`, { body: createBody('stuck') })).body.instance.id as string
  const agent = await scriptedAgent(lab.dataDir, building)
  t.teardown(() => agent.close())
  await agent.heartbeat('BUILDING')

  const denied = await lab.req('POST', `${p}/instances/${building}/action`, { body: sample('instance-action-reset-status-request.json') })
  t.same(denied.body, { forbidden: { code: 403, message: "Policy doesn't allow instance:reset_status to be performed." } }, 'a member gets the policy 403')
  t.equal((await lab.req('GET', `${p}/instances/${building}`)).body.instance.status, 'BUILD', 'nothing changed')
  t.equal((await lab.req('DELETE', `${p}/instances/${building}`)).status, 422, 'a building instance cannot be deleted')

  const a = `/v1.0/${lab.admin.project}`
  const reset = await lab.req('POST', `${a}/instances/${building}/action`, { body: { reset_status: {} }, token: lab.admin.token })
  t.equal(reset.status, 202, "an admin resets another project's instance through the admin's own project")
  const shown = (await lab.req('GET', `${p}/instances/${building}`)).body.instance
  t.match(shown, { status: 'ACTIVE', operating_status: 'ERROR' }, 'the server (the agent) is up; the service status is unknown (API ERROR)')
  const mgmt = (await lab.req('GET', `${a}/mgmt/instances/${building}`, { token: lab.admin.token })).body.instance
  t.match(mgmt, { task_description: 'No tasks for the instance.', service_status: 'ERROR', guest_status: { state_description: 'unknown' } })

  const restart = await lab.req('POST', `${p}/instances/${building}/action`, { body: { restart: {} } })
  t.same(restart.body.unprocessableEntity.message, `Instance ${building} is not currently available for an action to be performed (service status was ERROR).`, 'an unknown guest cannot act')

  // force_delete asks for instance:force_delete (owner or admin): what `openstack database instance delete --force` sends first.
  const forced = await lab.req('POST', `${p}/instances/${building}/action`, { body: { reset_status: { force_delete: true } } })
  t.equal(forced.status, 202, 'an owner may reset before a forced delete')
  t.equal((await lab.req('DELETE', `${p}/instances/${building}`)).status, 202, 'and then delete')
})

t.test('reset_status of a build whose agent never came: SHUTDOWN, deletable', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const id = (await lab.req('POST', `${p}/instances`, { body: createBody('no-agent') })).body.instance.id as string
  const reset = await lab.req('POST', `/v1.0/${lab.admin.project}/instances/${id}/action`, { body: { reset_status: {} }, token: lab.admin.token })
  t.equal(reset.status, 202)
  t.equal((await lab.req('GET', `${p}/instances/${id}`)).body.instance.status, 'SHUTDOWN')
  t.equal((await lab.req('DELETE', `${p}/instances/${id}`)).status, 202)
})

t.test('bad action bodies get upstream faults (400, never 500) and change nothing', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const { id, agent, show } = await activeInstance(t, lab, 'steady')
  const url = `${p}/instances/${id}/action`
  const invalid = { badRequest: { code: 400, message: 'Invalid request body.' } }
  const cases: Array<[string, { body?: unknown; raw?: string }, number, unknown]> = [
    ['empty object', { body: {} }, 400, invalid],
    ['no body at all', {}, 400, invalid],
    ['an array', { body: [] }, 400, invalid],
    ['a list of actions', { body: ['restart'] }, 400, invalid],
    ['a string', { body: 'restart' }, 400, invalid],
    ['null', { raw: 'null' }, 400, invalid],
    ['malformed JSON', { raw: '{"restart": ' }, 400, { badRequest: { code: 400, message: 'Malformed request body' } }],
    ['an unknown action (upstream: 500)', { body: { reboot: {} } }, 400, { badRequest: { code: 400, message: 'Invalid instance action: reboot' } }],
    ['restart not an object', { body: { restart: 1 } }, 400, { badRequest: { code: 400, message: "Validation error: restart 1 is not of type 'object'" } }],
    ['restart null', { body: { restart: null } }, 400, { badRequest: { code: 400, message: "Validation error: restart None is not of type 'object'" } }],
    [
      'reset_status null after a valid first key',
      { body: { restart: {}, reset_status: null } },
      400,
      { badRequest: { code: 400, message: "Validation error: reset_status None is not of type 'object'" } },
    ],
    ['resize with neither flavor nor volume', { body: { resize: {} } }, 400, { badRequest: { code: 400, message: 'Validation error: resize {} is not valid under any of the given schemas' } }],
    [
      'resize to the same flavor (resize.ts has the rest)',
      { body: { resize: { flavorRef: '1' } } },
      400,
      { badRequest: { code: 400, message: "The new flavor id must be different than the current flavor id of '1'." } },
    ],
    [
      'resize volume not larger',
      { body: { resize: { volume: { size: 1 } } } },
      400,
      { badRequest: { code: 400, message: "The new volume 'size' must be larger than the current volume size of '1'." } },
    ],
    [
      'promote a non-replica (replication.ts has the rest)',
      { body: sample('instance-action-promote-replica-request.json') },
      400,
      { badRequest: { code: 400, message: `Instance ${id} is not a replica.` } },
    ],
    ['eject a non-source', { body: sample('instance-action-eject-replica-request.json') }, 400, { badRequest: { code: 400, message: `Instance ${id} is not a replica source.` } }],
    [
      'the last recognised key wins',
      { body: { restart: {}, bogus: 1, resize: { flavorRef: '1' } } },
      400,
      { badRequest: { code: 400, message: "The new flavor id must be different than the current flavor id of '1'." } },
    ],
  ]
  for (const [what, o, status, body] of cases) {
    const r = await lab.req('POST', url, o)
    t.equal(r.status, status, `${what}: status`)
    t.same(r.body, body, `${what}: fault`)
  }
  t.equal((await lab.req('POST', `${p}/instances/00000000-0000-0000-0000-000000000000/action`, { body: { restart: {} } })).status, 404, 'unknown instance')
  t.match(await show(), { status: 'ACTIVE', operating_status: 'HEALTHY' }, 'the instance is untouched')
  t.same(agent.calls, [], 'the guest was never called')
  t.equal(lab.server.lab.db.prepare("SELECT COUNT(*) FROM tasks WHERE kind <> 'create_instance'").pluck().get(), 0, 'no task was recorded')
})

t.test('restart needs an instance that can act', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const id = (await lab.req('POST', `${p}/instances`, { body: createBody('building') })).body.instance.id as string
  const r = await lab.req('POST', `${p}/instances/${id}/action`, { body: { restart: {} } })
  t.same(r.body, { unprocessableEntity: { code: 422, message: `Instance ${id} is not currently available for an action to be performed (instance status was BUILD).` } })

  // A guest whose heartbeat went stale reads as "guestagent error" (upstream's instance load).
  const stale = await apiLab(t, { spawnAgents: false, heartbeatExpiryMs: 300 })
  const sp = `/v1.0/${stale.demo.project}`
  const { id: quiet } = await activeInstance(t, stale, 'quiet')
  await until(async () => (await stale.req('GET', `${sp}/instances/${quiet}`)).body.instance.operating_status === 'ERROR', 1200, 'the heartbeat gone stale')
  const refused = await stale.req('POST', `${sp}/instances/${quiet}/action`, { body: { restart: {} } })
  t.equal(refused.body.unprocessableEntity.message, `Instance ${quiet} is not currently available for an action to be performed (service status was ERROR).`)
})
