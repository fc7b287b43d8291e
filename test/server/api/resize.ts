// Resize flavor/volume, upgrade and access through the API, with a scripted agent (no engines).
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RpcRequest } from '../../../src/protocol/index.js'
import { apiLab, type ApiLab } from '../../helpers/api.js'
import { deferred, scriptedAgent, until, type ScriptedHandler } from '../../helpers/scripted-agent.js'
import { sample, serverModule } from '../../helpers/lab.js'

const createBody = (name: string, o: Record<string, unknown> = {}) => ({ instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' }, ...o } })

async function activeInstance(t: Test, lab: ApiLab, name: string, handlers: Record<string, ScriptedHandler> = {}, o: Record<string, unknown> = {}) {
  const p = `/v1.0/${lab.demo.project}`
  const r = await lab.req('POST', `${p}/instances`, { body: createBody(name, o) })
  t.equal(r.status, 200, `create ${name}: ${JSON.stringify(r.body).slice(0, 200)}`)
  const id = r.body.instance.id as string
  const agent = await scriptedAgent(lab.dataDir, id, handlers)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  const show = async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance
  await until(async () => (await show()).status === 'ACTIVE', 5000, 'ACTIVE')
  return { id, agent, show, bootstrap: () => JSON.parse(readFileSync(join(lab.dataDir, 'instances', id, 'agent.json'), 'utf8')) }
}

const usage = async (lab: ApiLab, resource: string) =>
  ((await lab.req('GET', `/v1.0/${lab.admin.project}/mgmt/quotas/${lab.demo.project}`, { token: lab.admin.token })).body.quotas as Array<{ resource: string; in_use: number }>).find(
    (q) => q.resource === resource,
  )!.in_use

t.test('resize flavor: validations and faults', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const { id } = await activeInstance(t, lab, 'rf')
  const act = (body: unknown) => lab.req('POST', `${p}/instances/${id}/action`, { body })
  let r = await act({ resize: { flavorRef: '1' } })
  t.same([r.status, r.body], [400, { badRequest: { code: 400, message: "The new flavor id must be different than the current flavor id of '1'." } }], 'same flavor')
  r = await act({ resize: { flavorRef: 'http://x/flavors/1' } })
  t.equal(r.status, 400, 'an href naming the same flavor too')
  r = await act({ resize: { flavorRef: '99' } })
  t.same([r.status, r.body], [400, { badRequest: { code: 400, message: 'Resource 99 cannot be found.' } }], 'unknown flavor')
  r = await act({ resize: {} })
  t.equal(r.status, 400, 'neither flavorRef nor volume: schema')
  r = await act({ resize: { volume: { size: 0 } } })
  t.equal(r.status, 400, 'size 0: schema')

  lab.server.lab.db.prepare("INSERT INTO flavors (id, name, ram, vcpus, disk, ephemeral) VALUES ('77', 'eph', 1024, 1, 5, 10)").run()
  r = await act({ resize: { flavorRef: '77' } })
  t.same([r.status, r.body.notImplemented?.message], [501, 'Local storage not supported.'], 'a flavor with ephemeral storage: 501')

  // ram quota: 512 in use; a limit of 1000 refuses the 2048 MB flavor.
  await lab.req('PUT', `/v1.0/${lab.admin.project}/mgmt/quotas/${lab.demo.project}`, { token: lab.admin.token, body: { quotas: { ram: 1000 } } })
  r = await act({ resize: { flavorRef: '3' } })
  t.same([r.status, r.body], [413, { overLimit: { code: 413, message: "Quota exceeded for resources: ['ram']." } }], 'ram quota')
  t.equal((await lab.req('GET', `${p}/instances/${id}`)).body.instance.status, 'ACTIVE', 'nothing changed')
  t.equal(await usage(lab, 'ram'), 512)
})

t.test('resize flavor: RESIZE, the guest call, agent.json and flavor_id; modify_flavor notification', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const gate = deferred()
  let args: Record<string, unknown> | undefined
  const { id, show, bootstrap } = await activeInstance(t, lab, 'grow', {
    start_db_with_conf_changes: async (req: RpcRequest) => {
      args = req.args
      await gate.promise
      return null
    },
  })
  const r = await lab.req('POST', `${p}/instances/${id}/action`, { body: sample('instance-action-resize-request.json') })
  t.equal(r.status, 202, 'the upstream sample is accepted')
  const wanted = String((sample('instance-action-resize-request.json') as { resize: { flavorRef: string } }).resize.flavorRef)
    .split('/')
    .pop()
  await until(() => args !== undefined, 5000, 'start_db_with_conf_changes')
  const f = lab.server.lab.db.prepare('SELECT ram, vcpus FROM flavors WHERE id = ?').get(wanted) as { ram: number; vcpus: number }
  t.same(args, { flavor: { ramMb: f.ram, vcpus: f.vcpus } }, 'the guest gets the new flavor')
  t.same(bootstrap().flavor, { ramMb: f.ram, vcpus: f.vcpus }, 'agent.json has the new flavor')
  t.match(await show(), { status: 'RESIZE', flavor: { id: '1' } }, 'RESIZE meanwhile, old flavor shown')
  t.equal(await usage(lab, 'ram'), f.ram, 'ram quota committed at once (upstream)')
  const again = await lab.req('POST', `${p}/instances/${id}/action`, { body: { restart: {} } })
  t.equal(again.status, 422, 'no other action meanwhile')
  gate.resolve()
  await until(async () => (await show()).status === 'ACTIVE', 5000, 'ACTIVE')
  t.equal((await show()).flavor.id, wanted, 'flavor_id updated')
  const n = lab.server.lab.notifications.list('trove.instance.modify_flavor')
  t.equal(n.length, 1, 'modify_flavor emitted')
  t.match(n[0]!.payload, { instance_id: id, old_instance_size: 512, instance_size: f.ram, instance_type_id: wanted })
  t.equal(lab.server.lab.notifications.list('dbaas.instance_resize_instance.end').length, 1, 'resize end notification')
})

