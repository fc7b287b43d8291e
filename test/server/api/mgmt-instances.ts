import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { apiLab, missingFields, type ApiLab } from '../../helpers/api.js'
import { ROOT, sample } from '../../helpers/lab.js'
import { scriptedAgent, until, type ScriptedHandler } from '../../helpers/scripted-agent.js'
import { LAB_NETWORK } from '../../../src/server/http/views.js'

const createBody = (name: string) => ({ instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } })

/** Creates an instance as `who`; with `health`, a scripted agent reports it. */
async function instance(t: Test, lab: ApiLab, who: 'demo' | 'admin', name: string, health?: 'HEALTHY' | 'FAILED', handlers: Record<string, ScriptedHandler> = {}) {
  const { project, token } = lab[who]
  const id = (await lab.req('POST', `/v1.0/${project}/instances`, { body: createBody(name), token })).body.instance.id as string
  const agent = await scriptedAgent(lab.dataDir, id, handlers)
  t.teardown(() => agent.close())
  if (health) {
    await agent.heartbeat(health, health === 'FAILED' ? 'initdb: could not create directory' : undefined)
    const want = health === 'HEALTHY' ? 'ACTIVE' : 'ERROR'
    await until(async () => (await lab.req('GET', `/v1.0/${project}/instances/${id}`, { token })).body.instance.status === want, 5000, want)
  }
  return { id, agent }
}

t.test('mgmt list and show: every project, upstream shapes, filters and offset pages', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const a = `/v1.0/${lab.admin.project}`
  const admin = { token: lab.admin.token }
  const active = await instance(t, lab, 'demo', 'active', 'HEALTHY')
  const failed = await instance(t, lab, 'demo', 'failed', 'FAILED')
  const building = await instance(t, lab, 'admin', 'building')

  const list = await lab.req('GET', `${a}/mgmt/instances`, admin)
  t.equal(list.status, 200)
  const byId = (id: string) => list.body.instances.find((i: { id: string }) => i.id === id)
  t.equal(list.body.instances.length, 3, "every project's instances")
  t.notOk(list.body.links, 'no next page')
  const samples = (sample('instance-mgmt-list-response.json') as { instances: unknown[] }).instances
  t.same(missingFields(byId(active.id), samples[0]), [], 'an ACTIVE instance has every field of the sample')
  t.same(missingFields(byId(failed.id), samples[1]), [], 'a failed one too, with its fault')
  t.match(byId(active.id), {
    status: 'ACTIVE',
    operating_status: 'HEALTHY',
    service_status: 'HEALTHY',
    tenant_id: lab.demo.project,
    deleted: false,
    deleted_at: null,
    task_description: 'No tasks for the instance.',
    server_id: active.id,
    volume_id: active.id,
    encrypted_rpc_messaging: false,
    server: { id: active.id, name: 'active', status: 'ACTIVE', tenant_id: lab.demo.project, host: hostname() },
  })
  t.match(byId(failed.id), { status: 'ERROR', task_description: 'Build error: guestagent timeout.', fault: { message: 'initdb: could not create directory' } })
  t.match(byId(building.id), { status: 'BUILD', service_status: 'NEW', tenant_id: lab.admin.project, server: { status: 'BUILD' } })

  const demoOnly = await lab.req('GET', `${a}/mgmt/instances?project_id=${lab.demo.project}`, admin)
  t.same(demoOnly.body.instances.map((i: { id: string }) => i.id).sort(), [active.id, failed.id].sort(), 'project_id filter')

  const page1 = await lab.req('GET', `${a}/mgmt/instances?limit=2`, admin)
  t.equal(page1.body.instances.length, 2)
  const next = new URL(page1.body.links[0].href)
  t.equal(page1.body.links[0].rel, 'next')
  t.equal(next.searchParams.get('marker'), '2', 'the marker is an offset')
  const page2 = await lab.req('GET', `${next.pathname}${next.search}`, admin)
  t.equal(page2.body.instances.length, 1)
  t.notOk(page2.body.links, 'the last page has no next link')
  t.same([...page1.body.instances, ...page2.body.instances].map((i: { id: string }) => i.id).sort(), [active.id, failed.id, building.id].sort())

  for (const [q, message] of [
    ['limit=x', "Invalid limit 'x'."],
    ['marker=-1', "Invalid marker '-1'."],
  ]) {
    t.same((await lab.req('GET', `${a}/mgmt/instances?${q}`, admin)).body, { badRequest: { code: 400, message } }, q)
  }

  const shown = await lab.req('GET', `${a}/mgmt/instances/${active.id}`, admin)
  t.equal(shown.status, 200)
  const showSample = structuredClone(sample('instance-mgmt-show-response.json')) as { instance: { server: { addresses: Record<string, unknown> } } }
  // Network names are data, not fields: the lab's one network stands for the sample's "private".
  showSample.instance.server.addresses = { [LAB_NETWORK]: showSample.instance.server.addresses.private }
  t.same(missingFields(shown.body, showSample), [], 'show has every field of the sample')
  const inst = shown.body.instance
  t.same(inst.server.addresses[LAB_NETWORK][0].addr, byId(active.id).ip[0])
  t.match(inst.volume, { id: active.id, size: 1, total: 1, status: 'in-use', created_at: byId(active.id).created })
  t.ok(inst.volume.used > 0 && inst.volume.used < 1, 'used: what the instance directory occupies, in GB')
  t.equal(inst.volume.attachments[0].device, join(lab.dataDir, 'instances', active.id), 'the volume is the instance directory')
  t.same(inst.guest_status, { state_description: 'healthy' })

  // A deleted instance: listed with deleted=true, shown with ?deleted=true only.
  t.equal((await lab.req('DELETE', `/v1.0/${lab.demo.project}/instances/${failed.id}`)).status, 202)
  await until(() => lab.server.lab.instances.getAny(failed.id)?.deleted === 1, 10_000, 'deleted')
  const deleted = await lab.req('GET', `${a}/mgmt/instances?deleted=true`, admin)
  t.same(
    deleted.body.instances.map((i: { id: string }) => i.id),
    [failed.id],
  )
  t.match(deleted.body.instances[0], { status: 'SHUTDOWN', deleted: true, deleted_at: String, server: null })
  t.same(
    (await lab.req('GET', `${a}/mgmt/instances?deleted=False`, admin)).body.instances.map((i: { id: string }) => i.id).sort(),
    [active.id, building.id].sort(),
    'deleted=False (as the openstack client sends it)',
  )
  t.equal((await lab.req('GET', `${a}/mgmt/instances`, admin)).body.instances.length, 3, 'no filter: deleted ones too (upstream)')
  t.same((await lab.req('GET', `${a}/mgmt/instances/${failed.id}`, admin)).body, { itemNotFound: { code: 404, message: `Resource ${failed.id} cannot be found.` } })
  const gone = (await lab.req('GET', `${a}/mgmt/instances/${failed.id}?deleted=true`, admin)).body.instance
  t.match(gone, { deleted: true, server: { id: failed.id }, volume: { id: failed.id }, status: 'SHUTDOWN' })
})

