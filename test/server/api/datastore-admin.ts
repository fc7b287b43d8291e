import t from 'tap'
import { apiLab, missingFields, type ApiLab } from '../../helpers/api.js'
import { sample, buildServer } from '../../helpers/lab.js'
import { until } from '../../helpers/scripted-agent.js'
import type { DetectedEngine } from '../../../src/server/compute/engines.js'

/** Engines the lab believes installed: no instance is started in these tests, so they need not be. */
const REDIS: DetectedEngine = { datastore: 'redis', manager: 'redis', name: '7.0', version: '7.0.15', packages: 'redis-server' }
const PG: DetectedEngine = { datastore: 'postgresql', manager: 'postgresql', name: '16', version: '16.4', binDir: '/usr/lib/postgresql/16/bin', packages: 'postgresql-16' }
const MYSQL: DetectedEngine = { datastore: 'mysql', manager: 'mysql', name: '5.7', version: '5.7.30', packages: 'mysql-server' }

type Version = { id: string; name: string; version: string; datastore_name: string; active: boolean; default: boolean; [k: string]: unknown }

function helpers(lab: ApiLab) {
  const a = `/v1.0/${lab.admin.project}`
  const admin = { token: lab.admin.token }
  const versions = async (): Promise<Version[]> => (await lab.req('GET', `${a}/mgmt/datastore-versions`, admin)).body.versions
  const find = async (ds: string, name: string) => (await versions()).find((v) => v.datastore_name === ds && v.name === name)
  return { a, admin, versions, find }
}

