import t from 'tap'
import { randomUUID } from 'node:crypto'
import { apiLab, missingFields, type ApiLab, otherMember } from '../../helpers/api.js'
import { sample } from '../../helpers/lab.js'

async function createInstance(lab: ApiLab, token?: string, project = lab.demo.project): Promise<string> {
  const r = await lab.req('POST', `/v1.0/${project}/instances`, { token, body: { instance: { name: 'bs', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } } } })
  if (r.status !== 200) throw new Error(`create instance: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.instance.id
}

t.test('create, list and delete strategies (samples backup-strategy-*)', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const inst = await createInstance(lab)
  const req = sample('backup-strategy-create-request.json') as { backup_strategy: { instance_id: string; swift_container: string } }
  req.backup_strategy.instance_id = inst

  const created = await lab.req('POST', `${p}/backup_strategies`, { body: req })
  t.equal(created.status, 202, 'create answers 202')
  t.same(Object.keys(created.body.backup_strategy), ['project_id', 'instance_id', 'backend', 'swift_container'])
  t.same(created.body, { backup_strategy: { project_id: lab.demo.project, instance_id: inst, backend: 'swift', swift_container: 'nightly_backups' } })
  t.same(missingFields(created.body, sample('backup-strategy-create-response.json')), [])

  const projectWide = await lab.req('POST', `${p}/backup_strategies`, { body: { backup_strategy: { swift_container: 'project-wide' } } })
  t.same(projectWide.body.backup_strategy, { project_id: lab.demo.project, instance_id: '', backend: 'swift', swift_container: 'project-wide' })
  const replaced = await lab.req('POST', `${p}/backup_strategies`, { body: { backup_strategy: { swift_container: 'project-wide-2' } } })
  t.equal(replaced.body.backup_strategy.swift_container, 'project-wide-2', 'create again replaces')

  const list = await lab.req('GET', `${p}/backup_strategies`)
  t.equal(list.status, 200)
  t.same(missingFields(list.body, sample('backup-strategy-list-response.json')), [])
  t.same(
    list.body.backup_strategies.map((s: { swift_container: string }) => s.swift_container),
    ['nightly_backups', 'project-wide-2'],
    "all of the project's",
  )
  t.same(
    (await lab.req('GET', `${p}/backup_strategies?instance_id=${inst}`)).body.backup_strategies.map((s: { instance_id: string }) => s.instance_id),
    [inst],
  )
  t.same((await lab.req('GET', `${p}/backup_strategies?project_id=${lab.demo.project}`)).body.backup_strategies.length, 2)

  const del = await lab.req('DELETE', `${p}/backup_strategies?instance_id=${inst}`)
  t.equal(del.status, 202)
  t.equal(del.body, undefined)
  t.same(
    (await lab.req('GET', `${p}/backup_strategies`)).body.backup_strategies.map((s: { instance_id: string }) => s.instance_id),
    [''],
  )
  t.equal((await lab.req('DELETE', `${p}/backup_strategies?instance_id=${inst}`)).status, 202, 'deleting what is gone is fine')
  t.equal((await lab.req('DELETE', `${p}/backup_strategies`)).status, 202, 'no instance_id: the project-wide one')
  t.same((await lab.req('GET', `${p}/backup_strategies`)).body, { backup_strategies: [] })
})

t.test('bad bodies: 400, nothing stored', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const cases: Array<[unknown, string]> = [
    [{}, "Validation error: 'backup_strategy' is a required property"],
    [{ backup_strategy: {} }, "Validation error: backup_strategy 'swift_container' is a required property"],
    [{ backup_strategy: { swift_container: '' } }, "Validation error: backup_strategy['swift_container'] '' is too short"],
    [{ backup_strategy: { swift_container: 'c', instance_id: 'nope' } }, /Validation error: backup_strategy\['instance_id'\] 'nope' does not match/],
    [{ backup_strategy: { swift_container: 'c', project_id: 'x' } }, "Validation error: backup_strategy Additional properties are not allowed ('project_id' was unexpected)"],
  ] as Array<[unknown, string]>
  for (const [body, message] of cases) {
    const r = await lab.req('POST', `${p}/backup_strategies`, { body })
    t.equal(r.status, 400, JSON.stringify(body))
    t.match(r.body, { badRequest: { code: 400, message } })
  }
  const missing = randomUUID()
  t.same(
    (await lab.req('POST', `${p}/backup_strategies`, { body: { backup_strategy: { swift_container: 'c', instance_id: missing } } })).body,
    { itemNotFound: { code: 404, message: `Resource ${missing} cannot be found.` } },
    'an unknown instance',
  )
  t.same((await lab.req('GET', `${p}/backup_strategies`)).body, { backup_strategies: [] })
})

t.test('projects are isolated; admins reach others with project_id', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const other = otherMember(lab)
  const o = `/v1.0/${other.project}`
  const a = `/v1.0/${lab.admin.project}`
  const otherInst = await createInstance(lab, other.token, other.project)
  t.equal((await lab.req('POST', `${o}/backup_strategies`, { token: other.token, body: { backup_strategy: { swift_container: 'theirs' } } })).status, 202)
  t.equal((await lab.req('POST', `${p}/backup_strategies`, { body: { backup_strategy: { swift_container: 'c', instance_id: otherInst } } })).status, 404, "another project's instance is not found")
  t.equal((await lab.req('POST', `${p}/backup_strategies`, { body: { backup_strategy: { swift_container: 'mine' } } })).status, 202)
  t.same(
    (await lab.req('GET', `${p}/backup_strategies`)).body.backup_strategies.map((s: { swift_container: string }) => s.swift_container),
    ['mine'],
  )

  const denied = { forbidden: { code: 403, message: `Operation not allowed for tenant ${lab.demo.project}.` } }
  t.same((await lab.req('GET', `${p}/backup_strategies?project_id=${other.project}`)).body, denied)
  t.same((await lab.req('DELETE', `${p}/backup_strategies?project_id=${other.project}`)).body, denied)
  t.same(
    (await lab.req('GET', `${o}/backup_strategies`, { token: other.token })).body.backup_strategies.map((s: { swift_container: string }) => s.swift_container),
    ['theirs'],
    'untouched',
  )

  const asAdmin = await lab.req('GET', `${a}/backup_strategies?project_id=${other.project}`, { token: lab.admin.token })
  t.same(
    asAdmin.body.backup_strategies.map((s: { project_id: string }) => s.project_id),
    [other.project],
  )
  t.same((await lab.req('GET', `${a}/backup_strategies`, { token: lab.admin.token })).body, { backup_strategies: [] }, "an admin's own list is its project's")
  t.equal((await lab.req('DELETE', `${a}/backup_strategies?project_id=${other.project}`, { token: lab.admin.token })).status, 202)
  t.same((await lab.req('GET', `${o}/backup_strategies`, { token: other.token })).body, { backup_strategies: [] })
})
