import t from 'tap'
import { readFileSync } from 'node:fs'
import { apiLab, missingFields, type ApiLab } from '../../helpers/api.js'
import { sample, buildServer } from '../../helpers/lab.js'
import { detectEngines } from '../../../src/server/compute/engines.js'
import { parseRules, rulesFor } from '../../../src/server/configurations/rules.js'
import { seedConfigurationParameters } from '../../../src/server/configurations/parameter-seed.js'

const PARAM_KEYS = ['name', 'datastore_version_id', 'restart_required', 'type', 'max', 'min']

async function versionOf(lab: ApiLab, datastore: string): Promise<{ id: string; name: string }> {
  return (await lab.req('GET', `/v1.0/${lab.demo.project}/datastores/${datastore}/versions`)).body.versions[0]
}

t.test("the shipped rules are upstream's, with exact bounds", async (t) => {
  t.equal(rulesFor('mysql').length, 102, 'MySQL: 102 keys (internals.md 4.1)')
  t.equal(rulesFor('redis').length, 53, 'Redis: 53 keys (internals.md 4.3)')
  t.ok(rulesFor('mariadb').length >= 38, 'MariaDB')
  t.ok(rulesFor('postgresql').length >= 177, 'PostgreSQL')
  t.same(rulesFor('cassandra'), [], 'no rules for other managers')
  t.same(rulesFor('__proto__'), [])
  for (const m of ['mysql', 'mariadb', 'postgresql', 'redis']) {
    const doc = JSON.parse(readFileSync(new URL(`../../../src/server/configurations/rules/${m}.json`, import.meta.url), 'utf8'))
    t.match(doc._source, /^openstack\/trove trove\/templates\/\w+\/validation-rules\.json.*commit [0-9a-f]{40}.*Apache-2\.0/, `${m}: the file says where it comes from`)
    t.ok(
      rulesFor(m).every((r) => ['integer', 'string', 'boolean', 'float'].includes(r.type)),
      `${m}: known types`,
    )
  }
  t.same(
    rulesFor('mysql').find((r) => r.name === 'innodb_buffer_pool_size'),
    { name: 'innodb_buffer_pool_size', restart_required: true, type: 'integer', min: '5242880', max: '18446744073709551615' },
    '2^64-1 is kept exact',
  )
  t.same(parseRules('{"configuration-parameters":[{"name":"x","restart_required":false,"min":-1,"max":18446744073709547520,"type":"integer"}]}'), [
    { name: 'x', restart_required: false, type: 'integer', min: '-1', max: '18446744073709547520' },
  ])
})

t.test('parameters of every installed engine, by datastore and version name and by version id', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const engines = await detectEngines()
  t.ok(engines.length > 0)
  for (const e of engines) {
    const v = await versionOf(lab, e.datastore)
    const byName = await lab.req('GET', `${p}/datastores/${e.datastore}/versions/${v.name}/parameters`)
    t.equal(byName.status, 200, `${e.datastore}: list`)
    const list = byName.body['configuration-parameters']
    t.equal(list.length, rulesFor(e.manager).length, `${e.datastore}: one parameter per rule`)
    t.ok(
      list.every((x: { datastore_version_id: string }) => x.datastore_version_id === v.id),
      `${e.datastore}: of this version`,
    )
    t.same(
      list.map((x: { name: string }) => x.name),
      [...list.map((x: { name: string }) => x.name)].sort(),
      `${e.datastore}: by name`,
    )
    const byId = await lab.req('GET', `${p}/datastores/versions/${v.id}/parameters`)
    t.same(byId.body, byName.body, `${e.datastore}: the same by version id`)
    t.same(
      (await lab.req('GET', `${p}/datastores/${(await lab.req('GET', `${p}/datastores/${e.datastore}`)).body.datastore.id}/versions/${v.id}/parameters`)).body,
      byName.body,
      `${e.datastore}: datastore and version by id`,
    )
    for (const x of list)
      t.same(
        Object.keys(x),
        PARAM_KEYS.filter((k) => k in x),
        `${e.datastore} ${x.name}: keys in upstream order`,
      )
    const first = list[0].name
    const show = await lab.req('GET', `${p}/datastores/${e.datastore}/versions/${v.name}/parameters/${first}`)
    t.same(show.body, list[0], `${e.datastore}: show is the bare parameter`)
    t.same((await lab.req('GET', `${p}/datastores/versions/${v.id}/parameters/${first}`)).body, list[0])
  }
})

