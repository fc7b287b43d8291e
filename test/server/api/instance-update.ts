import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { apiLab, type ApiLab } from '../../helpers/api.js'
import { scriptedAgent, until } from '../../helpers/scripted-agent.js'
import { sample } from '../../helpers/lab.js'
import { hasOpenstackClient } from '../../helpers/openstack-session.js'

const exec = promisify(execFile)
const createBody = (name: string) => ({ instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } })

async function activeInstance(t: Test, lab: ApiLab, name: string) {
  const p = `/v1.0/${lab.demo.project}`
  const id = (await lab.req('POST', `${p}/instances`, { body: createBody(name) })).body.instance.id as string
  const agent = await scriptedAgent(lab.dataDir, id)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE')
  return { id, show: async () => (await lab.req('GET', `${p}/instances/${id}`)).body.instance }
}

const fault = (name: string, code: number, message: string) => ({ [name]: { code, message } })

t.test('PUT/PATCH /instances/{id}: samples, the one-attribute rule, schemas, isolation', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const { id, show } = await activeInstance(t, lab, 'upd')
  const url = `${p}/instances/${id}`

  const renamed = await lab.req('PATCH', url, { body: sample('instance-patch-update-name-request.json') })
  t.equal(renamed.status, 202, 'PATCH rename sample accepted')
  t.equal(renamed.body, undefined, 'empty body')
  t.equal((await show()).name, 'renamed', 'renamed at once')
  t.equal((await lab.req('PUT', url, { body: { instance: { name: 'again' } } })).status, 202)
  t.equal((await show()).name, 'again', 'PUT renames too')

  const access = await lab.req('PUT', url, { body: sample('instance-update-access-request.json') })
  t.equal(access.status, 202, 'access sample accepted')
  await until(async () => lab.server.lab.db.prepare("SELECT state FROM tasks WHERE instance_id = ? AND kind = 'update_access'").pluck().get(id) === 'done', 5000, 'access task done')
  const after = await show()
  t.same(after.access, { is_public: true, allowed_cidrs: ['10.0.0.0/24'] }, 'access stored and shown')
  t.equal(after.status, 'ACTIVE', 'task back to NONE')
  const mgmt = (await lab.req('GET', `/v1.0/${lab.admin.project}/mgmt/instances/${id}`, { token: lab.admin.token })).body.instance
  t.match(mgmt, { task_description: 'No tasks for the instance.' })
  t.equal((await lab.req('PUT', url, { body: { instance: { name: 'both', access: { is_public: false } } } })).status, 202, 'name plus one attribute')
  await until(async () => (await show()).access.is_public === false, 5000, 'private again')
  t.same((await show()).access, { is_public: false, allowed_cidrs: [] }, 'omitted fields reset, as upstream')
  t.same(
    (await lab.req('PUT', url, { body: { instance: { access: { allowed_cidrs: ['10.0.0.0/33'] } } } })).body,
    fault('badRequest', 400, "Validation error: instance['access']['allowed_cidrs'] '10.0.0.0/33' is not a 'cidr'"),
  )

  const two = await lab.req('PUT', url, { body: { instance: { name: 'x', replica_of: null, datastore_version: '15' } } })
  t.same(two.body, fault('badRequest', 400, "Only one attribute (except 'name') is allowed to update."))
  const twoNoName = await lab.req('PATCH', url, { body: { instance: { replica_of: null, slave_of: null } } })
  t.same(twoNoName.body, fault('badRequest', 400, "Only one attribute (except 'name') is allowed to update."))
  t.equal((await show()).name, 'both', 'a refused update renames nothing')

  t.same(
    (await lab.req('PUT', url, { body: { instance: { slave_of: null } } })).body,
    fault('badRequest', 400, "Validation error: instance Additional properties are not allowed ('slave_of' was unexpected)"),
    'PUT forbids slave_of',
  )
  t.same(
    (await lab.req('PUT', url, { body: { instance: { flavorRef: '2' } } })).body,
    fault('badRequest', 400, "Validation error: instance Additional properties are not allowed ('flavorRef' was unexpected)"),
    'PUT forbids extra keys',
  )
  t.same(
    (await lab.req('PATCH', url, { body: { instance: { access: { is_public: true } } } })).body,
    fault('badRequest', 400, "Validation error: instance Additional properties are not allowed ('access' was unexpected)"),
    'access is PUT only',
  )
  t.match((await lab.req('PUT', url, { body: { instance: { name: '' } } })).body, { badRequest: { code: 400, message: /^Validation error: instance\['name'\] '' / } })
  t.match((await lab.req('PUT', url, { body: {} })).body, { badRequest: { message: "Validation error: 'instance' is a required property" } })

  const notReplica = fault('badRequest', 400, `Instance ${id} is not a replica.`)
  t.same((await lab.req('PATCH', url, { body: sample('instance-patch-detach-replica-request.json') })).body, notReplica, 'detach a non-replica: 400')
  t.same((await lab.req('PATCH', url, { body: { instance: { slave_of: null } } })).body, notReplica, 'PATCH accepts slave_of')
  t.same((await lab.req('PUT', url, { body: { instance: { replica_of: null } } })).body, notReplica)

  t.same(
    (await lab.req('PATCH', url, { body: sample('instance-patch-upgrade-datastore-version-request.json') })).body,
    fault('badRequest', 400, "Datastore version 'next-version' cannot be found."),
    'unknown version: 400 as upstream',
  )
  const current = (await show()).datastore.version as string
  t.same(
    (await lab.req('PATCH', url, { body: { instance: { datastore_version: current } } })).body,
    fault('badRequest', 400, `Instance ${id} already runs datastore version '${current}'.`),
    'upgrade to the current version: 400 (resize.ts has the rest)',
  )

  t.same(
    (await lab.req('PUT', url, { body: sample('instance-put-attach-config-group-request.json') })).body,
    fault('itemNotFound', 404, 'Configuration group id: 00000000-0000-4000-8000-000000000000 could not be found.'),
    'attaching an unknown group: 404 (config-attach.ts has the rest)',
  )
  t.equal((await lab.req('PUT', url, { body: sample('instance-put-detach-config-group-request.json') })).status, 202, '{} detaches: nothing attached, a no-op')
  t.equal((await lab.req('PUT', url, { body: sample('instance-put-detach-config-group-request-2.json') })).status, 202, 'configuration null: the same')

  // Project isolation: another project's instance does not exist for the caller.
  const admin = `/v1.0/${lab.admin.project}`
  const other = (await lab.req('POST', `${admin}/instances`, { body: createBody('admins'), token: lab.admin.token })).body.instance.id as string
  t.same((await lab.req('PUT', `${p}/instances/${other}`, { body: { instance: { name: 'mine' } } })).body, fault('itemNotFound', 404, `Resource ${other} cannot be found.`))
  t.same((await lab.req('PUT', `${p}/instances/nope`, { body: { instance: { name: 'x' } } })).body, fault('itemNotFound', 404, 'Resource nope cannot be found.'))
  t.equal((await lab.req('PUT', `${admin}/instances/${id}`, { body: { instance: { name: 'by-admin' } }, token: lab.admin.token })).status, 202, 'admins reach any instance by id (upstream)')

  // Access changes need an instance that can act (a BUILD instance keeps its task).
  t.match((await lab.req('PUT', `${admin}/instances/${other}`, { body: { instance: { access: { is_public: true } } }, token: lab.admin.token })).body, {
    unprocessableEntity: { code: 422, message: `Instance ${other} is not currently available for an action to be performed (instance status was BUILD).` },
  })
  t.equal((await lab.req('PUT', `${admin}/instances/${other}`, { body: { instance: { name: 'renamed-in-build' } }, token: lab.admin.token })).status, 202, 'a rename is fine while building')
})

