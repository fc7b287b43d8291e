import t from 'tap'
import { apiLab, missingFields, type ApiLab, otherMember } from '../../helpers/api.js'
import { sample } from '../../helpers/lab.js'
import { configurationStore } from '../../../src/server/db/configurations.js'

/** A second ordinary project with a member of its own (the lab has demo and admin). */

async function versionOf(lab: ApiLab, datastore: string): Promise<{ id: string; name: string; version: string }> {
  const r = await lab.req('GET', `/v1.0/${lab.demo.project}/datastores/${datastore}/versions`)
  return r.body.versions[0]
}

/** The raw body of a GET as the demo user (numbers exactly as sent). */
async function rawGet(lab: ApiLab, path: string): Promise<string> {
  return (await lab.server.http.inject({ method: 'GET', url: path, headers: { 'x-auth-token': lab.demo.token } })).body
}

const DETAIL_KEYS = ['id', 'name', 'description', 'values', 'created', 'updated', 'instance_count', 'datastore_name', 'datastore_version_id', 'datastore_version_name', 'datastore_version_number']
const SUMMARY_KEYS = ['id', 'name', 'description', 'created', 'updated', 'datastore_version_id', 'datastore_name', 'datastore_version_name']

t.test('create, list, show, update and delete a group as a member (transcript 29-31, 35, 58, 61)', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const v = await versionOf(lab, 'mariadb')

  const created = await lab.req('POST', `${p}/configurations`, {
    body: { configuration: { name: 'cfg-demo', description: 'demo group', values: { max_connections: 200, connect_timeout: 30 }, datastore: { type: 'mariadb', version: v.name } } },
  })
  t.equal(created.status, 200, 'create answers 200 (transcript 29)')
  const c = created.body.configuration
  t.same(Object.keys(c), DETAIL_KEYS, 'ConfigDetail keys in upstream order')
  t.same(c.values, { max_connections: 200, connect_timeout: 30 }, 'values as given, in the order given')
  t.match(c, {
    name: 'cfg-demo',
    description: 'demo group',
    instance_count: 0,
    datastore_name: 'mariadb',
    datastore_version_id: v.id,
    datastore_version_name: v.name,
    datastore_version_number: v.version,
  })
  t.match(c.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/, 'naive UTC dates')
  t.same(missingFields(created.body, sample('config-group-create-response.json')), [], 'every field of the create sample')

  const list = await lab.req('GET', `${p}/configurations`)
  t.equal(list.status, 200)
  t.same(Object.keys(list.body.configurations[0]), SUMMARY_KEYS, 'ConfigSummary keys in upstream order (transcript 30)')
  // api.md 11: the list sample has datastore_version_number, the list view does not.
  const listSample = sample('config-groups-list-response.json') as { configurations: Array<Record<string, unknown>> }
  delete listSample.configurations[0].datastore_version_number
  t.same(missingFields(list.body, listSample), [], 'every field of the list sample (but datastore_version_number, api.md 11)')
  t.notOk('links' in list.body, 'no links without a next page')

  const show = await lab.req('GET', `${p}/configurations/${c.id}`)
  t.equal(show.status, 200)
  t.same(Object.keys(show.body.configuration), DETAIL_KEYS)
  t.same(Object.keys(show.body.configuration.values), ['connect_timeout', 'max_connections'], 'stored values by key (transcript 31)')
  t.same(missingFields(show.body, sample('config-group-show-response.json')), [], 'every field of the show sample')

  const patched = await lab.req('PATCH', `${p}/configurations/${c.id}`, { body: sample('config-group-patch-request.json') })
  t.equal(patched.status, 200, 'PATCH answers 200 (api.md 11: not 202)')
  t.equal(patched.body, undefined, 'with an empty body (transcript 35)')
  t.same((await lab.req('GET', `${p}/configurations/${c.id}`)).body.configuration.values, { connect_timeout: 17, max_connections: 200 })

  const put = await lab.req('PUT', `${p}/configurations/${c.id}`, { body: sample('config-group-put-request.json') })
  t.equal(put.status, 202, 'PUT answers 202')
  t.equal(put.body, undefined, 'with an empty body')
  const afterPut = (await lab.req('GET', `${p}/configurations/${c.id}`)).body.configuration
  t.match(afterPut, { name: 'new_name', description: 'New description', values: { connect_timeout: 18 } })
  t.same(afterPut.values, { connect_timeout: 18 }, 'PUT replaced every value')

  const instances = await lab.req('GET', `${p}/configurations/${c.id}/instances`)
  t.same(instances.body, { instances: [] })

  const del = await lab.req('DELETE', `${p}/configurations/${c.id}`)
  t.equal(del.status, 202, 'delete answers 202 (transcript 58)')
  t.equal(del.body, undefined)
  const gone = { itemNotFound: { code: 404, message: `Configuration group with ID ${c.id} could not be found.` } }
  t.same((await lab.req('GET', `${p}/configurations/${c.id}`)).body, gone)
  t.same((await lab.req('DELETE', `${p}/configurations/${c.id}`)).body, gone, 'deleting again: 404 (transcript 61)')
  t.same((await lab.req('GET', `${p}/configurations`)).body, { configurations: [] })

  // The sample create request names a mysql version; the same body against the lab's mariadb.
  const fromSample = sample('config-group-create-request.json') as { configuration: { datastore: Record<string, string> } }
  fromSample.configuration.datastore = { type: 'mariadb', version: v.name, version_number: v.version }
  const c2 = await lab.req('POST', `${p}/configurations`, { body: fromSample })
  t.equal(c2.status, 200, 'the sample request creates a group')
  t.same(c2.body.configuration.values, { connect_timeout: 200 })
  t.equal(c2.body.configuration.description, null, 'no description: null (sample)')
})

