import t, { type Test } from 'tap'
import { apiLab, heartbeatApplied, type ApiLab } from '../../helpers/api.js'
import { scriptedAgent, until, type ScriptedHandler } from '../../helpers/scripted-agent.js'
import type { RpcRequest } from '../../../src/protocol/index.js'

const fault = (name: string, code: number, message: string) => ({ [name]: { code, message } })

async function activeInstance(t: Test, lab: ApiLab, name: string, type: string, handlers: Record<string, ScriptedHandler> = {}) {
  const p = `/v1.0/${lab.demo.project}`
  const r = await lab.req('POST', `${p}/instances`, { body: { instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type } } } })
  t.equal(r.status, 200, `${name} created`)
  const id = r.body.instance.id as string
  const requests: RpcRequest[] = []
  const record =
    (method: string): ScriptedHandler =>
    (req) => {
      requests.push(req)
      return handlers[method] ? handlers[method]!(req) : null
    }
  const agent = await scriptedAgent(lab.dataDir, id, {
    ...handlers,
    update_overrides: record('update_overrides'),
    apply_overrides: record('apply_overrides'),
  })
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE')
  const show = async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance
  const guest = () => requests.map((q) => ({ method: q.method, args: q.args }))
  return { id, agent, show, guest, requests, url: `${p}/instances/${id}` }
}

async function group(lab: ApiLab, name: string, type: string, values: Record<string, unknown>, token?: string, project = lab.demo.project): Promise<string> {
  const v = (await lab.req('GET', `/v1.0/${project}/datastores/${type}/versions`, { token })).body.versions[0]
  const r = await lab.req('POST', `/v1.0/${project}/configurations`, { body: { configuration: { name, values, datastore: { type, version: v.name } } }, token })
  if (r.status !== 200) throw new Error(`group ${name}: ${JSON.stringify(r.body)}`)
  return r.body.configuration.id as string
}

t.test('attach a dynamic group: update_overrides, apply_overrides, ACTIVE; detach restores the base values live', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const inst = await activeInstance(t, lab, 'dyn', 'mariadb')
  const cfg = await group(lab, 'dyn', 'mariadb', { max_connections: 321, wait_timeout: 60 })

  const r = await lab.req('PUT', inst.url, { body: { instance: { configuration: cfg } } })
  t.equal(r.status, 202, 'attach: 202')
  t.equal(r.body, undefined, 'empty body')
  t.same(
    inst.guest(),
    [
      { method: 'update_overrides', args: { overrides: { max_connections: 321, wait_timeout: 60 }, remove: false } },
      { method: 'apply_overrides', args: { overrides: { max_connections: 321, wait_timeout: 60 } } },
    ],
    'values typed per parameter, persisted then applied live',
  )
  const shown = await inst.show()
  t.equal(shown.status, 'ACTIVE', 'all keys dynamic: ACTIVE at once')
  t.match(
    shown.configuration,
    { id: cfg, name: 'dyn', links: [{ rel: 'self', href: new RegExp(`/v1.0/${lab.demo.project}/configurations/${cfg}$`) }, { rel: 'bookmark' }] },
    'the instance view shows the group',
  )
  t.same((await lab.req('GET', `${p}/configurations/${cfg}/instances`)).body.instances, [{ id: inst.id, name: 'dyn' }], 'the group lists the instance')

  const eff = (await lab.req('GET', `${inst.url}/configuration`)).body.instance.configuration
  t.equal(eff.max_connections, 321, 'GET /instances/{id}/configuration: the override wins')
  t.equal(eff.wait_timeout, 60)
  t.equal(eff.connect_timeout, 15, 'base values of the flavor otherwise')
  t.ok(typeof eff.innodb_buffer_pool_size === 'string' && eff.innodb_buffer_pool_size.endsWith('M'))

  t.same(
    (await lab.req('PUT', inst.url, { body: { instance: { configuration: cfg } } })).body,
    fault('badRequest', 400, `Instance ${inst.id} already has a Configuration Group attached: ${cfg}.`),
    'already attached: 400',
  )
  t.same((await lab.req('DELETE', `${p}/configurations/${cfg}`)).status, 400, 'a used group cannot be deleted')

  // PATCH of the group re-applies it to the instance.
  inst.requests.length = 0
  t.equal((await lab.req('PATCH', `${p}/configurations/${cfg}`, { body: { configuration: { values: { max_connections: 222 } } } })).status, 200)
  t.same(
    inst.guest(),
    [
      { method: 'update_overrides', args: { overrides: { max_connections: 222, wait_timeout: 60 }, remove: false } },
      { method: 'apply_overrides', args: { overrides: { max_connections: 222, wait_timeout: 60 } } },
    ],
    'PATCH of the group re-applies it',
  )
  t.equal((await inst.show()).status, 'ACTIVE')

  inst.requests.length = 0
  const d = await lab.req('PUT', inst.url, { body: { instance: {} } })
  t.equal(d.status, 202, '{} detaches')
  t.same(
    inst.guest(),
    [
      { method: 'update_overrides', args: { overrides: {}, remove: true } },
      { method: 'apply_overrides', args: { overrides: { max_connections: 100, wait_timeout: 120 } } },
    ],
    'removed keys are dynamic with base values: those applied live',
  )
  const after = await inst.show()
  t.equal(after.status, 'ACTIVE')
  t.notOk('configuration' in after, 'no configuration in the view')
  t.equal((await lab.req('GET', `${inst.url}/configuration`)).body.instance.configuration.max_connections, 100, 'base value again')
  inst.requests.length = 0
  t.equal((await lab.req('PUT', inst.url, { body: { instance: { configuration: null } } })).status, 202, 'detach with nothing attached: a no-op')
  t.same(inst.guest(), [], 'no guest call')
  t.equal((await lab.req('DELETE', `${p}/configurations/${cfg}`)).status, 202, 'unused group deleted')
})