t.test('list, show, create, patch and delete datastore versions (upstream samples)', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, engines: [REDIS, PG, MYSQL], rateLimits: [] })
  const { a, admin, versions, find } = helpers(lab)
  const p = `/v1.0/${lab.demo.project}`

  const list = await lab.req('GET', `${a}/mgmt/datastore-versions`, admin)
  t.equal(list.status, 200)
  t.equal(list.body.versions.length, 3)
  const listSample = sample('datastore-version-mgmt-list-response.json') as { versions: unknown[] }
  t.same(missingFields(list.body.versions[0], listSample.versions[0]), [], 'list items have every field of the sample')
  const redis = await find('redis', '7.0')
  t.same(
    redis,
    {
      id: redis!.id,
      name: '7.0',
      version: '7.0.15',
      datastore_id: redis!.datastore_id,
      datastore_name: 'redis',
      datastore_manager: 'redis',
      image: null,
      image_tags: [''],
      packages: ['redis-server'],
      active: true,
      registry_ext: null,
      repl_strategy: null,
      default: true,
    },
    'an installed engine, as registered at start (lists are [""] when empty, as upstream)',
  )
  const shown = await lab.req('GET', `${a}/mgmt/datastore-versions/${redis!.id}`, admin)
  t.same(missingFields(shown.body, sample('datastore-version-mgmt-show-response.json')), [], 'show has every field of the sample')
  t.same(shown.body.version, redis)

  // The upstream sample registers "test" (mysql 5.7.30, image tag "trove"): the installed mysql engine runs it.
  const created = await lab.req('POST', `${a}/mgmt/datastore-versions`, { body: sample('datastore-version-create-request.json'), ...admin })
  t.equal(created.status, 202)
  t.equal(created.body, undefined, 'empty body')
  const test = await find('mysql', 'test')
  t.match(test, { version: '5.7.30', datastore_manager: 'mysql', image: null, image_tags: ['trove'], packages: [''], active: true, default: false })
  t.ok(
    (await lab.req('GET', `${p}/datastores/mysql/versions`)).body.versions.some((v: { name: string }) => v.name === 'test'),
    'members can pick it',
  )
  const params = (await lab.req('GET', `${p}/datastores/versions/${test!.id}/parameters`)).body['configuration-parameters'] as Array<{ name: string }>
  t.ok(
    params.some((x) => x.name === 'max_connections'),
    "it gets its manager's configuration parameters at once",
  )

  // A new datastore is created on the way; default: true makes the version its default.
  const custom = {
    version: {
      name: 'edge',
      datastore_name: 'redis-edge',
      datastore_manager: 'redis',
      version: '7.0',
      image: '42706631-3b76-4d1c-95c9-6a85e72eebda',
      packages: ['redis-server', 'redis-tools'],
      active: true,
      default: true,
    },
  }
  t.equal((await lab.req('POST', `${a}/mgmt/datastore-versions`, { body: custom, ...admin })).status, 202)
  const edge = await find('redis-edge', 'edge')
  t.match(edge, { version: '7.0', image: '42706631-3b76-4d1c-95c9-6a85e72eebda', image_tags: [''], packages: ['redis-server', 'redis-tools'], default: true })
  t.equal((await lab.req('GET', `${p}/datastores/redis-edge`)).body.datastore.default_version, edge!.id)

  // PATCH with the upstream sample: rename, image, active.
  const patched = await lab.req('PATCH', `${a}/mgmt/datastore-versions/${test!.id}`, { body: sample('datastore-version-mgmt-patch-request.json'), ...admin })
  t.equal(patched.status, 202)
  t.match(await find('mysql', 'new name'), { id: test!.id, version: '5.7.30', image: '42706631-3b76-4d1c-95c9-6a85e72eebda', active: true })
  t.equal(
    (await lab.req('PATCH', `${a}/mgmt/datastore-versions/${test!.id}`, { body: { default: true, image_tags: ['trove', 'mysql'], registry_ext: 'ext', repl_strategy: 'strategy' }, ...admin })).status,
    202,
  )
  t.match(await find('mysql', 'new name'), { default: true, image_tags: ['trove', 'mysql'], registry_ext: 'ext', repl_strategy: 'strategy' })
  t.match(await find('mysql', '5.7'), { default: false }, 'one default per datastore')
  t.equal((await lab.req('PATCH', `${a}/mgmt/datastore-versions/${test!.id}`, { body: { default: false }, ...admin })).status, 202)
  t.notOk((await lab.req('GET', `${p}/datastores/mysql`)).body.datastore.default_version, 'default: false clears the default')
  t.equal((await lab.req('PATCH', `${a}/mgmt/datastore-versions/${test!.id}`, { body: { active: false }, ...admin })).status, 202)
  t.notOk(
    (await lab.req('GET', `${p}/datastores/mysql/versions`)).body.versions.some((v: { id: string }) => v.id === test!.id),
    'inactive: members no longer see it',
  )
  t.equal((await lab.req('GET', `${p}/datastores/versions/${test!.id}`)).status, 404)

  t.equal((await lab.req('DELETE', `${a}/mgmt/datastore-versions/${edge!.id}`, admin)).status, 202)
  t.equal((await lab.req('GET', `${a}/mgmt/datastore-versions/${edge!.id}`, admin)).status, 404)
  t.notOk((await lab.req('GET', `${a}/datastores/redis-edge`, admin)).body.datastore.default_version, 'deleting the default version clears the default')
  t.equal((await versions()).length, 4)
})