t.test('PATCH merges values, PUT replaces them (and the name and description only when given)', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const v = await versionOf(lab, 'postgresql')
  const id = (
    await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'pg', values: { work_mem: '8MB', statement_timeout: 1000 }, datastore: { type: 'postgresql', version: v.name } } } })
  ).body.configuration.id
  const values = async () => (await lab.req('GET', `${p}/configurations/${id}`)).body.configuration

  await lab.req('PATCH', `${p}/configurations/${id}`, { body: { configuration: { values: { statement_timeout: 5000, lock_timeout: 10 } } } })
  t.same((await values()).values, { lock_timeout: 10, statement_timeout: 5000, work_mem: '8MB' }, 'PATCH: given keys added or overwritten, others kept')
  await lab.req('PATCH', `${p}/configurations/${id}`, { body: { configuration: {} } })
  t.same((await values()).values, { lock_timeout: 10, statement_timeout: 5000, work_mem: '8MB' }, 'PATCH without values changes none')

  const before = await values()
  await lab.req('PUT', `${p}/configurations/${id}`, { body: { configuration: { values: { autovacuum: false } } } })
  const after = await values()
  t.same(after.values, { autovacuum: false }, 'PUT: exactly the given values')
  t.equal(after.name, 'pg', 'name kept when not given')
  t.equal(after.description, null, 'description kept when not given')
  t.ok(after.updated >= before.updated, 'updated moves on')
  await lab.req('PUT', `${p}/configurations/${id}`, { body: { configuration: { name: 'renamed' } } })
  const renamed = await values()
  t.equal(renamed.name, 'renamed')
  t.same(renamed.values, {}, 'PUT without values leaves none (upstream replaces everything)')
})