const hasOpenstack = hasOpenstackClient()

t.test('the real openstack CLI: database instance update --name / --is-public / --allowed-cidr', { skip: hasOpenstack ? false : 'the openstack client is not installed' }, async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const { id, show } = await activeInstance(t, lab, 'cli-upd')
  const env = { ...lab.env, HOME: lab.dataDir }
  const os = async (...args: string[]) => {
    try {
      return (await exec('openstack', args, { env, timeout: 60_000 })).stdout
    } catch (e) {
      throw new Error(`openstack ${args.join(' ')}: ${(e as { stderr?: string }).stderr}`)
    }
  }
  await os('database', 'instance', 'update', id, '--name', 'cli-renamed')
  t.equal((await show()).name, 'cli-renamed', '--name')
  await os('database', 'instance', 'update', 'cli-renamed', '--is-public', '--allowed-cidr', '10.1.0.0/16', '--allowed-cidr', '192.168.0.0/24')
  await until(async () => (await show()).access.is_public === true && (await show()).status === 'ACTIVE', 5000, 'public')
  t.same((await show()).access, { is_public: true, allowed_cidrs: ['10.1.0.0/16', '192.168.0.0/24'] }, '--is-public --allowed-cidr (by name)')
  const shown = JSON.parse(await os('database', 'instance', 'show', id, '-f', 'json')) as Record<string, unknown>
  t.match(shown, { name: 'cli-renamed' })
})