t.test('the rules internals.md section 4 calls most important', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const installed = new Set((await detectEngines()).map((e) => e.datastore))
  const expect: Record<string, Array<Record<string, unknown>>> = {
    mariadb: [
      { name: 'max_connections', type: 'integer', min: 1, max: 100000, restart_required: false },
      { name: 'innodb_buffer_pool_size', type: 'integer', min: 5242880, restart_required: true },
      { name: 'innodb_log_buffer_size', type: 'integer', min: 262144, max: 4294967295, restart_required: true },
      { name: 'innodb_open_files', type: 'integer', min: 10, max: 4294967295, restart_required: true },
      { name: 'innodb_flush_log_at_trx_commit', type: 'integer', max: 2, restart_required: false },
      { name: 'innodb_file_per_table', type: 'integer', max: 1, restart_required: false },
      { name: 'max_allowed_packet', type: 'integer', min: 1024, max: 1073741824, restart_required: false },
      { name: 'wait_timeout', type: 'integer', min: 1, max: 31536000, restart_required: false },
      { name: 'connect_timeout', type: 'integer', min: 2, max: 31536000, restart_required: false },
      { name: 'key_buffer_size', type: 'integer', min: 8, max: 4294967295, restart_required: false },
      { name: 'long_query_time', type: 'float', restart_required: false },
      { name: 'character_set_server', type: 'string', restart_required: false },
      { name: 'collation_server', type: 'string', restart_required: false },
      { name: 'performance_schema', type: 'boolean', restart_required: true },
      { name: 'lower_case_table_names', type: 'integer', max: 2, restart_required: true },
      { name: 'sync_binlog', type: 'integer', max: 4294967295, restart_required: false },
    ],
    postgresql: [
      { name: 'max_connections', type: 'integer', restart_required: true },
      { name: 'shared_buffers', type: 'string', restart_required: true },
      { name: 'work_mem', type: 'string', restart_required: false },
      { name: 'maintenance_work_mem', type: 'string', restart_required: false },
      { name: 'effective_cache_size', type: 'string', restart_required: false },
      { name: 'temp_buffers', type: 'string', restart_required: false },
      { name: 'hot_standby', type: 'boolean', restart_required: true },
      { name: 'max_prepared_transactions', type: 'integer', restart_required: true },
      { name: 'max_locks_per_transaction', type: 'integer', restart_required: true },
      { name: 'statement_timeout', type: 'integer', restart_required: false },
      { name: 'lock_timeout', type: 'integer', restart_required: false },
      { name: 'idle_in_transaction_session_timeout', type: 'integer', restart_required: false },
      { name: 'log_min_duration_statement', type: 'string', restart_required: false },
      { name: 'log_statement', type: 'string', restart_required: false },
      { name: 'autovacuum', type: 'boolean', restart_required: false },
      { name: 'synchronous_commit', type: 'boolean', restart_required: false },
      { name: 'random_page_cost', type: 'integer', restart_required: false },
      { name: 'seq_page_cost', type: 'integer', restart_required: false },
    ],
    redis: [
      { name: 'maxmemory', type: 'integer', restart_required: false },
      { name: 'maxmemory-policy', type: 'string', restart_required: false },
      { name: 'maxmemory-samples', type: 'integer', restart_required: false },
      { name: 'maxclients', type: 'integer', restart_required: false },
      { name: 'timeout', type: 'integer', restart_required: false },
      { name: 'tcp-keepalive', type: 'integer', restart_required: false },
      { name: 'save', type: 'string', restart_required: false },
      { name: 'appendonly', type: 'boolean', restart_required: false },
      { name: 'appendfsync', type: 'string', restart_required: false },
      { name: 'requirepass', type: 'string', restart_required: false },
      { name: 'repl-backlog-size', type: 'integer', restart_required: false },
      { name: 'min-slaves-to-write', type: 'integer', restart_required: false },
      { name: 'min-slaves-max-lag', type: 'integer', restart_required: false },
      { name: 'slowlog-log-slower-than', type: 'integer', restart_required: false },
      { name: 'slowlog-max-len', type: 'integer', restart_required: false },
      { name: 'notify-keyspace-events', type: 'string', restart_required: false },
      { name: 'hz', type: 'integer', max: 500, restart_required: false },
      { name: 'hll-sparse-max-bytes', type: 'integer', max: 16000, restart_required: false },
      { name: 'databases', type: 'integer', restart_required: true },
      { name: 'tcp-backlog', type: 'integer', restart_required: true },
      { name: 'rdbchecksum', type: 'boolean', restart_required: true },
    ],
  }
  for (const [ds, rules] of Object.entries(expect)) {
    if (!installed.has(ds)) continue
    const v = await versionOf(lab, ds)
    for (const rule of rules) {
      const r = await lab.req('GET', `${p}/datastores/${ds}/versions/${v.name}/parameters/${rule.name}`)
      t.match(r.body, rule, `${ds} ${rule.name}`)
    }
  }
  if (installed.has('postgresql')) {
    const v = await versionOf(lab, 'postgresql')
    const mc = (await lab.req('GET', `${p}/datastores/postgresql/versions/${v.name}/parameters/max_connections`)).body
    t.notOk('min' in mc, 'a minimum of 0 is not shown (api.md 6.15)')
  }
  if (installed.has('mariadb')) {
    const v = await versionOf(lab, 'mariadb')
    const raw = (await lab.server.http.inject({ method: 'GET', url: `${p}/datastores/mariadb/versions/${v.name}/parameters/innodb_buffer_pool_size`, headers: { 'x-auth-token': lab.demo.token } }))
      .body
    t.match(raw, /"max":18446744073709551615,/, 'a bound past 2^53 is sent exactly')
    t.equal(JSON.parse(raw).max, 2 ** 64, 'and still parses as a number')
  }
})