t.test('attach a restart-required group: RESTART_REQUIRED until restart; detach needs one too', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const inst = await activeInstance(t, lab, 'rr', 'postgresql')
  const cfg = await group(lab, 'rr', 'postgresql', { max_connections: 150, work_mem: '8MB' })

  t.equal((await lab.req('PATCH', inst.url, { body: { instance: { configuration: cfg } } })).status, 202, 'PATCH attaches too')
  t.same(inst.guest(), [{ method: 'update_overrides', args: { overrides: { max_connections: 150, work_mem: '8MB' }, remove: false } }], 'persisted, not applied')
  const shown = await inst.show()
  t.equal(shown.status, 'RESTART_REQUIRED', 'RESTART_REQUIRED')
  t.equal(shown.configuration.id, cfg)
  t.equal((await lab.req('GET', `${inst.url}/configuration`)).body.instance.configuration.max_connections, 150)

  // Heartbeats do not clear it; a restart does.
  await inst.agent.heartbeat('HEALTHY')
  // The heartbeat is through once the server recorded it (its handler runs at once, in full).
  await until(() => heartbeatApplied(lab, inst.id, inst.agent.lastSent), 5000, 'the heartbeat applied')
  t.equal((await inst.show()).status, 'RESTART_REQUIRED', 'still RESTART_REQUIRED after a heartbeat')
  t.same(
    (await lab.req('PUT', inst.url, { body: { instance: {} } })).body,
    fault('badRequest', 400, 'The operation you have requested cannot be executed because the instance status is currently: RESTART_REQUIRED.'),
    'no detach while RESTART_REQUIRED',
  )
  t.equal((await lab.req('POST', `${inst.url}/action`, { body: { restart: {} } })).status, 202, 'restart accepted')
  await inst.agent.called('restart')
  await until(async () => (await inst.show()).status === 'ACTIVE', 5000, 'ACTIVE after the restart')
  t.pass('restart clears RESTART_REQUIRED')

  inst.requests.length = 0
  t.equal((await lab.req('PUT', inst.url, { body: { instance: { configuration: null } } })).status, 202, 'detach')
  t.same(inst.guest(), [{ method: 'update_overrides', args: { overrides: {}, remove: true } }], 'max_connections needs a restart: nothing applied')
  const after = await inst.show()
  t.equal(after.status, 'RESTART_REQUIRED', 'RESTART_REQUIRED after the detach')
  t.notOk('configuration' in after)
  t.equal((await lab.req('GET', `${p}/configurations/${cfg}`)).body.configuration.instance_count, 0)
})

t.test('attach errors: version mismatch, another project, busy instance, guest failure', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  let fail = false
  const inst = await activeInstance(t, lab, 'err', 'mariadb', {
    update_overrides: () => {
      if (fail) throw new Error('disk full')
      return null
    },
  })
  const pg = await group(lab, 'pg', 'postgresql', { work_mem: '4MB' })
  const mine = await group(lab, 'mine', 'mariadb', { max_connections: 50 })
  const theirs = await group(lab, 'theirs', 'mariadb', { max_connections: 50 }, lab.admin.token, lab.admin.project)
  const show = inst.show

  const mismatch = await lab.req('PUT', inst.url, { body: { instance: { configuration: pg } } })
  t.equal(mismatch.status, 400, 'another datastore version: 400')
  t.match(mismatch.body.badRequest.message, /^Datastore Version on Configuration .* does not match the Datastore Version on the instance /)
  t.same(
    (await lab.req('PUT', inst.url, { body: { instance: { configuration: theirs } } })).body,
    fault('itemNotFound', 404, `Configuration group id: ${theirs} could not be found.`),
    "another project's group: 404",
  )
  t.same((await lab.req('PUT', inst.url, { body: { instance: { configuration: 'not-a-uuid' } } })).status, 400, 'not a uuid: schema 400')

  fail = true
  const failed = await lab.req('PUT', inst.url, { body: { instance: { configuration: mine, name: 'renamed' } } })
  t.equal(failed.status, 400, 'guest failure: 400')
  t.match(failed.body.badRequest.message, /disk full/)
  const s = await show()
  t.equal(s.status, 'ACTIVE', 'nothing recorded')
  t.notOk('configuration' in s)
  fail = false

  lab.server.lab.instances.setTask(inst.id, 'REBOOTING')
  t.same(
    (await lab.req('PUT', inst.url, { body: { instance: { configuration: mine } } })).body,
    fault('badRequest', 400, 'The operation you have requested cannot be executed because the instance status is currently: REBOOT.'),
    'task not NONE: 400',
  )
  lab.server.lab.instances.setTask(inst.id, 'NONE')
  t.equal((await lab.req('PUT', inst.url, { body: { instance: { configuration: mine } } })).status, 202, 'then it attaches')
  t.equal((await show()).configuration.name, 'mine')
})
