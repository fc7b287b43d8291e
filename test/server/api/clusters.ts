import t from 'tap'
import { randomUUID } from 'node:crypto'
import { apiLab, type ApiLab } from '../../helpers/api.js'

async function createInstance(lab: ApiLab): Promise<string> {
  const r = await lab.req('POST', `/v1.0/${lab.demo.project}/instances`, { body: { instance: { name: 'ssl', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } } } })
  if (r.status !== 200) throw new Error(`create instance: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.instance.id
}

const cluster = (o: Record<string, unknown> = {}) => ({
  cluster: {
    name: 'c1',
    datastore: { type: 'mariadb', version: 'default' },
    instances: [
      { flavorRef: '1', volume: { size: '2' } },
      { flavorRef: '1', volume: { size: 2 } },
    ],
    ...o,
  },
})

t.test('clusters: empty lists, 501 on create, 404 for any cluster', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const a = `/v1.0/${lab.admin.project}`
  const version = (await lab.req('GET', `${p}/datastores/mariadb/versions`)).body.versions[0].name

  t.same((await lab.req('GET', `${p}/clusters`)).body, { clusters: [] })
  t.same((await lab.req('GET', `${p}/clusters?limit=5`)).body, { clusters: [] })
  t.equal((await lab.req('GET', `${p}/clusters`, { token: null })).status, 401)

  const ok = cluster({ datastore: { type: 'mariadb', version } })
  const r = await lab.req('POST', `${p}/clusters`, { body: ok })
  t.same(r.body, { notImplemented: { code: 501, message: 'Clusters are not supported for datastore mariadb.' } })
  t.equal(r.status, 501)

  const bad: Array<[unknown, number, string | RegExp]> = [
    [{}, 400, "Validation error: 'cluster' is a required property"],
    [{ cluster: { name: 'c', datastore: { type: 'mariadb', version } } }, 400, "Validation error: cluster 'instances' is a required property"],
    [{ cluster: { name: 'c', instances: [] } }, 400, "Validation error: cluster 'datastore' is a required property"],
    [cluster({ name: '' }), 400, "Validation error: cluster['name'] '' is too short"],
    [cluster({ instances: [{ volume: { size: 1 } }] }), 400, "Validation error: cluster['instances'][0] 'flavorRef' is a required property"],
    [cluster({ instances: [{ flavorRef: '1', volume: { size: 'big' } }] }), 400, /is not valid under any of the given schemas/],
    [cluster({ configuration: 'nope' }), 400, /does not match/],
    [cluster({ datastore: { type: 'mariadb', version }, locality: 'nearby' }), 400, "Locality 'nearby' is not supported. Valid values are: affinity, anti-affinity."],
    [cluster({ datastore: { type: 'nosuch', version: '1' } }), 404, "Datastore 'nosuch' cannot be found."],
    [cluster({ datastore: { type: 'mariadb', version: 'nosuch' } }), 400, "Datastore version 'nosuch' cannot be found."],
  ]
  for (const [body, status, message] of bad) {
    const res = await lab.req('POST', `${p}/clusters`, { body })
    t.equal(res.status, status, JSON.stringify(body))
    t.match(Object.values(res.body as object)[0], { code: status, message })
  }

  const id = randomUUID()
  const gone = { itemNotFound: { code: 404, message: `Cluster '${id}' cannot be found.` } }
  t.same((await lab.req('GET', `${p}/clusters/${id}`)).body, gone)
  t.same((await lab.req('DELETE', `${p}/clusters/${id}`)).body, gone)
  t.same((await lab.req('GET', `${p}/clusters/${id}/instances/${randomUUID()}`)).body, gone)
  t.same((await lab.req('GET', `${p}/clusters/${id}/root`)).body, gone)
  t.same((await lab.req('POST', `${p}/clusters/${id}/root`)).body, gone)
  for (const action of [{ 'reset-status': {} }, { restart: {} }, { grow: [{ flavorRef: '1' }] }, { shrink: [{ id: randomUUID() }] }, { upgrade: { datastore_version: '1' } }]) {
    t.same((await lab.req('POST', `${p}/clusters/${id}`, { body: action })).body, gone, Object.keys(action)[0])
  }
  for (const action of [{}, { restart: {}, grow: [] }, { grow: [] }, { shrink: [{ id: 'x' }] }, { upgrade: {} }, { explode: {} }]) {
    t.equal((await lab.req('POST', `${p}/clusters/${id}`, { body: action })).status, 400, `bad action ${JSON.stringify(action)}`)
  }

  t.same((await lab.req('GET', `${a}/mgmt/clusters`, { token: lab.admin.token })).body, { clusters: [] })
  t.same((await lab.req('GET', `${a}/mgmt/clusters?deleted=true`, { token: lab.admin.token })).body, { clusters: [] })
  t.same((await lab.req('GET', `${a}/mgmt/clusters/${id}`, { token: lab.admin.token })).body, gone)
  t.same((await lab.req('POST', `${a}/mgmt/clusters/${id}/action`, { token: lab.admin.token, body: { 'reset-task': {} } })).body, gone)
  t.equal((await lab.req('POST', `${a}/mgmt/clusters/${id}/action`, { token: lab.admin.token, body: { 'reset-status': {} } })).status, 400)
  t.equal((await lab.req('POST', `${a}/mgmt/clusters/${id}/action`, { token: lab.admin.token, body: {} })).status, 400)
  const notAdmin = { unauthorized: { code: 401, message: 'User does not have admin privileges.' } }
  t.same((await lab.req('GET', `${p}/mgmt/clusters`)).body, notAdmin, 'mgmt is admin_context (401)')
  t.same((await lab.req('GET', `${p}/mgmt/clusters/${id}`)).body, notAdmin)
  t.same((await lab.req('POST', `${p}/mgmt/clusters/${id}/action`, { body: { 'reset-task': {} } })).body, notAdmin)
})

t.test('instance SSL answers 501 after the instance and body checks', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, rateLimits: [] })
  const p = `/v1.0/${lab.demo.project}`
  const inst = await createInstance(lab)
  const show = await lab.req('GET', `${p}/instances/${inst}/ssl?include_certificate=true`)
  t.same(show.body, { notImplemented: { code: 501, message: 'Instance SSL (showing the certificate) is not supported by this lab server yet.' } })
  const enable = await lab.req('POST', `${p}/instances/${inst}/ssl`, { body: { ssl: { enable: true, mode: 'basic', container_ref: 'https://barbican/c' } } })
  t.same(enable.body, { notImplemented: { code: 501, message: 'Instance SSL (enable, disable, rollback) is not supported by this lab server yet.' } })
  t.equal((await lab.req('POST', `${p}/instances/${inst}/ssl`, { body: { ssl: { enable: true, disable: true } } })).status, 400)
  t.equal((await lab.req('POST', `${p}/instances/${inst}/ssl`, { body: { ssl: { enable: true, mode: 'loose' } } })).status, 400)
  t.equal((await lab.req('POST', `${p}/instances/${inst}/ssl`, { body: {} })).status, 400)
  const missing = randomUUID()
  t.same((await lab.req('GET', `${p}/instances/${missing}/ssl`)).body, { itemNotFound: { code: 404, message: `Resource ${missing} cannot be found.` } })
  t.equal((await lab.req('POST', `${p}/instances/${missing}/ssl`, { body: { ssl: { enable: true } } })).status, 404)
  const otherInst = await lab.req('GET', `/v1.0/${lab.admin.project}/instances/${inst}/ssl`, { token: lab.admin.token })
  t.equal(otherInst.status, 501, 'an admin reaches any instance')
})
