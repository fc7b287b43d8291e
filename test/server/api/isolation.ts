import t from 'tap'
import { apiLab } from '../../helpers/api.js'
import { scriptedAgent, until } from '../../helpers/scripted-agent.js'

const createBody = (name: string) => ({ instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'postgresql' } } })

t.test("projects are isolated: another project's ids are 404, its paths 403, mgmt routes 401 for members", async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const d = `/v1.0/${lab.demo.project}`
  const a = `/v1.0/${lab.admin.project}`
  const admin = { token: lab.admin.token }
  const mine = (await lab.req('POST', `${d}/instances`, { body: createBody('mine') })).body.instance.id as string
  const theirs = (await lab.req('POST', `${a}/instances`, { body: createBody('theirs'), ...admin })).body.instance.id as string
  const agent = await scriptedAgent(lab.dataDir, mine)
  t.teardown(() => agent.close())
  await agent.heartbeat('HEALTHY')
  await until(async () => (await lab.req('GET', `${d}/instances/${mine}`)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE')
  const dsv = (await lab.req('GET', `${d}/datastores/postgresql/versions`)).body.versions[0].id as string

  // Instance routes: another project's instance does not exist for a member.
  const notFound = { itemNotFound: { code: 404, message: `Resource ${theirs} cannot be found.` } }
  const byId: Array<[string, string, unknown?]> = [
    ['GET', `${d}/instances/${theirs}`],
    ['DELETE', `${d}/instances/${theirs}`],
    ['POST', `${d}/instances/${theirs}/action`, { restart: {} }],
    ['POST', `${d}/instances/${theirs}/action`, { reset_status: {} }],
    ['POST', `${d}/instances/${theirs}/action`, { reset_status: { force_delete: true } }],
    ['POST', `${d}/instances/${theirs}/action`, { resize: { flavorRef: '2' } }],
  ]
  for (const [method, path, body] of byId) {
    const r = await lab.req(method, path, body === undefined ? {} : { body })
    t.same(r.body, notFound, `${method} ${path.slice(d.length)} ${body ? JSON.stringify(body) : ''}: 404`)
  }
  t.same(
    (await lab.req('GET', `${d}/instances`)).body.instances.map((i: { id: string }) => i.id),
    [mine],
    'lists show only the own project',
  )
  t.same(
    (await lab.req('GET', `${d}/instances/detail`)).body.instances.map((i: { id: string }) => i.id),
    [mine],
  )
  t.same(
    (await lab.req('GET', `${a}/instances`, admin)).body.instances.map((i: { id: string }) => i.id),
    [theirs],
    "an admin's tenant list is its own project too (mgmt lists all)",
  )
  t.equal(lab.server.lab.instances.get(theirs)?.task_description, 'The instance is building.', 'nothing happened to it')

  // Every route below another project's path: the tenant check (403), for every kind of resource.
  const forbidden = { forbidden: { code: 403, message: `User with tenant id ${lab.demo.project} cannot access this resource.` } }
  const routes: Array<[string, string, unknown?]> = [
    ['GET', '/instances'],
    ['GET', '/instances/detail'],
    ['POST', '/instances', createBody('x')],
    ['GET', `/instances/${theirs}`],
    ['DELETE', `/instances/${theirs}`],
    ['POST', `/instances/${theirs}/action`, { restart: {} }],
    ['GET', '/flavors'],
    ['GET', '/flavors/1'],
    ['GET', '/datastores'],
    ['GET', '/datastores/postgresql'],
    ['DELETE', '/datastores/postgresql'],
    ['GET', '/datastores/postgresql/versions'],
    ['GET', `/datastores/postgresql/versions/${dsv}`],
    ['GET', `/datastores/versions/${dsv}`],
    ['GET', `/datastores/postgresql/versions/${dsv}/flavors`],
    ['GET', `/datastores/postgresql/versions/${dsv}/volume-types`],
    ['GET', '/mgmt/instances'],
    ['GET', `/mgmt/instances/${theirs}`],
    ['POST', `/mgmt/instances/${theirs}/action`, { stop: {} }],
    ['GET', '/mgmt/datastore-versions'],
    ['POST', '/mgmt/datastore-versions', { version: {} }],
    ['GET', `/mgmt/datastore-versions/${dsv}`],
    ['PATCH', `/mgmt/datastore-versions/${dsv}`, { active: false }],
    ['DELETE', `/mgmt/datastore-versions/${dsv}`],
  ]
  for (const [method, path, body] of routes) {
    t.same((await lab.req(method, `${a}${path}`, body === undefined ? {} : { body })).body, forbidden, `${method} {admin project}${path}: 403`)
  }

  // Mgmt routes through the member's own project: admin_context's 401.
  const unauthorized = { unauthorized: { code: 401, message: 'User does not have admin privileges.' } }
  const mgmt: Array<[string, string, unknown?]> = [
    ['GET', '/mgmt/instances'],
    ['GET', `/mgmt/instances/${mine}`],
    ['GET', `/mgmt/instances/${theirs}`],
    ['POST', `/mgmt/instances/${mine}/action`, { stop: {} }],
    ['GET', `/mgmt/instances/${mine}/root`],
    ['GET', `/mgmt/instances/${mine}/diagnostics`],
    ['GET', `/mgmt/instances/${mine}/hwinfo`],
    ['GET', `/mgmt/instances/${mine}/rpc_ping`],
    ['GET', '/mgmt/datastore-versions'],
    ['POST', '/mgmt/datastore-versions', { version: {} }],
    ['GET', `/mgmt/datastore-versions/${dsv}`],
    ['PATCH', `/mgmt/datastore-versions/${dsv}`, { active: false }],
    ['DELETE', `/mgmt/datastore-versions/${dsv}`],
  ]
  for (const [method, path, body] of mgmt) {
    t.same((await lab.req(method, `${d}${path}`, body === undefined ? {} : { body })).body, unauthorized, `${method} {own project}${path}: 401`)
  }
  t.same(agent.calls, [], 'no refused request reached the guest')

  // An inactive version is an id members cannot see; admins can.
  t.equal((await lab.req('PATCH', `${a}/mgmt/datastore-versions/${dsv}`, { body: { active: false }, ...admin })).status, 202)
  for (const path of [`/datastores/versions/${dsv}`, `/datastores/postgresql/versions/${dsv}`, `/datastores/postgresql/versions/${dsv}/flavors`]) {
    t.equal((await lab.req('GET', `${d}${path}`)).status, 404, `member: ${path} 404`)
    t.equal((await lab.req('GET', `${a}${path}`, admin)).status, 200, `admin: ${path} 200`)
  }
  t.equal((await lab.req('PATCH', `${a}/mgmt/datastore-versions/${dsv}`, { body: { active: true }, ...admin })).status, 202)

  // Upstream: an admin reaches any project's instance by id through the admin's own project.
  const shown = await lab.req('GET', `${a}/instances/${mine}`, admin)
  t.equal(shown.status, 200)
  t.equal(shown.body.instance.tenant_id, lab.demo.project, 'admins see the owner')
  t.match(shown.body.instance.links[0].href, new RegExp(`/v1.0/${lab.admin.project}/instances/${mine}$`))
  t.equal((await lab.req('POST', `${a}/instances/${mine}/action`, { body: { restart: {} }, ...admin })).status, 202, "an admin restarts a member's instance")
  await agent.called('restart')
  await until(async () => (await lab.req('GET', `${d}/instances/${mine}`)).body.instance.status === 'ACTIVE', 5000, 'ACTIVE after the restart')
  t.equal((await lab.req('DELETE', `${a}/instances/${mine}`, admin)).status, 202, 'and deletes it')
})