t.test('bad input gets upstream faults and changes nothing', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, engines: [REDIS, PG, MYSQL], rateLimits: [] })
  const { a, admin, versions, find } = helpers(lab)
  const before = await versions()
  const datastores = async () => (await lab.req('GET', `${a}/datastores`, admin)).body.datastores.map((d: { name: string }) => d.name).sort()
  const dsBefore = await datastores()
  const base = { name: 'x', datastore_name: 'nosql', datastore_manager: 'redis', version: '7.0', image_tags: ['lab'], active: true }
  const uuidPattern = '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$'
  const cases: Array<[string, unknown, string]> = [
    ['no body', undefined, "Validation error: None is not of type 'object'"],
    ['no version', {}, "Validation error: 'version' is a required property"],
    ['no name', { version: { ...base, name: undefined } }, "Validation error: version 'name' is a required property"],
    ['no active', { version: { ...base, active: undefined } }, "Validation error: version 'active' is a required property"],
    ['active as a string', { version: { ...base, active: 'true' } }, "Validation error: version['active'] 'true' is not one of [True, False]"],
    ['an extra key', { version: { ...base, flavor: 1 } }, "Validation error: version Additional properties are not allowed ('flavor' was unexpected)"],
    ['a bad image id', { version: { ...base, image: 'ubuntu' } }, `Validation error: version['image'] 'ubuntu' does not match '${uuidPattern}'`],
    ['six image tags', { version: { ...base, image_tags: ['a', 'b', 'c', 'd', 'e', 'f'] } }, "Validation error: version['image_tags'] ['a', 'b', 'c', 'd', 'e', 'f'] is too long"],
    ['repeated packages', { version: { ...base, packages: ['a', 'a'] } }, "Validation error: version['packages'] ['a', 'a'] has non-unique elements"],
    ['no image and no tags', { version: { ...base, image_tags: [] } }, 'Image or image tags must be specified.'],
    ['a manager this lab cannot run', { version: { ...base, datastore_manager: 'cassandra' } }, 'Datastore manager cassandra cannot be found. This lab runs mariadb, mysql, postgresql, redis.'],
    [
      'active without an engine for it',
      { version: { ...base, version: '8.0' } },
      "Datastore version 'x' cannot be active: no installed redis engine has version 8.0 (installed when the server started: redis 7.0.15). Install it and restart 'trove server', use the version number of an installed engine, or make the version inactive.",
    ],
    [
      'the name doubles as the version number',
      { version: { ...base, version: undefined } },
      "Datastore version 'x' cannot be active: no installed redis engine has version x (installed when the server started: redis 7.0.15). Install it and restart 'trove server', use the version number of an installed engine, or make the version inactive.",
    ],
    ['same name and version', { version: { ...base, datastore_name: 'redis', name: '7.0', version: '7.0.15' } }, "A datastore version with the name '7.0' and version '7.0.15' already exists."],
    [
      'same name, another version',
      { version: { ...base, datastore_name: 'redis', name: '7.0', version: '7' } },
      "A datastore version with the name '7.0' already exists in datastore 'redis' (version '7.0.15'); version names are unique within a datastore.",
    ],
  ]
  for (const [what, body, message] of cases) {
    const r = await lab.req('POST', `${a}/mgmt/datastore-versions`, { ...(body === undefined ? {} : { body }), ...admin })
    t.same(r.body, { badRequest: { code: 400, message } }, what)
  }
  t.same(await versions(), before, 'no version was written')
  t.same(await datastores(), dsBefore, 'no datastore was created')

  // An inactive version needs no engine; it cannot be made active without one.
  t.equal((await lab.req('POST', `${a}/mgmt/datastore-versions`, { body: { version: { ...base, datastore_name: 'redis', name: 'future', version: '8.0', active: false } }, ...admin })).status, 202)
  const future = (await find('redis', 'future'))!
  const redis = (await find('redis', '7.0'))!
  const patchCases: Array<[string, unknown, number, unknown]> = [
    [
      'active without an engine',
      { active: true },
      400,
      {
        badRequest: {
          code: 400,
          message:
            "Datastore version 'future' cannot be active: no installed redis engine has version 8.0 (installed when the server started: redis 7.0.15). Install it and restart 'trove server', use the version number of an installed engine, or make the version inactive.",
        },
      },
    ],
    ['the version number', { version: '7.0.15' }, 400, { badRequest: { code: 400, message: "Validation error: Additional properties are not allowed ('version' was unexpected)" } }],
    [
      'a manager this lab cannot run',
      { datastore_manager: 'couchdb' },
      400,
      { badRequest: { code: 400, message: 'Datastore manager couchdb cannot be found. This lab runs mariadb, mysql, postgresql, redis.' } },
    ],
    [
      'a name taken',
      { name: '7.0' },
      400,
      { badRequest: { code: 400, message: "A datastore version with the name '7.0' already exists in datastore 'redis' (version '7.0.15'); version names are unique within a datastore." } },
    ],
    ['removing the last image reference', { image_tags: [] }, 400, { badRequest: { code: 400, message: 'Image or image tags must be specified.' } }],
    ['not an object', [], 400, { badRequest: { code: 400, message: "Validation error: [] is not of type 'object'" } }],
    ['default as a string', { default: 'yes' }, 400, { badRequest: { code: 400, message: "Validation error: default 'yes' is not one of [True, False]" } }],
  ]
  for (const [what, body, status, fault] of patchCases) {
    const r = await lab.req('PATCH', `${a}/mgmt/datastore-versions/${future.id}`, { body, ...admin })
    t.equal(r.status, status, `PATCH ${what}: status`)
    t.same(r.body, fault, `PATCH ${what}: fault`)
  }
  t.same(await find('redis', 'future'), future, 'the version is unchanged')
  t.same((await lab.req('PATCH', `${a}/mgmt/datastore-versions/00000000-0000-0000-0000-000000000000`, { body: {}, ...admin })).body, {
    itemNotFound: { code: 404, message: "Datastore version '00000000-0000-0000-0000-000000000000' cannot be found." },
  })
  t.equal((await lab.req('DELETE', `${a}/mgmt/datastore-versions/00000000-0000-0000-0000-000000000000`, admin)).status, 404)

  // A version in use by an instance can be neither deleted nor switched to another manager.
  const p = `/v1.0/${lab.demo.project}`
  const inst = (await lab.req('POST', `${p}/instances`, { body: { instance: { name: 'user', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis', version: '7.0' } } } })).body.instance
    .id as string
  t.same((await lab.req('DELETE', `${a}/mgmt/datastore-versions/${redis.id}`, admin)).body, { badRequest: { code: 400, message: 'Datastore version is in use by instance.' } })
  t.same((await lab.req('PATCH', `${a}/mgmt/datastore-versions/${redis.id}`, { body: { datastore_manager: 'mysql' }, ...admin })).body, {
    badRequest: { code: 400, message: 'Datastore version is in use by instance.' },
  })
  t.same((await lab.req('DELETE', `${a}/datastores/redis`, admin)).body, { badRequest: { code: 400, message: 'Datastore versions exist for datastore redis.' } })
  t.same(await find('redis', '7.0'), redis, 'still there, unchanged')

  // So is a version a configuration group uses.
  const mysql = (await find('mysql', '5.7'))!
  const cfg = await lab.req('POST', `${p}/configurations`, { body: { configuration: { name: 'cfg', values: { max_connections: 100 }, datastore: { type: 'mysql', version: '5.7' } } } })
  t.equal(cfg.status, 200, 'a configuration group on mysql 5.7')
  t.same((await lab.req('DELETE', `${a}/mgmt/datastore-versions/${mysql.id}`, admin)).body, { badRequest: { code: 400, message: 'Datastore version is in use by configuration.' } })

  // Once the instance is deleted the version can go; the deleted instance's record lets go of it.
  await lab.req('POST', `${a}/instances/${inst}/action`, { body: { reset_status: {} }, ...admin })
  t.equal((await lab.req('DELETE', `${p}/instances/${inst}`)).status, 202)
  await until(() => lab.server.lab.instances.getAny(inst)?.deleted === 1, 10_000, 'instance deleted')
  t.equal((await lab.req('DELETE', `${a}/mgmt/datastore-versions/${redis.id}`, admin)).status, 202)
  t.equal((await lab.req('DELETE', `${a}/mgmt/datastore-versions/${future.id}`, admin)).status, 202)
  t.equal(lab.server.lab.instances.getAny(inst)?.datastore_version_id, null)
  t.match((await lab.req('GET', `${a}/mgmt/instances/${inst}?deleted=true`, admin)).body.instance, { id: inst, deleted: true, datastore: { type: null, version: null } })

  // DELETE /datastores/{ds}: policy datastore:delete (admin), 404 unknown, 202 once it has no versions.
  t.same((await lab.req('DELETE', `${p}/datastores/redis`)).body, { forbidden: { code: 403, message: "Policy doesn't allow datastore:delete to be performed." } })
  t.same((await lab.req('DELETE', `${a}/datastores/nosql`, admin)).body, { itemNotFound: { code: 404, message: "Datastore 'nosql' cannot be found." } })
  t.equal((await lab.req('DELETE', `${a}/datastores/redis`, admin)).status, 202)
  t.equal((await lab.req('GET', `${a}/datastores/redis`, admin)).status, 404)
  t.same(await datastores(), ['mysql', 'postgresql'])
})

t.test('start-up registration keeps what an admin changed', async (t) => {
  const lab = await apiLab(t, { spawnAgents: false, engines: [REDIS, PG, MYSQL] })
  const { a, admin, find } = helpers(lab)
  const redis = (await find('redis', '7.0'))!
  const pg = (await find('postgresql', '16'))!
  const mysql = (await find('mysql', '5.7'))!
  const patch = (id: string, body: unknown) => lab.req('PATCH', `${a}/mgmt/datastore-versions/${id}`, { body, ...admin })
  t.equal((await patch(redis.id, { active: false })).status, 202, 'an admin deactivates redis 7.0')
  t.equal((await patch(mysql.id, { name: '5.7-prod' })).status, 202, 'renames mysql 5.7')
  t.equal((await lab.req('DELETE', `${a}/mgmt/datastore-versions/${pg.id}`, admin)).status, 202, 'deletes postgresql 16')
  t.equal(
    (
      await lab.req('POST', `${a}/mgmt/datastore-versions`, {
        body: { version: { name: 'custom', datastore_name: 'redis', datastore_manager: 'redis', version: '7.0', image_tags: ['lab'], active: true } },
        ...admin,
      })
    ).status,
    202,
    'adds a version of its own',
  )
  const custom = (await find('redis', 'custom'))!
  await lab.server.close()

  type Row = { name: string; version: string; active: number }
  const restart = async (engines: DetectedEngine[]) => {
    const s = await buildServer({ dataDir: lab.dataDir, host: '127.0.0.1', port: 0, spawnAgents: false, engines, log: () => {} })
    const rows = Object.fromEntries(
      (
        s.lab.db.prepare('SELECT v.id, d.name AS ds, v.name, v.version, v.active FROM datastore_versions v JOIN datastores d ON d.id = v.datastore_id').all() as Array<Row & { id: string; ds: string }>
      ).map((r) => [r.id, { name: r.name, version: r.version, active: r.active }]),
    )
    const defaults = Object.fromEntries(
      (s.lab.db.prepare('SELECT name, default_version_id FROM datastores').all() as Array<{ name: string; default_version_id: string | null }>).map((d) => [d.name, d.default_version_id]),
    )
    await s.close()
    return { rows, defaults }
  }

  // apt upgraded redis and mysql, and installed MariaDB.
  const MARIADB: DetectedEngine = { datastore: 'mariadb', manager: 'mariadb', name: '10.11', version: '10.11.6', packages: 'mariadb-server' }
  const upgraded = [{ ...REDIS, version: '7.0.16' }, PG, { ...MYSQL, version: '5.7.31' }, MARIADB]
  const second = await restart(upgraded)
  t.same(second.rows[redis.id], { name: '7.0', version: '7.0.16', active: 0 }, 'deactivated by the admin: stays inactive; version number updated')
  t.same(second.rows[mysql.id], { name: '5.7-prod', version: '5.7.31', active: 1 }, 'renamed: the name stays, the version number follows the engine')
  t.same(second.rows[custom.id], { name: 'custom', version: '7.0', active: 1 }, "the admin's own version stays active (7.0 runs on 7.0.16)")
  t.notOk(second.rows[pg.id], 'deleted by the admin: not registered again')
  t.equal(Object.values(second.rows).filter((r) => r.name === '16').length, 0)
  const maria = Object.entries(second.rows).find(([, r]) => r.name === '10.11')
  t.same(maria?.[1], { name: '10.11', version: '10.11.6', active: 1 }, 'a newly installed engine is registered')
  t.equal(second.defaults.mariadb, maria?.[0], 'and is the default of its new datastore')
  t.equal(second.defaults.redis, redis.id, "the admin's datastore defaults are left alone")

  // MySQL uninstalled: its versions are parked; reinstalled: back, but redis 7.0 stays as the admin left it.
  const third = await restart(upgraded.filter((e) => e.manager !== 'mysql'))
  t.equal(third.rows[mysql.id].active, 0, 'no engine: inactive')
  const fourth = await restart(upgraded)
  t.equal(fourth.rows[mysql.id].active, 1, 'the engine is back: active again')
  t.equal(fourth.rows[redis.id].active, 0, 'still inactive by the admin')
  const fifth = await restart(upgraded.filter((e) => e.manager !== 'redis'))
  t.equal(fifth.rows[custom.id].active, 0, "the admin's own version is parked without redis")
  t.equal((await restart(upgraded)).rows[custom.id].active, 1, '...and back with it')
})