t.test('parameter errors and contract checks', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const p = `/v1.0/${lab.demo.project}`
  const v = await versionOf(lab, 'mariadb')
  const nf = (message: string) => ({ itemNotFound: { code: 404, message } })
  t.same((await lab.req('GET', `${p}/datastores/mariadb/versions/${v.name}/parameters/no_such`)).body, nf('Resource no_such cannot be found.'))
  t.same((await lab.req('GET', `${p}/datastores/versions/${v.id}/parameters/no_such`)).body, nf('Resource no_such cannot be found.'))
  t.same((await lab.req('GET', `${p}/datastores/nosql/versions/1/parameters`)).body, nf("Datastore 'nosql' cannot be found."))
  const badName = await lab.req('GET', `${p}/datastores/mariadb/versions/9.9/parameters`)
  t.equal(badName.status, 400, 'unknown version name: 400')
  t.same(badName.body, { badRequest: { code: 400, message: "Datastore version '9.9' cannot be found." } })
  const uuid = '00000000-0000-0000-0000-000000000000'
  t.same((await lab.req('GET', `${p}/datastores/mariadb/versions/${uuid}/parameters`)).body, nf(`Datastore version '${uuid}' cannot be found.`), 'unknown version id: 404')
  t.same((await lab.req('GET', `${p}/datastores/versions/${uuid}/parameters`)).body, nf(`Datastore version '${uuid}' cannot be found.`))
  t.same((await lab.req('GET', `${p}/datastores/versions/${uuid}/parameters/max_connections`)).body, nf(`Datastore version '${uuid}' cannot be found.`))

  const list = (await lab.req('GET', `${p}/datastores/versions/${v.id}/parameters`)).body
  // api.md 11: the samples show "min": 0, which the code omits; compare with parameters that have both bounds.
  const listSample = sample('datastore-version-parameter-list-response.json') as { 'configuration-parameters': unknown[] }
  t.same(
    missingFields({ 'configuration-parameters': list['configuration-parameters'].filter((x: Record<string, unknown>) => 'min' in x && 'max' in x) }, listSample),
    [],
    'every field of the list sample',
  )
  const show = (await lab.req('GET', `${p}/datastores/versions/${v.id}/parameters/wait_timeout`)).body
  t.same(missingFields(show, sample('datastore-version-parameter-show-response.json')), [], 'every field of the show sample')
  t.same(show, { name: 'wait_timeout', datastore_version_id: v.id, restart_required: false, type: 'integer', max: 31536000, min: 1 })
})

