import t from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { apiLab, type ApiLab, otherMember } from '../../helpers/api.js'

const LIST_KEYS = [
  'id',
  'name',
  'type',
  'description',
  'tenant_id',
  'datastore_id',
  'datastore_version_id',
  'auto_apply',
  'priority_apply',
  'apply_order',
  'is_admin',
  'md5',
  'visible',
  'created',
  'updated',
  'tenant',
  'datastore',
  'datastore_version',
]
const CONTENTS = Buffer.from('ping contents\n').toString('base64')
const md5 = (s: string) => createHash('md5').update(s).digest('hex')

/** Records that `moduleId` was applied to `instanceId` (the guest side that would do it comes later). */
function markApplied(lab: ApiLab, instanceId: string, moduleId: string, hash: string) {
  lab.server.lab.db
    .prepare("INSERT INTO instance_modules (id, instance_id, module_id, md5, created, updated) VALUES (?, ?, ?, ?, '2024-01-01T00:00:00', '2024-01-02T00:00:00')")
    .run(randomUUID(), instanceId, moduleId, hash)
}

async function createInstance(lab: ApiLab, token?: string, project = lab.demo.project): Promise<string> {
  const r = await lab.req('POST', `/v1.0/${project}/instances`, {
    token,
    body: { instance: { name: `i-${randomUUID().slice(0, 6)}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } } },
  })
  if (r.status !== 200) throw new Error(`create instance: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.instance.id
}

t.test('create, show, list, update and delete a module as a member', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const created = await lab.req('POST', `${p}/modules`, { body: { module: { name: 'm1', module_type: 'Ping', contents: CONTENTS, description: 'first' } } })
  t.equal(created.status, 200)
  const m = created.body.module
  t.same(Object.keys(m), [...LIST_KEYS, 'live_update'], 'ModuleDetail keys in upstream order')
  t.match(m, {
    name: 'm1',
    type: 'ping',
    description: 'first',
    tenant_id: lab.demo.project,
    tenant: lab.demo.project,
    datastore_id: null,
    datastore_version_id: null,
    datastore: 'all',
    datastore_version: 'all',
    auto_apply: false,
    priority_apply: false,
    apply_order: 5,
    is_admin: false,
    visible: true,
    live_update: false,
    md5: md5(CONTENTS),
  })
  t.notOk('contents' in m, 'contents never in a response')

  const stored = lab.server.lab.db.prepare('SELECT contents FROM modules WHERE id = ?').pluck().get(m.id) as string
  t.notOk(stored.includes(CONTENTS), 'contents are not stored in clear')
  t.notOk(stored.includes('ping contents'))
  const key = join(lab.dataDir, 'module-contents.key')
  t.equal(statSync(key).mode & 0o777, 0o600, 'the key file is 0600')
  t.equal(Buffer.from(readFileSync(key, 'utf8').trim(), 'base64').length, 32, 'a 256-bit key')

  const show = await lab.req('GET', `${p}/modules/${m.id}`)
  t.equal(show.status, 200)
  t.same(Object.keys(show.body.module), [...LIST_KEYS, 'live_update', 'instance_count'])
  t.equal(show.body.module.instance_count, 0)

  const list = await lab.req('GET', `${p}/modules`)
  t.same(Object.keys(list.body.modules[0]), LIST_KEYS, 'list items are ModuleView (no live_update)')
  t.same(
    list.body.modules.map((x: { id: string }) => x.id),
    [m.id],
  )

  const v = (await lab.req('GET', `${p}/datastores/mariadb/versions`)).body.versions[0]
  const scoped = await lab.req('POST', `${p}/modules`, { body: { module: { name: 'm2', module_type: 'ping', contents: CONTENTS, datastore: { type: 'mariadb', version: v.name } } } })
  t.equal(scoped.status, 200)
  t.match(scoped.body.module, { datastore: 'mariadb', datastore_version: v.name, datastore_version_id: v.id })
  const dsOnly = await lab.req('POST', `${p}/modules`, { body: { module: { name: 'm3', module_type: 'ping', contents: CONTENTS, datastore: { type: 'mariadb' } } } })
  t.match(dsOnly.body.module, { datastore: 'mariadb', datastore_version: 'all', datastore_version_id: null })
  t.same(
    (await lab.req('GET', `${p}/modules?datastore=mariadb`)).body.modules.map((x: { name: string }) => x.name),
    ['m2', 'm3'],
    'filter by datastore',
  )
  t.same(
    (await lab.req('GET', `${p}/modules?datastore=all`)).body.modules.map((x: { name: string }) => x.name),
    ['m1'],
    '"all": the modules for every datastore',
  )
  t.same((await lab.req('GET', `${p}/modules?datastore=nosuch`)).body, { itemNotFound: { code: 404, message: "Datastore 'nosuch' cannot be found." } })

  const newContents = Buffer.from('other').toString('base64')
  const upd = await lab.req('PUT', `${p}/modules/${m.id}`, { body: { module: { name: 'm1-renamed', contents: newContents, description: 'second', apply_order: 3, live_update: 1 } } })
  t.equal(upd.status, 200)
  t.match(upd.body.module, { name: 'm1-renamed', description: 'second', apply_order: 3, live_update: true, md5: md5(newContents) })
  const moved = await lab.req('PUT', `${p}/modules/${m.id}`, { body: { module: { datastore: { type: 'mariadb', version: v.name } } } })
  t.match(moved.body.module, { datastore: 'mariadb', datastore_version: v.name })
  const back = await lab.req('PUT', `${p}/modules/${m.id}`, { body: { module: { all_datastores: 1 } } })
  t.match(back.body.module, { datastore: 'all', datastore_version: 'all' })
  const legacyType = await lab.req('PUT', `${p}/modules/${m.id}`, { body: { module: { type: 'new_relic_license' } } })
  t.equal(legacyType.body.module.type, 'new_relic_license', 'the legacy client\'s "type" key is honoured')

  const del = await lab.req('DELETE', `${p}/modules/${m.id}`)
  t.equal(del.status, 200)
  t.equal(del.body, undefined, 'delete answers 200 with an empty body')
  const gone = { itemNotFound: { code: 404, message: `Module with ID ${m.id} could not be found.` } }
  t.same((await lab.req('GET', `${p}/modules/${m.id}`)).body, gone)
  t.same((await lab.req('DELETE', `${p}/modules/${m.id}`)).body, gone)
  t.same((await lab.req('PUT', `${p}/modules/${m.id}`, { body: { module: {} } })).body, gone)
})

t.test('bad input: upstream faults, nothing stored', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const bad = async (body: unknown, status: number, message: string | RegExp) => {
    const r = await lab.req('POST', `${p}/modules`, { body })
    t.equal(r.status, status, JSON.stringify(body))
    t.match(Object.values(r.body as object)[0], { code: status, message })
  }
  await bad({}, 400, "Validation error: 'module' is a required property")
  await bad({ module: { name: 'x', module_type: 'ping' } }, 400, "Validation error: module 'contents' is a required property")
  await bad({ module: { name: '', module_type: 'ping', contents: 'x' } }, 400, "Validation error: module['name'] '' is too short")
  await bad({ module: { name: 'x', module_type: 'ping', contents: 'x', apply_order: 10 } }, 400, "Validation error: module['apply_order'] 10 is greater than the maximum of 9")
  await bad({ module: { name: 'x', module_type: 'ping', contents: 'x', auto_apply: true } }, 400, /is not of type 'integer'/)
  await bad({ module: { name: 'x', module_type: 'nope', contents: 'x' } }, 404, "Module type 'nope' was not found.")
  await bad({ module: { name: 'x', module_type: 'ping', contents: 'x', datastore: { type: 'nosuch' } } }, 404, "Datastore 'nosuch' cannot be found.")
  await bad({ module: { name: 'x', module_type: 'ping', contents: 'x', datastore: { version: '1' } } }, 400, 'Cannot specify version without datastore')
  await bad({ module: { name: 'x', module_type: 'ping', contents: 'x', datastore: { type: 'mariadb', version: 'nosuch' } } }, 400, "Datastore version 'nosuch' cannot be found.")
  const r = await lab.req('POST', `${p}/modules`, { raw: '{bad json' })
  t.equal(r.status, 400)
  t.same((await lab.req('GET', `${p}/modules`)).body, { modules: [] }, 'nothing was created')

  t.equal((await lab.req('POST', `${p}/modules`, { body: { module: { name: 'dup', module_type: 'ping', contents: 'x' } } })).status, 200)
  await bad({ module: { name: 'dup', module_type: 'ping', contents: 'y' } }, 400, "A module with the name 'dup' already exists for datastore 'all' and datastore version 'all'")
  t.equal(
    (await lab.req('POST', `${p}/modules`, { body: { module: { name: 'dup', module_type: 'ping', contents: 'y', datastore: { type: 'mariadb' } } } })).status,
    200,
    'same name for another datastore is fine',
  )
  const id = (await lab.req('GET', `${p}/modules?datastore=all`)).body.modules[0].id
  const badUpdate = await lab.req('PUT', `${p}/modules/${id}`, { body: { module: { all_datastores: 1, datastore: { type: 'mariadb' } } } })
  t.same(badUpdate.body, { badRequest: { code: 400, message: 'The module is invalid: You cannot set a datastore and specify --all_datastores' } })
  t.equal((await lab.req('PUT', `${p}/modules/${id}`, { body: { module: { module_type: 'nope' } } })).status, 404)
  t.equal((await lab.req('PUT', `${p}/modules/${id}`, { body: { nomodule: {} } })).status, 400)
  t.equal((await lab.req('GET', `${p}/modules/${id}`)).body.module.type, 'ping', 'unchanged')
})

t.test('admin-only options, visibility and isolation between projects', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const a = `/v1.0/${lab.admin.project}`
  const other = otherMember(lab)
  const o = `/v1.0/${other.project}`

  for (const [opt, text] of [
    [{ all_tenants: 1 }, '(Tenant: all)'],
    [{ auto_apply: 1 }, '(Auto: 1)'],
    [{ visible: 0 }, '(Visible: 0)'],
    [{ priority_apply: 1 }, '(Priority: 1)'],
    [{ full_access: 0 }, '(Full Access: 0)'],
    [{ auto_apply: 1, priority_apply: 1 }, '(Auto: 1, Priority: 1)'],
  ] as const) {
    const r = await lab.req('POST', `${p}/modules`, { body: { module: { name: 'x', module_type: 'ping', contents: 'x', ...opt } } })
    t.same(r.body, { forbidden: { code: 403, message: `You must be admin to create a module with these options. ${text}` } }, JSON.stringify(opt))
  }
  t.same((await lab.req('GET', `${p}/modules`)).body, { modules: [] })
  const fa = await lab.req('POST', `${a}/modules`, { token: lab.admin.token, body: { module: { name: 'x', module_type: 'ping', contents: 'x', auto_apply: 1, full_access: 1 } } })
  t.same(fa.body, { badRequest: { code: 400, message: 'The following values are invalid: Cannot make module full access: (Auto: 1)' } })

  const global = (await lab.req('POST', `${a}/modules`, { token: lab.admin.token, body: { module: { name: 'global', module_type: 'ping', contents: 'g', all_tenants: 1, auto_apply: 1 } } })).body
    .module
  t.match(global, { tenant_id: null, tenant: 'all', is_admin: true, auto_apply: true })
  const hidden = (await lab.req('POST', `${a}/modules`, { token: lab.admin.token, body: { module: { name: 'hidden', module_type: 'ping', contents: 'h', all_tenants: 1, visible: 0 } } })).body.module
  const adminOwn = (await lab.req('POST', `${a}/modules`, { token: lab.admin.token, body: { module: { name: 'admin-own', module_type: 'ping', contents: 'a' } } })).body.module
  const demoMod = (await lab.req('POST', `${p}/modules`, { body: { module: { name: 'demo-mod', module_type: 'ping', contents: 'd' } } })).body.module
  const otherMod = (await lab.req('POST', `${o}/modules`, { token: other.token, body: { module: { name: 'other-mod', module_type: 'ping', contents: 'o' } } })).body.module

  const names = async (path: string, token?: string) => ((await lab.req('GET', path, { token })).body.modules as Array<{ name: string }>).map((x) => x.name).sort()
  t.same(await names(`${p}/modules`), ['demo-mod', 'global'], 'a member: own and visible global modules')
  t.same(await names(`${o}/modules`, other.token), ['global', 'other-mod'])
  t.same(await names(`${a}/modules`, lab.admin.token), ['admin-own', 'demo-mod', 'global', 'hidden', 'other-mod'], 'an admin: all')

  for (const id of [hidden.id, adminOwn.id, otherMod.id]) {
    t.equal((await lab.req('GET', `${p}/modules/${id}`)).status, 404, 'invisible and foreign modules are not found')
    t.equal((await lab.req('PUT', `${p}/modules/${id}`, { body: { module: { name: 'stolen' } } })).status, 404)
    t.equal((await lab.req('DELETE', `${p}/modules/${id}`)).status, 404)
    t.equal((await lab.req('GET', `${p}/modules/${id}/instances`)).status, 404)
  }
  t.equal((await lab.req('GET', `${p}/modules/${global.id}`)).status, 200, 'a global module can be shown')
  t.same((await lab.req('PUT', `${p}/modules/${global.id}`, { body: { module: { name: 'mine' } } })).body, {
    forbidden: { code: 403, message: 'You must be admin to update a module with these options. (Module is an admin module)' },
  })
  t.same((await lab.req('DELETE', `${p}/modules/${global.id}`)).body, { forbidden: { code: 403, message: 'You must be admin to delete a module with these options. (Tenant: all, Auto: 1)' } })
  t.same((await lab.req('PUT', `${p}/modules/${demoMod.id}`, { body: { module: { auto_apply: 1 } } })).body, {
    forbidden: { code: 403, message: 'You must be admin to update a module with these options. (Auto: 1)' },
  })
  t.equal((await lab.req('GET', `${p}/modules/${demoMod.id}`)).body.module.auto_apply, false, 'unchanged')
  t.equal((await lab.req('GET', `${a}/modules/${otherMod.id}`, { token: lab.admin.token })).status, 200, 'an admin reaches any module')
  const adminEdit = await lab.req('PUT', `${a}/modules/${otherMod.id}`, { token: lab.admin.token, body: { module: { all_tenants: 0, description: 'by admin' } } })
  t.equal(adminEdit.body.module.tenant_id, other.project, 'all_tenants=0 keeps a module in its project')
})

t.test('modules applied to instances: instance lists, counts, live_update, reapply, instance routes', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const a = `/v1.0/${lab.admin.project}`
  const m = (await lab.req('POST', `${p}/modules`, { body: { module: { name: 'applied', module_type: 'ping', contents: 'c1' } } })).body.module
  const i1 = await createInstance(lab)
  const i2 = await createInstance(lab)
  const iAdmin = await createInstance(lab, lab.admin.token, lab.admin.project)
  markApplied(lab, i1, m.id, m.md5)
  markApplied(lab, i2, m.id, 'f'.repeat(32))
  markApplied(lab, iAdmin, m.id, m.md5)

  t.equal((await lab.req('GET', `${p}/modules/${m.id}`)).body.module.instance_count, 2, 'instances with the current md5')
  const insts = await lab.req('GET', `${p}/modules/${m.id}/instances`)
  t.equal(insts.status, 200)
  t.same(insts.body.instances.map((i: { id: string }) => i.id).sort(), [i1, i2].sort(), 'a member sees its own instances only')
  t.ok(insts.body.instances[0].flavor.id, 'instance views')
  const paged = await lab.req('GET', `${p}/modules/${m.id}/instances?limit=1`)
  t.equal(paged.body.instances.length, 1)
  t.match(paged.body.links[0], { rel: 'next', href: /marker=/ })
  const counts = await lab.req('GET', `${p}/modules/${m.id}/instances?count_only=true`)
  t.same(
    counts.body.instances.map((c: Record<string, unknown>) => Object.keys(c)),
    [0, 1].map(() => ['module_name', 'module_id', 'module_md5', 'instance_count', 'current', 'min_updated_date', 'max_updated_date']),
  )
  t.same(
    counts.body.instances.map((c: Record<string, unknown>) => [c.module_md5, c.instance_count, c.current]).sort(),
    [
      [m.md5, 1, true],
      ['f'.repeat(32), 1, false],
    ].sort(),
  )
  const adminCounts = await lab.req('GET', `${a}/modules/${m.id}/instances?count_only=true`, { token: lab.admin.token })
  t.equal(adminCounts.body.instances.find((c: { current: boolean }) => c.current).instance_count, 2, 'an admin counts every project')

  const applied =
    "A module cannot be deleted or its contents modified if it has been applied to a non-terminated instance, unless the module has been marked as 'live_update.' Please remove the module from all non-terminated instances and try again."
  t.same((await lab.req('DELETE', `${p}/modules/${m.id}`)).body, { forbidden: { code: 403, message: applied } })
  t.same((await lab.req('PUT', `${p}/modules/${m.id}`, { body: { module: { contents: 'c2' } } })).body, { forbidden: { code: 403, message: applied } })

  const list = await lab.req('GET', `${p}/instances/${i1}/modules`)
  t.equal(list.status, 200)
  t.match(list.body.modules, [{ id: m.id, name: 'applied', type: 'ping', datastore: 'all', datastore_version: 'all', md5: m.md5 }])
  t.notOk('contents' in list.body.modules[0])
  t.equal((await lab.req('GET', `${p}/instances/${i1}/modules?include_contents=true`)).body.modules[0].contents, 'c1', 'include_contents decrypts')
  t.equal((await lab.req('GET', `${p}/instances/${iAdmin}/modules`)).status, 404, "another project's instance")
  t.equal((await lab.req('GET', `${p}/instances/${randomUUID()}/modules`)).status, 404)
  // No agent runs for these instances: the guest routes answer upstream's GuestError (apply/remove: test/server/api/instance-modules.ts).
  const apply = await lab.req('POST', `${p}/instances/${i1}/modules`, { body: { modules: [{ id: m.id }] } })
  t.match(apply.body, { badRequest: { code: 400, message: /guest agent of instance .* is not running/ } })
  const remove = await lab.req('DELETE', `${p}/instances/${i1}/modules/${m.id}`)
  t.equal(remove.status, 400)
  t.equal((await lab.req('DELETE', `${p}/instances/${i1}/modules/${randomUUID()}`)).status, 404, 'unknown module: 404')
  t.equal((await lab.req('POST', `${p}/instances/${iAdmin}/modules`, { body: { modules: [] } })).status, 404)

  const reapply = await lab.req('PUT', `${p}/modules/${m.id}/instances`, { body: { reapply: { md5: m.md5, include_clustered: 0, batch_size: 5, force: 1 } } })
  t.equal(reapply.status, 202)
  t.equal(reapply.body, undefined)
  const rec = lab.server.lab.db.prepare('SELECT * FROM module_reapply_requests WHERE module_id = ?').all(m.id) as Array<Record<string, unknown>>
  t.match(rec, [{ tenant_id: lab.demo.project, md5: m.md5, batch_size: 5, force: 1, state: /^(pending|running|done)$/ }], 'the request is recorded (and run in the background)')
  t.equal((await lab.req('PUT', `${p}/modules/${m.id}/instances`, { body: { reapply: { batch_size: 'x' } } })).status, 400)
  t.equal((await lab.req('PUT', `${p}/modules/${m.id}/instances`, { body: {} })).status, 400)
  t.equal(lab.server.lab.db.prepare('SELECT COUNT(*) FROM module_reapply_requests').pluck().get() as number, 1, 'bad requests record nothing')

  const live = (await lab.req('POST', `${p}/modules`, { body: { module: { name: 'live', module_type: 'ping', contents: 'l', live_update: 1 } } })).body.module
  markApplied(lab, i1, live.id, live.md5)
  t.equal((await lab.req('PUT', `${p}/modules/${live.id}`, { body: { module: { contents: 'l2' } } })).status, 200, 'live_update modules may change while applied')
  t.equal((await lab.req('DELETE', `${p}/modules/${live.id}`)).status, 200)
})