t.test('resize flavor failure: old flavor back (reset_configuration), fault, quota given back, ACTIVE', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  let reset: Record<string, unknown> | undefined
  const { id, show, bootstrap } = await activeInstance(t, lab, 'fails', {
    start_db_with_conf_changes: () => {
      throw new Error('mariadbd did not answer within 180 s')
    },
    reset_configuration: (req: RpcRequest) => {
      reset = req.args
      return null
    },
  })
  t.equal((await lab.req('POST', `${p}/instances/${id}/action`, { body: { resize: { flavorRef: '2' } } })).status, 202)
  await until(async () => (await show()).status === 'ACTIVE', 5000, 'ACTIVE again')
  const inst = await show()
  t.equal(inst.flavor.id, '1', 'still the old flavor')
  t.match(inst.fault?.message, /Resizing the instance to flavor 2 failed: mariadbd did not answer/, 'fault recorded')
  t.same(reset, { flavor: { ramMb: 512, vcpus: 1 } }, 'reset_configuration with the old flavor')
  t.same(bootstrap().flavor, { ramMb: 512, vcpus: 1 }, 'agent.json back on the old flavor')
  t.equal(await usage(lab, 'ram'), 512, 'ram usage given back')
})

t.test('resize volume: validations, quota, RESIZE then the new size', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, maxVolumeSize: 5 })
  const p = `/v1.0/${lab.demo.project}`
  const gate = deferred()
  let args: Record<string, unknown> | undefined
  const { id, show, bootstrap } = await activeInstance(t, lab, 'vol', {
    resize_fs: async (req: RpcRequest) => {
      args = req.args
      await gate.promise
      return { used: 0.05, total: 3, free: 1 }
    },
  })
  const act = (size: unknown) => lab.req('POST', `${p}/instances/${id}/action`, { body: { resize: { volume: { size } } } })
  let r = await act(1)
  t.same([r.status, r.body], [400, { badRequest: { code: 400, message: "The new volume 'size' must be larger than the current volume size of '1'." } }], 'not larger')
  r = await act(6)
  t.same([r.status, r.body], [413, { overLimit: { code: 413, message: "Volume 'size' cannot exceed maximum of 5 GB, 6 cannot be accepted." } }], 'over the max size')
  await lab.req('PUT', `/v1.0/${lab.admin.project}/mgmt/quotas/${lab.demo.project}`, { token: lab.admin.token, body: { quotas: { volumes: 2 } } })
  r = await act(3)
  t.same([r.status, r.body], [413, { overLimit: { code: 413, message: "Quota exceeded for resources: ['volumes']." } }], 'volumes quota')
  await lab.req('PUT', `/v1.0/${lab.admin.project}/mgmt/quotas/${lab.demo.project}`, { token: lab.admin.token, body: { quotas: { volumes: 10 } } })
  r = await lab.req('POST', `${p}/instances/${id}/action`, { body: sample('instance-action-resize-volume-request.json') })
  const wanted = Number((sample('instance-action-resize-volume-request.json') as { resize: { volume: { size: number } } }).resize.volume.size)
  t.equal(r.status, 202, `the upstream sample is accepted (${wanted} GB)`)
  await until(() => args !== undefined, 5000, 'resize_fs')
  t.same(args, { volumeSize: wanted })
  t.equal(bootstrap().volumeSize, wanted, 'agent.json has the new size')
  t.equal((await show()).status, 'RESIZE')
  gate.resolve()
  await until(async () => (await show()).status === 'ACTIVE', 5000, 'ACTIVE')
  t.equal((await show()).volume.size, wanted, 'volume_size updated')
  t.equal(await usage(lab, 'volumes'), wanted, 'volumes usage')
})