t.test('admins create, update and delete parameters; members get 401', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const v = await versionOf(lab, 'redis')
  const a = `/v1.0/${lab.admin.project}/mgmt/datastores/versions/${v.id}/parameters`
  const admin = { token: lab.admin.token }
  const p = `/v1.0/${lab.demo.project}`
  const m = `${p}/mgmt/datastores/versions/${v.id}/parameters`

  const createBody = sample('datastore-version-parameter-create-request.json')
  const created = await lab.req('POST', a, { ...admin, body: createBody })
  t.equal(created.status, 200, 'create answers 200')
  // api.md 11: one bare object with max_size/min_size, not the sample's list with max/min.
  t.same(created.body, { name: 'connect_timeout', datastore_version_id: v.id, restart_required: false, type: 'integer', max_size: 65535, min_size: 64 })
  const expectedShape = (sample('datastore-version-parameter-create-response.json') as { 'configuration-parameters': Array<Record<string, unknown>> })['configuration-parameters'][0]
  t.same(
    Object.keys(created.body).sort(),
    Object.keys(expectedShape)
      .map((k) => ({ max: 'max_size', min: 'min_size' })[k] ?? k)
      .sort(),
    "the sample's fields, with the code's bound names",
  )
  t.same(
    (await lab.req('GET', `${p}/datastores/versions/${v.id}/parameters/connect_timeout`)).body,
    { name: 'connect_timeout', datastore_version_id: v.id, restart_required: false, type: 'integer', max: 65535, min: 64 },
    'members see it',
  )
  const dup = await lab.req('POST', a, { ...admin, body: createBody })
  t.same(dup.body, { badRequest: { code: 400, message: `connect_timeout parameter already exists for datastore version ${v.id}.` } }, 'a duplicate: 400')

  const updated = await lab.req('PUT', `${a}/connect_timeout`, { ...admin, body: sample('datastore-version-parameter-update-request.json') })
  t.equal(updated.status, 200)
  // api.md 11: no deleted/deleted_at (the sample has them).
  const updSample = sample('datastore-version-parameter-update-response.json') as Record<string, unknown>
  delete updSample.deleted
  delete updSample.deleted_at
  t.same(missingFields(updated.body, updSample), [], 'every field of the update sample but deleted/deleted_at')
  t.same(updated.body, { name: 'connect_timeout', datastore_version_id: v.id, restart_required: true, type: 'integer', max_size: 65535, min_size: 64 })
  t.same((await lab.req('GET', `${a}/connect_timeout`, admin)).body, updated.body, 'admin show: the bare MgmtParam')
  const adminList = (await lab.req('GET', a, admin)).body['configuration-parameters']
  t.equal(adminList.length, rulesFor('redis').length + 1, 'admin list')
  t.same(
    adminList.find((x: { name: string }) => x.name === 'hz'),
    { name: 'hz', datastore_version_id: v.id, restart_required: false, type: 'integer', max_size: 500 },
    'max_size/min_size, min_size 0 omitted',
  )

  // The new parameter is one groups can use, and its bounds hold.
  const g = await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'g', values: { connect_timeout: 100 }, datastore: { type: 'redis', version: v.name } } } })
  t.equal(g.status, 200, 'a group uses the new parameter')
  t.same((await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'g', values: { connect_timeout: 63 }, datastore: { type: 'redis', version: v.name } } } })).body, {
    unprocessableEntity: { code: 422, message: 'The value for the configuration parameter connect_timeout is less than the minimum allowed: 64' },
  })

  // Members: 401 on every admin route, and nothing changes.
  const before = (await lab.req('GET', a, admin)).body
  const unauthorized = { unauthorized: { code: 401, message: 'User does not have admin privileges.' } }
  for (const [method, path, body] of [
    ['GET', m, undefined],
    ['GET', `${m}/connect_timeout`, undefined],
    ['POST', m, sample('datastore-version-parameter-create-request.json')],
    ['PUT', `${m}/connect_timeout`, { 'configuration-parameter': { name: 'connect_timeout', data_type: 'string', restart_required: 0 } }],
    ['DELETE', `${m}/connect_timeout`, undefined],
    ['POST', m, { nonsense: true }],
  ] as const) {
    const r = await lab.req(method, path, { body })
    t.equal(r.status, 401, `member ${method} ${path.replace(p, '')}: 401`)
    t.same(r.body, unauthorized)
  }
  t.same((await lab.req('GET', a, admin)).body, before, 'nothing changed')

  const deleted = await lab.req('DELETE', `${a}/connect_timeout`, admin)
  t.equal(deleted.status, 204, 'delete answers 204')
  t.equal(deleted.body, undefined)
  t.same((await lab.req('DELETE', `${a}/connect_timeout`, admin)).body, { badRequest: { code: 400, message: 'Parameter connect_timeout does not exist in the database.' } })
  t.same((await lab.req('GET', `${a}/connect_timeout`, admin)).body, { itemNotFound: { code: 404, message: 'Resource connect_timeout cannot be found.' } })
  t.same((await lab.req('PUT', `${a}/connect_timeout`, { ...admin, body: sample('datastore-version-parameter-update-request.json') })).body, {
    itemNotFound: { code: 404, message: 'Resource connect_timeout cannot be found.' },
  })
  t.equal(
    (await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'g', values: { connect_timeout: 100 }, datastore: { type: 'redis', version: v.name } } } })).status,
    422,
    'a deleted parameter can no longer be set',
  )
  const again = await lab.req('POST', a, { ...admin, body: { 'configuration-parameter': { name: 'connect_timeout', data_type: 'boolean', restart_required: 1 } } })
  t.same(again.body, { name: 'connect_timeout', datastore_version_id: v.id, restart_required: true, type: 'boolean' }, 'created again (a boolean can be registered here, unlike upstream)')

  // Any name an admin registers is a plain key in group values, even this one.
  t.equal((await lab.req('POST', a, { ...admin, body: { 'configuration-parameter': { name: '__proto__', data_type: 'string', restart_required: 0 } } })).status, 200)
  const odd = await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'odd', values: JSON.parse('{"__proto__": "x"}'), datastore: { type: 'redis', version: v.name } } } })
  t.equal(odd.status, 200)
  t.same(Object.entries(odd.body.configuration.values), [['__proto__', 'x']])
  const oddShow = (await lab.req('GET', `${p}/configurations/${odd.body.configuration.id}`)).body.configuration.values
  t.same(Object.entries(oddShow), [['__proto__', 'x']])
})