t.test("another project's groups are not found; admins see every project's", async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const v = await versionOf(lab, 'redis')
  const id = (await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'mine', values: { maxmemory: 1048576 }, datastore: { type: 'redis', version: v.name } } } })).body
    .configuration.id
  const other = otherMember(lab)
  const o = `/v1.0/${other.project}`
  const notFound = { itemNotFound: { code: 404, message: `Configuration group with ID ${id} could not be found.` } }

  t.same((await lab.req('GET', `${o}/configurations`, { token: other.token })).body, { configurations: [] }, "not in the other project's list")
  for (const [method, path, body] of [
    ['GET', `${o}/configurations/${id}`, undefined],
    ['GET', `${o}/configurations/${id}/instances`, undefined],
    ['PUT', `${o}/configurations/${id}`, { configuration: { values: { maxmemory: 1 }, name: 'stolen' } }],
    ['PATCH', `${o}/configurations/${id}`, { configuration: { values: { maxmemory: 1 } } }],
    ['DELETE', `${o}/configurations/${id}`, undefined],
  ] as const) {
    const r = await lab.req(method, path, { token: other.token, body })
    t.equal(r.status, 404, `${method} ${path.replace(o, '')}: 404`)
    t.same(r.body, notFound)
  }
  const still = (await lab.req('GET', `${p}/configurations/${id}`)).body.configuration
  t.match(still, { name: 'mine', values: { maxmemory: 1048576 } }, 'nothing changed')

  const a = `/v1.0/${lab.admin.project}`
  const adminList = await lab.req('GET', `${a}/configurations`, { token: lab.admin.token })
  t.same(
    adminList.body.configurations.map((c: { id: string }) => c.id),
    [id],
    "an admin lists every project's groups",
  )
  t.equal((await lab.req('GET', `${a}/configurations/${id}`, { token: lab.admin.token })).status, 200, 'and shows them')
  const adminOwn = await lab.req('POST', `${a}/configurations`, { token: lab.admin.token, body: { configuration: { name: 'admins', values: {}, datastore: { type: 'redis' } } } })
  t.equal(adminOwn.status, 200, 'no values and the default version')
  t.same(
    (await lab.req('GET', `${p}/configurations`)).body.configurations.map((c: { id: string }) => c.id),
    [id],
    "a member does not see the admin project's group",
  )
  t.equal((await lab.req('GET', `${p}/configurations/${adminOwn.body.configuration.id}`)).status, 404)
})