t.test('upgrade: validations, UPGRADE, pre_upgrade/upgrade/post_upgrade, agent.json', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const gate = deferred()
  let up: Record<string, unknown> | undefined
  const { id, show, bootstrap, agent } = await activeInstance(t, lab, 'up', {
    upgrade: async (req: RpcRequest) => {
      up = req.args
      await gate.promise
      return null
    },
  })
  const cur = (await show()).datastore.version as string
  const patch = (v: string) => lab.req('PATCH', `${p}/instances/${id}`, { body: { instance: { datastore_version: v } } })
  let r = await patch('nope')
  t.same([r.status, r.body], [400, { badRequest: { code: 400, message: "Datastore version 'nope' cannot be found." } }], 'unknown version')
  r = await patch(cur)
  t.equal(r.status, 400, 'the current version')
  t.match(r.body.badRequest.message, /already runs datastore version/)
  // A second version of the same engine, registered by an admin (same binaries).
  const engine = lab.server.lab.engines.find((e) => e.manager === 'postgresql')
  t.ok(engine, 'postgresql installed')
  const a = { token: lab.admin.token }
  r = await lab.req('POST', `/v1.0/${lab.admin.project}/mgmt/datastore-versions`, {
    ...a,
    body: {
      version: { name: `${engine!.version}-lab`, datastore_name: 'postgresql', datastore_manager: 'postgresql', active: true, image: '2e1fd1b6-5c34-4a47-9e43-2a3e5e3b5d5c', version: engine!.version },
    },
  })
  t.equal(r.status, 202, 'second version registered')
  r = await patch(`${engine!.version}-lab`)
  t.equal(r.status, 202, 'upgrade accepted')
  await agent.called('upgrade')
  t.equal((await show()).status, 'UPGRADE', 'UPGRADE meanwhile')
  t.match(up, { datastore: { version: `${engine!.version}-lab` } }, 'the guest gets the new version')
  t.equal(bootstrap().datastore.version, `${engine!.version}-lab`, 'agent.json switched')
  gate.resolve()
  await until(async () => (await show()).status === 'ACTIVE', 5000, 'ACTIVE')
  t.equal((await show()).datastore.version, `${engine!.version}-lab`, 'the instance shows the new version')
  t.same(
    agent.calls.filter((c) => /upgrade/.test(c)),
    ['pre_upgrade', 'upgrade', 'post_upgrade'],
  )
})

t.test('access: update_access with the new CIDRs, agent.json, task back to NONE; failure is UPDATING_ERROR_ACCESS', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  let got: Record<string, unknown> | undefined
  const { id, show, bootstrap } = await activeInstance(
    t,
    lab,
    'acc',
    {
      update_access: (req: RpcRequest) => {
        got = req.args
        return { enforced: true }
      },
    },
    { access: { is_public: false, allowed_cidrs: ['10.0.0.0/8'] } },
  )
  t.same(bootstrap().access, { isPublic: false, allowedCidrs: ['10.0.0.0/8'] }, 'create puts the access into agent.json')
  const r = await lab.req('PUT', `${p}/instances/${id}`, { body: { instance: { access: { is_public: true, allowed_cidrs: ['127.0.0.2/32'] } } } })
  t.equal(r.status, 202)
  await until(() => got !== undefined, 5000, 'update_access')
  t.same(got, { access: { isPublic: true, allowedCidrs: ['127.0.0.2/32'] } })
  await until(async () => (await show()).status === 'ACTIVE', 5000, 'ACTIVE')
  t.same(bootstrap().access, { isPublic: true, allowedCidrs: ['127.0.0.2/32'] }, 'agent.json updated')
  t.same((await show()).access, { is_public: true, allowed_cidrs: ['127.0.0.2/32'] })

  const { id: id2, show: show2 } = await activeInstance(t, lab, 'acc2', {
    update_access: () => {
      throw new Error('psql: connection refused')
    },
  })
  t.equal((await lab.req('PUT', `${p}/instances/${id2}`, { body: { instance: { access: { allowed_cidrs: ['10.1.0.0/16'] } } } })).status, 202)
  await until(async () => (await show2()).status === 'ERROR', 5000, 'ERROR')
  t.match((await show2()).fault?.message, /Updating the access of the instance failed: psql: connection refused/)
})

t.test('a resize interrupted by a server restart resumes and finishes', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const first = deferred()
  let calls = 0
  const { id, agent } = await activeInstance(t, lab, 'across', {
    start_db_with_conf_changes: async () => {
      calls++
      if (calls === 1) await first.promise
      return null
    },
  })
  t.equal((await lab.req('POST', `${p}/instances/${id}/action`, { body: { resize: { flavorRef: '2' } } })).status, 202)
  await agent.called('start_db_with_conf_changes')
  await lab.server.close()

  const { buildServer } = await serverModule()
  const again = await buildServer({ dataDir: lab.dataDir, host: '127.0.0.1', port: 0, spawnAgents: false, log: () => {} })
  await again.start()
  t.teardown(() => again.close())
  await agent.connected(2)
  await agent.heartbeat('HEALTHY')
  await agent.called('start_db_with_conf_changes', 2)
  await until(() => again.lab.instances.get(id)?.task_description === 'No tasks for the instance.', 5000, 'task NONE')
  t.equal(again.lab.instances.get(id)?.flavor_id, '2', 'resized')
  t.same(again.lab.db.prepare("SELECT state FROM tasks WHERE instance_id = ? AND kind = 'resize_flavor'").pluck().all(id), ['done'], 'the same task finished')
  first.resolve()
})