t.test('bad admin requests get a 400 and change nothing', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const v = await versionOf(lab, 'postgresql')
  const a = `/v1.0/${lab.admin.project}/mgmt/datastores/versions/${v.id}/parameters`
  const admin = { token: lab.admin.token }
  const before = (await lab.req('GET', a, admin)).body
  const bad = (message: string) => ({ badRequest: { code: 400, message } })
  const param = (o: Record<string, unknown>) => ({ 'configuration-parameter': { name: 'p1', data_type: 'integer', restart_required: 0, min_size: 0, max_size: 10, ...o } })
  const cases: Array<[string, unknown, unknown]> = [
    ['no body', undefined, bad("Validation error: None is not of type 'object'")],
    ['no wrapper', { name: 'x' }, bad("Validation error: 'configuration-parameter' is a required property")],
    ['no name', { 'configuration-parameter': { data_type: 'string', restart_required: 0 } }, bad("Validation error: configuration-parameter 'name' is a required property")],
    ['long name', param({ name: 'x'.repeat(129) }), bad(`Validation error: configuration-parameter['name'] '${'x'.repeat(129)}' is too long`)],
    ['unknown type', param({ data_type: 'bool' }), bad("Validation error: configuration-parameter['data_type'] 'bool' is not one of ['integer', 'string', 'boolean', 'float']")],
    ['restart_required not 0/1', param({ restart_required: 2 }), bad("Validation error: configuration-parameter['restart_required'] 2 is greater than the maximum of 1")],
    ['restart_required boolean', param({ restart_required: true }), bad("Validation error: configuration-parameter['restart_required'] True is not of type 'integer'")],
    ['bound not an integer', param({ max_size: 'lots' }), bad("Validation error: configuration-parameter['max_size'] 'lots' is not valid under any of the given schemas")],
    ['integer without max_size', param({ max_size: undefined }), bad('max_size is required for integer data type.')],
    ['integer without min_size', param({ min_size: undefined }), bad('min_size is required for integer data type.')],
    ['max below min', param({ min_size: '10', max_size: '9' }), bad('max_size must be greater than or equal to min_size.')],
  ]
  for (const [what, body, fault] of cases) {
    const r = await lab.req('POST', a, { ...admin, body })
    t.equal(r.status, 400, `${what}: 400`)
    t.same(r.body, fault, `${what}: message`)
  }
  const uuid = '00000000-0000-0000-0000-000000000000'
  const unknownVersion = { itemNotFound: { code: 404, message: `Datastore version '${uuid}' cannot be found.` } }
  const other = `/v1.0/${lab.admin.project}/mgmt/datastores/versions/${uuid}/parameters`
  t.same((await lab.req('POST', other, { ...admin, body: param({}) })).body, unknownVersion)
  t.same((await lab.req('GET', other, admin)).body, unknownVersion)
  t.same((await lab.req('GET', `${other}/max_connections`, admin)).body, unknownVersion)
  t.same((await lab.req('DELETE', `${other}/max_connections`, admin)).body, bad('Parameter max_connections does not exist in the database.'))
  t.same((await lab.req('GET', a, admin)).body, before, 'nothing changed')
  const ok = await lab.req('POST', a, { ...admin, body: param({ min_size: '-1', max_size: '18446744073709551615' }) })
  t.equal(ok.status, 200, 'bounds as strings, past 2^53')
  const raw = (await lab.server.http.inject({ method: 'GET', url: `${a}/p1`, headers: { 'x-auth-token': lab.admin.token } })).body
  t.match(raw, /"max_size":18446744073709551615,"min_size":-1\}/, 'kept exactly')
})