t.test("every bad request gets upstream's fault and changes nothing", async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const v = await versionOf(lab, 'mariadb')
  const ds = { type: 'mariadb', version: v.name }
  const id = (await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'keep', values: { max_connections: 50 }, datastore: ds } } })).body.configuration.id
  const snapshot = async () => ({ list: (await lab.req('GET', `${p}/configurations`)).body, show: (await lab.req('GET', `${p}/configurations/${id}`)).body })
  const before = await snapshot()

  const bad = (message: string) => ({ badRequest: { code: 400, message } })
  const unprocessable = (message: string) => ({ unprocessableEntity: { code: 422, message } })
  const create = (configuration: unknown) => ({ configuration })
  const cases: Array<[string, 'POST' | 'PUT' | 'PATCH', unknown, number, unknown]> = [
    ['no body', 'POST', undefined, 400, bad("Validation error: None is not of type 'object'")],
    ['no configuration', 'POST', {}, 400, bad("Validation error: 'configuration' is a required property")],
    ['configuration not an object', 'POST', { configuration: 'x' }, 400, bad("Validation error: configuration 'x' is not of type 'object'")],
    ['no values', 'POST', create({ name: 'x', datastore: ds }), 400, bad("Validation error: configuration 'values' is a required property")],
    ['no name', 'POST', create({ values: {}, datastore: ds }), 400, bad("Validation error: configuration 'name' is a required property")],
    ['empty name', 'POST', create({ name: '', values: {}, datastore: ds }), 400, bad("Validation error: configuration['name'] '' is too short")],
    ['values not an object', 'POST', create({ name: 'x', values: [], datastore: ds }), 400, bad("Validation error: configuration['values'] [] is not of type 'object'")],
    ['empty description', 'POST', create({ name: 'x', values: {}, description: '', datastore: ds }), 400, bad("Validation error: configuration['description'] '' is too short")],
    ['no datastore', 'POST', create({ name: 'x', values: {} }), 400, bad("Please specify datastore. Default datastore 'None' cannot be found.")],
    ['unknown datastore', 'POST', create({ name: 'x', values: {}, datastore: { type: 'nosql' } }), 404, { itemNotFound: { code: 404, message: "Datastore 'nosql' cannot be found." } }],
    ['unknown version', 'POST', create({ name: 'x', values: {}, datastore: { type: 'mariadb', version: '9.9' } }), 400, bad("Datastore version '9.9' cannot be found.")],
    // Transcript 36 and 37, with the lab's datastore.
    [
      'unknown parameter',
      'POST',
      create({ name: 'bad', values: { no_such_param: 1 }, datastore: ds }),
      422,
      unprocessable(`The configuration parameter no_such_param is not supported for this datastore: mariadb ${v.name}.`),
    ],
    [
      'string for an integer',
      'POST',
      create({ name: 'bad2', values: { max_connections: 'lots' }, datastore: ds }),
      422,
      unprocessable('The value provided for the configuration parameter max_connections is not of type integer.'),
    ],
    [
      'fraction for an integer',
      'POST',
      create({ name: 'x', values: { max_connections: 1.5 }, datastore: ds }),
      422,
      unprocessable('The value provided for the configuration parameter max_connections is not of type integer.'),
    ],
    [
      'boolean for an integer',
      'POST',
      create({ name: 'x', values: { max_connections: true }, datastore: ds }),
      422,
      unprocessable('The value provided for the configuration parameter max_connections is not of type integer.'),
    ],
    [
      'null value',
      'POST',
      create({ name: 'x', values: { max_connections: null }, datastore: ds }),
      422,
      unprocessable('The value provided for the configuration parameter max_connections is not of type integer.'),
    ],
    [
      'number for a string',
      'POST',
      create({ name: 'x', values: { character_set_server: 8 }, datastore: ds }),
      422,
      unprocessable('The value provided for the configuration parameter character_set_server is not of type string.'),
    ],
    [
      'string for a boolean',
      'POST',
      create({ name: 'x', values: { performance_schema: 'ON' }, datastore: ds }),
      422,
      unprocessable('The value provided for the configuration parameter performance_schema is not of type boolean.'),
    ],
    [
      'string for a float',
      'POST',
      create({ name: 'x', values: { long_query_time: '2s' }, datastore: ds }),
      422,
      unprocessable('The value provided for the configuration parameter long_query_time is not of type float.'),
    ],
    [
      'below the minimum',
      'POST',
      create({ name: 'x', values: { connect_timeout: 1 }, datastore: ds }),
      422,
      unprocessable('The value for the configuration parameter connect_timeout is less than the minimum allowed: 2'),
    ],
    [
      'above the maximum',
      'POST',
      create({ name: 'x', values: { max_connections: 100001 }, datastore: ds }),
      422,
      unprocessable('The value for the configuration parameter max_connections is greater than the maximum allowed: 100000'),
    ],
    [
      'float below its minimum',
      'POST',
      create({ name: 'x', values: { long_query_time: -0.5 }, datastore: ds }),
      422,
      unprocessable('The value for the configuration parameter long_query_time is less than the minimum allowed: 0'),
    ],
    [
      'a later key fails',
      'POST',
      create({ name: 'x', values: { max_connections: 10, wait_timeout: 0 }, datastore: ds }),
      422,
      unprocessable('The value for the configuration parameter wait_timeout is less than the minimum allowed: 1'),
    ],
    [
      'value too long',
      'POST',
      create({ name: 'x', values: { character_set_server: 'x'.repeat(129) }, datastore: ds }),
      422,
      unprocessable('The value provided for the configuration parameter character_set_server is longer than 128 characters.'),
    ],
    ['PUT: no configuration', 'PUT', {}, 400, bad("Validation error: 'configuration' is a required property")],
    ['PUT: empty name', 'PUT', { configuration: { name: '' } }, 400, bad("Validation error: configuration['name'] '' is too short")],
    [
      'PUT: unknown parameter',
      'PUT',
      { configuration: { values: { nope: 1 }, name: 'changed' } },
      422,
      unprocessable(`The configuration parameter nope is not supported for this datastore: mariadb ${v.name}.`),
    ],
    [
      'PUT: above the maximum',
      'PUT',
      { configuration: { values: { max_connections: 1e6 } } },
      422,
      unprocessable('The value for the configuration parameter max_connections is greater than the maximum allowed: 100000'),
    ],
    ['PATCH: no configuration', 'PATCH', { values: {} }, 400, bad("Validation error: 'configuration' is a required property")],
    ['PATCH: values not an object', 'PATCH', { configuration: { values: 'x' } }, 400, bad("Validation error: configuration['values'] 'x' is not of type 'object'")],
    [
      'PATCH: wrong type',
      'PATCH',
      { configuration: { values: { max_connections: '100' } } },
      422,
      unprocessable('The value provided for the configuration parameter max_connections is not of type integer.'),
    ],
  ]
  for (const [what, method, body, status, fault] of cases) {
    const r = await lab.req(method, method === 'POST' ? `${p}/configurations` : `${p}/configurations/${id}`, { body })
    t.equal(r.status, status, `${what}: ${status}`)
    t.same(r.body, fault, `${what}: upstream's message`)
  }
  t.same(await snapshot(), before, 'no group created, none changed')

  t.same((await lab.req('GET', `${p}/configurations?limit=x`)).body, bad("Invalid limit 'x'."), 'a bad limit is a 400 (upstream: 500)')
  t.equal((await lab.req('PUT', `${p}/configurations/nope`, { body: { configuration: {} } })).status, 404, 'PUT of an unknown group: 404')
  t.equal((await lab.req('PATCH', `${p}/configurations/nope`, { body: { configuration: {} } })).status, 404)
  t.equal((await lab.req('GET', `${p}/configurations/nope/instances`)).status, 404)
})