t.test('root history, diagnostics, hwinfo and rpc_ping', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const a = `/v1.0/${lab.admin.project}`
  const admin = { token: lab.admin.token }
  const up = await instance(t, lab, 'demo', 'up', 'HEALTHY', { rpc_ping: () => true, enable_root: () => ({ name: 'root', password: 'R'.repeat(36) }), disable_root: () => null })
  const broken = await instance(t, lab, 'demo', 'broken', 'HEALTHY', {
    rpc_ping: () => {
      throw new Error('rpc_ping is broken')
    },
  })
  const silent = await instance(t, lab, 'demo', 'silent')

  const root = await lab.req('GET', `${a}/mgmt/instances/${up.id}/root`, admin)
  t.same(missingFields(root.body, sample('user-show-root-history-response.json')), [])
  t.same(root.body, { root_history: { id: up.id, enabled: 'Never', user: 'Nobody' } }, 'no root history yet')
  t.notOk('root_enabled' in (await lab.req('GET', `${a}/mgmt/instances/${up.id}`, admin)).body.instance, 'mgmt show: no root_enabled before an enable')
  // The demo user enables root: the history names that user and the time, in mgmt root and mgmt show.
  const before = new Date().toISOString().slice(0, 19)
  t.equal((await lab.req('POST', `/v1.0/${lab.demo.project}/instances/${up.id}/root`)).status, 200)
  const after = new Date().toISOString().slice(0, 19)
  const demoUser = lab.server.lab.identity.userByName('demo')!.id
  const hist = (await lab.req('GET', `${a}/mgmt/instances/${up.id}/root`, admin)).body.root_history
  t.equal(hist.id, up.id)
  t.equal(hist.user, demoUser, 'the user who enabled root')
  t.match(hist.enabled, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/, 'upstream date form')
  t.ok(hist.enabled >= before && hist.enabled <= after, `enabled at the enable (${before} <= ${hist.enabled} <= ${after})`)
  t.match((await lab.req('GET', `${a}/mgmt/instances/${up.id}`, admin)).body.instance, { root_enabled: hist.enabled, root_enabled_by: demoUser }, 'mgmt show')
  t.equal((await lab.req('DELETE', `/v1.0/${lab.demo.project}/instances/${up.id}/root`)).status, 204)
  t.same((await lab.req('GET', `${a}/mgmt/instances/${up.id}/root`, admin)).body.root_history, hist, 'a disable keeps the history (upstream)')

  t.match(
    (await lab.req('GET', `${a}/mgmt/instances/${up.id}/hwinfo`, admin)).body,
    { hwinfo: { mem_total: 512, num_cpus: 1, limits: /cgroup v[12]|not enforced/ } },
    'the flavor (m1.tiny), and what of it is enforced',
  )

  const ping = await lab.req('GET', `${a}/mgmt/instances/${up.id}/rpc_ping`, admin)
  t.equal(ping.status, 204)
  t.equal(ping.body, undefined)
  t.ok(up.agent.calls.includes('rpc_ping'), 'a real guest call')
  t.same((await lab.req('GET', `${a}/mgmt/instances/${broken.id}/rpc_ping`, admin)).body, { badRequest: { code: 400, message: 'An error occurred communicating with the guest: rpc_ping is broken.' } })
  const t0 = Date.now()
  t.same((await lab.req('GET', `${a}/mgmt/instances/${silent.id}/rpc_ping`, admin)).body, {
    badRequest: { code: 400, message: `An error occurred communicating with the guest: the guest agent of instance ${silent.id} is not running.` },
  })
  // Generous for a busy machine, and still well under the 15 s call timeout a wait-it-out would take.
  t.ok(Date.now() - t0 < 10_000, 'an agent known to be down fails at once')

  // Diagnostics read the agent's /proc: stand in a process for it (its command line names the instance directory).
  const t1 = await lab.req('GET', `${a}/mgmt/instances/${up.id}/diagnostics`, admin)
  t.same(t1.body, { badRequest: { code: 400, message: `An error occurred communicating with the guest: the guest agent of instance ${up.id} is not running.` } }, 'no agent process')
  const dir = join(lab.dataDir, 'instances', up.id)
  const stand = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', join(dir, 'agent.json')], { stdio: 'ignore' })
  t.teardown(() => {
    stand.kill('SIGKILL')
  })
  writeFileSync(join(dir, 'agent.pid'), `${stand.pid}\n`)
  await until(() => readFileSync(`/proc/${stand.pid}/cmdline`, 'utf8').includes(dir), 5000, 'the stand-in process')
  const diag = await lab.req('GET', `${a}/mgmt/instances/${up.id}/diagnostics`, admin)
  t.equal(diag.status, 200)
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
  t.match(diag.body.diagnostics, { version, threads: Number, fdSize: Number, vmSize: Number, vmPeak: Number, vmRss: Number, vmHwm: Number })
  const d = diag.body.diagnostics
  t.ok(d.threads >= 1 && d.fdSize >= d.openFds && d.openFds >= 3 && d.vmPeak >= d.vmSize && d.vmHwm >= d.vmRss && d.vmRss > 0, `plausible numbers: ${JSON.stringify(d)}`)

  for (const path of ['root', 'diagnostics', 'hwinfo', 'rpc_ping']) {
    t.equal((await lab.req('GET', `${a}/mgmt/instances/00000000-0000-0000-0000-000000000000/${path}`, admin)).status, 404, `${path}: unknown instance`)
  }
})