t.test('seeding: idempotent, new versions get their rows, admin changes survive restarts', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false })
  const db = lab.server.lab.db
  t.equal(seedConfigurationParameters(db), 0, 'a second run writes nothing')
  const count = (vid: string) => db.prepare('SELECT COUNT(*) FROM datastore_configuration_parameters WHERE datastore_version_id = ? AND deleted = 0').pluck().get(vid)

  const v = await versionOf(lab, 'redis')
  const a = `/v1.0/${lab.admin.project}/mgmt/datastores/versions/${v.id}/parameters`
  await lab.req('PUT', `${a}/maxclients`, {
    token: lab.admin.token,
    body: { 'configuration-parameter': { name: 'maxclients', data_type: 'integer', restart_required: 1, min_size: 1, max_size: 100 } },
  })
  await lab.req('DELETE', `${a}/hz`, { token: lab.admin.token })
  // A rule row drifted from the file (as after an upgrade that changed the rules) is brought back in line.
  db.prepare("UPDATE datastore_configuration_parameters SET min_size = '7' WHERE datastore_version_id = ? AND name = 'timeout'").run(v.id)
  t.equal(seedConfigurationParameters(db), 1, 'only the drifted rule row is rewritten')

  // A version registered later (here: by hand, as the mgmt API or a new engine would).
  const ds = db.prepare("SELECT id FROM datastores WHERE name = 'redis'").pluck().get() as string
  db.prepare("INSERT INTO datastore_versions (id, datastore_id, name, manager, version, active) VALUES ('new-version', ?, '99.0', 'redis', '99.0.0', 0)").run(ds)
  t.equal(seedConfigurationParameters(db, ['new-version']), rulesFor('redis').length, 'seeding one version')
  t.equal(count('new-version'), rulesFor('redis').length)

  await lab.server.close()
  const again = await buildServer({ dataDir: lab.dataDir, host: '127.0.0.1', port: 0, spawnAgents: false, log: () => {} })
  t.teardown(() => again.close())
  const row = (name: string) =>
    again.lab.db.prepare('SELECT restart_required, min_size, max_size, deleted FROM datastore_configuration_parameters WHERE datastore_version_id = ? AND name = ?').get(v.id, name)
  t.same(row('maxclients'), { restart_required: 1, min_size: '1', max_size: '100', deleted: 0 }, "an admin's update survives a restart")
  t.same(row('hz'), { restart_required: 0, min_size: '0', max_size: '500', deleted: 1 }, "an admin's delete too")
  t.same(row('timeout'), { restart_required: 0, min_size: '0', max_size: null, deleted: 0 }, 'rule rows follow the rules')
  t.equal(again.lab.db.prepare('SELECT COUNT(*) FROM datastore_configuration_parameters WHERE datastore_version_id = ?').pluck().get('new-version'), rulesFor('redis').length)
})