t.test("keys are matched case-insensitively and stored under the parameter's name; values are typed when read", async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const v = await versionOf(lab, 'mariadb')
  const r = await lab.req('POST', `${p}/configurations`, {
    body: {
      configuration: {
        name: 'typed',
        values: { MAX_CONNECTIONS: 300, long_query_time: 2, performance_schema: false, character_set_server: 'utf8mb4' },
        datastore: { type: 'mariadb', version: v.name },
      },
    },
  })
  t.equal(r.status, 200)
  t.same(r.body.configuration.values, { max_connections: 300, long_query_time: 2, performance_schema: false, character_set_server: 'utf8mb4' })
  const id = r.body.configuration.id
  const raw = await rawGet(lab, `${p}/configurations/${id}`)
  t.match(raw, /"long_query_time":2\.0[,}]/, 'a float reads as a float (Python prints 2.0)')
  t.match(raw, /"performance_schema":false[,}]/, 'a boolean as a boolean')
  t.match(raw, /"max_connections":300[,}]/)

  // What is stored is converted by the parameter as it is now (upstream's load_items).
  const a = `/v1.0/${lab.admin.project}/mgmt/datastores/versions/${v.id}/parameters`
  const asString = await lab.req('PUT', `${a}/max_connections`, { token: lab.admin.token, body: { 'configuration-parameter': { name: 'max_connections', data_type: 'string', restart_required: 0 } } })
  t.equal(asString.status, 200)
  t.equal((await lab.req('GET', `${p}/configurations/${id}`)).body.configuration.values.max_connections, '300', 'now a string parameter: the stored text')
  t.equal((await lab.req('DELETE', `${a}/character_set_server`, { token: lab.admin.token })).status, 204)
  t.equal((await lab.req('GET', `${p}/configurations/${id}`)).body.configuration.values.character_set_server, 'utf8mb4', 'a removed parameter: its value as stored')
  const refused = await lab.req('PATCH', `${p}/configurations/${id}`, { body: { configuration: { values: { character_set_server: 'latin1' } } } })
  t.equal(refused.status, 422, 'but it can no longer be set')
})

t.test('password-like keys are masked in views', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  // Redis requirepass is refused (it would lock the agent out); one stored before that is still masked.
  const redis = await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'r', values: { maxmemory: 0 }, datastore: { type: 'redis' } } } })
  configurationStore(lab.server.lab.db).groups.merge(redis.body.configuration.id, [['requirepass', 's3cret']])
  t.same((await lab.req('GET', `${p}/configurations/${redis.body.configuration.id}`)).body.configuration.values, { maxmemory: 0, requirepass: '***' }, 'Redis requirepass is masked on show')
  const pg = await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'pg', values: { password_encryption: true }, datastore: { type: 'postgresql' } } } })
  t.same(pg.body.configuration.values, { password_encryption: '***' }, 'oslo masks any key containing "password"')
})