t.test('mgmt actions: stop, reboot, reset-task-status; migrate and rebuild are not possible here', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const a = `/v1.0/${lab.admin.project}`
  const admin = { token: lab.admin.token }
  const { id, agent } = await instance(t, lab, 'demo', 'managed', 'HEALTHY', { stop_db: () => null })
  const act = (body: unknown, o: { token?: string } = admin) => lab.req('POST', `${a}/mgmt/instances/${id}/action`, { body, ...o })
  const show = async () => (await lab.req('GET', `${a}/mgmt/instances/${id}`, admin)).body.instance

  const stop = await act(sample('instance-mgmt-action-stop-request.json'))
  t.equal(stop.status, 202)
  t.ok(agent.calls.includes('stop_db'), 'stop: the guest stop_db call')

  t.equal((await act(sample('instance-mgmt-action-reboot-request.json'))).status, 202)
  await agent.called('shutdown_agent')
  t.match(await show(), { status: 'REBOOT', task_description: 'Rebooting the instance.', service_status: 'RESTARTING' })
  t.same((await act({ reboot: {} })).body.unprocessableEntity.message, `Instance ${id} is not currently available for an action to be performed (task status was REBOOTING).`)
  await agent.heartbeat('HEALTHY')
  await until(async () => (await show()).status === 'ACTIVE', 5000, 'ACTIVE after the reboot')
  t.match(await show(), { task_description: 'No tasks for the instance.', operating_status: 'HEALTHY' })
  t.same(lab.server.lab.db.prepare("SELECT state, step FROM tasks WHERE instance_id = ? AND kind = 'reboot_instance'").get(id), { state: 'done', step: 'wait' })

  // A reboot that never gets a healthy guest back is ended by reset-task-status.
  t.equal((await act({ reboot: {} })).status, 202)
  await agent.called('shutdown_agent', 2)
  t.equal((await show()).status, 'REBOOT')
  t.equal((await act(sample('instance-mgmt-action-reset-task-status-request.json'))).status, 202)
  t.match(await show(), { status: 'ACTIVE', task_description: 'No tasks for the instance.' })

  const notHere = { code: 501 }
  t.match((await act(sample('instance-mgmt-action-migrate-request.json'))).body, { notImplemented: { ...notHere, message: /single host/ } })
  t.match((await act(sample('instance-mgmt-action-rebuild-instance-request.json'))).body, { notImplemented: { ...notHere, message: /no guest images/ } })

  const cases: Array<[string, unknown, unknown]> = [
    ['empty body', {}, { badRequest: { code: 400, message: 'Invalid request body.' } }],
    ['not an object', [], { badRequest: { code: 400, message: 'Invalid request body.' } }],
    ['unknown action', { restart: {} }, { badRequest: { code: 400, message: 'Invalid instance action: restart' } }],
    ['two actions', { stop: {}, reboot: {} }, { badRequest: { code: 400, message: 'Only one action can be specified per request.' } }],
    ['rebuild without an image', { rebuild: {} }, { badRequest: { code: 400, message: "Validation error: rebuild 'image_id' is a required property" } }],
    [
      'rebuild with a bad image id',
      { rebuild: { image_id: 'x' } },
      { badRequest: { code: 400, message: "Validation error: rebuild['image_id'] 'x' does not match '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$'" } },
    ],
    [
      'rebuild with another key',
      { rebuild: { image_id: '3e50414a-8532-4646-982c-a66fe8f0411b', x: 1 } },
      { badRequest: { code: 400, message: "Validation error: rebuild Additional properties are not allowed ('x' was unexpected)" } },
    ],
  ]
  const calls = agent.calls.length
  for (const [what, body, fault] of cases) t.same((await act(body)).body, fault, what)
  t.same(
    (await act({ stop: {} }, { token: lab.demo.token })).body,
    { forbidden: { code: 403, message: `User with tenant id ${lab.demo.project} cannot access this resource.` } },
    "a member cannot use the admin's project",
  )
  t.same(
    (await lab.req('POST', `/v1.0/${lab.demo.project}/mgmt/instances/${id}/action`, { body: { stop: {} } })).body,
    { unauthorized: { code: 401, message: 'User does not have admin privileges.' } },
    'a member gets admin_context 401',
  )
  t.equal((await lab.req('POST', `${a}/mgmt/instances/00000000-0000-0000-0000-000000000000/action`, { body: { stop: {} }, ...admin })).status, 404)
  t.equal(agent.calls.length, calls, 'no refused request reached the guest')
  t.match(await show(), { status: 'ACTIVE', task_description: 'No tasks for the instance.' }, 'nothing changed')

  // A guest failure of stop is upstream's GuestError (400).
  const failing = await instance(t, lab, 'demo', 'stubborn', 'HEALTHY', {
    stop_db: () => {
      throw new Error('pg_ctl: server does not shut down')
    },
  })
  t.same((await lab.req('POST', `${a}/mgmt/instances/${failing.id}/action`, { body: { stop: {} }, ...admin })).body, {
    badRequest: { code: 400, message: 'An error occurred communicating with the guest: pg_ctl: server does not shut down.' },
  })
})