t.test('GET /configurations/{id}/instances reads instances.configuration_id; a group in use cannot be deleted', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, pageSize: 2 })
  const p = `/v1.0/${lab.demo.project}`
  const v = await versionOf(lab, 'mariadb')
  const cfg = (await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'used', values: { max_connections: 20 }, datastore: { type: 'mariadb', version: v.name } } } })).body
    .configuration
  const ids: string[] = []
  for (const name of ['a', 'b', 'c']) {
    const r = await lab.req('POST', `${p}/instances`, { body: { instance: { name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb', version: v.name } } } })
    t.equal(r.status, 200, `instance ${name} created`)
    ids.push(r.body.instance.id)
  }
  // What attaching will do (PUT /instances/{id} with `configuration`, next issue).
  const db = lab.server.lab.db
  for (const id of ids) db.prepare('UPDATE instances SET configuration_id = ? WHERE id = ?').run(cfg.id, id)

  const page1 = await lab.req('GET', `${p}/configurations/${cfg.id}/instances`)
  const sorted = [...ids].sort()
  t.same(
    page1.body.instances,
    sorted.slice(0, 2).map((id) => ({ id, name: ['a', 'b', 'c'][ids.indexOf(id)] })),
    'id and name, ids ascending, one page',
  )
  t.same(missingFields(page1.body, sample('config-group-list-instances-response.json')), [], 'every field of the sample')
  t.equal(page1.body.links[0].rel, 'next')
  const next = new URL(page1.body.links[0].href)
  t.equal(next.searchParams.get('marker'), sorted[1])
  const page2 = await lab.req('GET', `${p}/configurations/${cfg.id}/instances?${next.searchParams}`)
  t.same(
    page2.body.instances.map((i: { id: string }) => i.id),
    [sorted[2]],
  )
  t.notOk('links' in page2.body, 'last page: no links')
  t.equal((await lab.req('GET', `${p}/configurations/${cfg.id}`)).body.configuration.instance_count, 3, 'instance_count')

  const refused = await lab.req('DELETE', `${p}/configurations/${cfg.id}`)
  t.equal(refused.status, 400)
  t.same(
    refused.body,
    {
      badRequest: {
        code: 400,
        message:
          'A configuration group cannot be deleted if it is associated with one or more non-terminated instances. Detach the configuration group from all non-terminated instances and please try again.',
      },
    },
    'transcript 38',
  )
  t.equal((await lab.req('GET', `${p}/configurations/${cfg.id}`)).status, 200, 'still there')

  // Instances being deleted (upstream clears their configuration_id then) or deleted do not count.
  lab.server.lab.instances.setTask(ids[0], 'DELETING')
  db.prepare('UPDATE instances SET deleted = 1 WHERE id = ?').run(ids[1])
  db.prepare('UPDATE instances SET configuration_id = NULL WHERE id = ?').run(ids[2])
  t.equal((await lab.req('GET', `${p}/configurations/${cfg.id}`)).body.configuration.instance_count, 0)
  t.same((await lab.req('GET', `${p}/configurations/${cfg.id}/instances`)).body, { instances: [] })
  t.equal((await lab.req('DELETE', `${p}/configurations/${cfg.id}`)).status, 202, 'then it can be deleted (transcript 58)')
})

t.test('the group list pages by id, at most the page size', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, pageSize: 2 })
  const p = `/v1.0/${lab.demo.project}`
  const made: string[] = []
  for (const name of ['g1', 'g2', 'g3'])
    made.push((await lab.req('POST', `${p}/configurations`, { body: { configuration: { name, values: {}, datastore: { type: 'redis' } } } })).body.configuration.id)
  made.sort()
  const first = await lab.req('GET', `${p}/configurations?limit=50`)
  t.same(
    first.body.configurations.map((c: { id: string }) => c.id),
    made.slice(0, 2),
    'limit is capped at the page size',
  )
  const href = new URL(first.body.links[0].href)
  t.equal(href.searchParams.get('limit'), '2')
  t.equal(href.searchParams.get('marker'), made[1])
  const second = await lab.req('GET', `${p}/configurations?${href.searchParams}`)
  t.same(
    second.body.configurations.map((c: { id: string }) => c.id),
    made.slice(2),
  )
  t.notOk('links' in second.body)
  t.same(
    (await lab.req('GET', `${p}/configurations?limit=1&marker=${made[0]}`)).body.configurations.map((c: { id: string }) => c.id),
    [made[1]],
  )
})
