import t from 'tap'
import { runMain, startLab } from '../helpers/lab.js'

t.test('trove configuration commands against a lab', async (t) => {
  const lab = await startLab(t, { spawnAgents: false, rateLimits: [] })
  const run = (...args: string[]) => runMain(args, lab.env)
  const ok = async (...args: string[]) => {
    const r = await run(...args)
    t.equal(r.code, 0, `trove ${args.join(' ')} (${r.stderr.trim()})`)
    return r.stdout
  }

  const created = JSON.parse(
    await ok('configuration', 'create', 'tuned', '{"max_connections": 300, "connect_timeout": 30}', '--datastore', 'mariadb', '--description', 'tuned group', '-f', 'json'),
  ) as Record<string, unknown>
  t.same(
    Object.keys(created),
    ['created', 'datastore_name', 'datastore_version_name', 'datastore_version_number', 'description', 'id', 'instance_count', 'name', 'updated', 'values'],
    'configuration create/show fields: all but datastore_version_id, sorted',
  )
  t.match(created, { name: 'tuned', description: 'tuned group', datastore_name: 'mariadb', instance_count: 0 })
  t.equal(typeof created.values, 'string', 'values is a JSON string, also in -f json')
  t.same(JSON.parse(created.values as string), { max_connections: 300, connect_timeout: 30 })
  const id = created.id as string

  const bad = await run('configuration', 'create', 'x', '{nope')
  t.same([bad.code, bad.stderr], [1, 'Expecting property name enclosed in double quotes: line 1 column 2 (char 1)\n'], "invalid JSON: Python's json error text")
  const extra = await run('configuration', 'create', 'x', '{"a": 1} x')
  t.equal(extra.stderr, 'Extra data: line 1 column 10 (char 9)\n')
  t.equal((await run('configuration', 'create', 'x')).code, 2, 'missing <values>: usage error')

  const list = JSON.parse(await ok('configuration', 'list', '-f', 'json')) as Record<string, unknown>[]
  t.same(Object.keys(list[0]), ['ID', 'Name', 'Description', 'Datastore Name', 'Datastore Version Name', 'Datastore Version Number'])
  t.match(list[0], { ID: id, Name: 'tuned', Description: 'tuned group', 'Datastore Name': 'mariadb' })

  const table = await ok('configuration', 'show', 'tuned', '-c', 'name', '-c', 'values')
  t.equal(
    table,
    [
      '+--------+-------------------------------------------------+',
      '| Field  | Value                                           |',
      '+--------+-------------------------------------------------+',
      '| name   | tuned                                           |',
      '| values | {"connect_timeout": 30, "max_connections": 300} |',
      '+--------+-------------------------------------------------+',
      '',
    ].join('\n'),
    'show by name; values as Python json.dumps text',
  )
  const missing = await run('configuration', 'show', 'nope')
  t.same([missing.code, missing.stderr], [1, "No configuration with a name or ID of 'nope' exists.\n"])

  t.equal(await ok('configuration', 'instances', 'tuned'), '\n', 'no instances attached: an empty list')
  t.equal(await ok('configuration', 'instances', id, '-f', 'csv', '--print-empty'), '"ID","Name"\n')

  // PATCH merges, PUT replaces
  t.equal(await ok('configuration', 'parameter', 'set', id, '{"wait_timeout": 120}'), '')
  t.same(JSON.parse(await ok('configuration', 'show', id, '-f', 'value', '-c', 'values')), { max_connections: 300, connect_timeout: 30, wait_timeout: 120 })
  t.equal(await ok('configuration', 'set', id, '{"max_connections": 50}', '--name', 'small', '--description', 'smaller'), '')
  const after = JSON.parse(await ok('configuration', 'show', 'small', '-f', 'json')) as Record<string, string>
  t.same([after.name, after.description, JSON.parse(after.values)], ['small', 'smaller', { max_connections: 50 }])
  const badSet = await run('configuration', 'set', id, '')
  t.same([badSet.code, badSet.stderr], [1, 'Expecting value: line 1 column 1 (char 0)\n'])
  const badPatch = await run('configuration', 'parameter', 'set', id, '{"a": 1,}')
  t.same([badPatch.code, badPatch.stderr], [1, 'Expecting property name enclosed in double quotes: line 1 column 9 (char 8)\n'])

  // parameters
  const params = JSON.parse(await ok('configuration', 'parameter', 'list', '10.11', '--datastore', 'mariadb', '-f', 'json')) as Record<string, unknown>[]
  t.same(Object.keys(params[0]), ['Name', 'Type', 'Min Size', 'Max Size', 'Restart Required'])
  t.match(
    params.find((p) => p.Name === 'max_connections'),
    { Type: 'integer', 'Min Size': 1, 'Restart Required': false },
  )
  t.ok(
    params.some((p) => p['Min Size'] === '-'),
    "'-' where a parameter has no min",
  )
  const noDs = await run('configuration', 'parameter', 'list', '10.11')
  t.same([noDs.code, noDs.stderr], [1, 'Either datastore version ID or datastore name needs to be specified.\n'])
  const versionId = (await ok('datastore', 'version', 'list', 'mariadb', '-f', 'value', '-c', 'ID')).trim()
  t.same(
    JSON.parse(await ok('configuration', 'parameter', 'show', versionId, 'max_connections', '-f', 'json')),
    {
      datastore_version_id: versionId,
      max: 100000,
      min: 1,
      name: 'max_connections',
      restart_required: false,
      type: 'integer',
    },
    'parameter show by version ID: all keys',
  )
  const p2 = await ok('configuration', 'parameter', 'show', '10.11', 'max_connections', '--datastore', 'mariadb', '-f', 'value', '-c', 'type')
  t.equal(p2, 'integer\n')
  const noParam = await run('configuration', 'parameter', 'show', '10.11', 'max_connections')
  t.same([noParam.code, noParam.stderr], [1, 'Either datastore version ID or datastore name needs to be specified.\n'])

  // delete
  const delMissing = await run('configuration', 'delete', 'nope')
  t.same([delMissing.code, delMissing.stderr], [1, "Failed to delete configuration nope: No configuration with a name or ID of 'nope' exists.\n"])
  t.equal(await ok('configuration', 'delete', 'small'), '')
  t.equal(await ok('configuration', 'list'), '\n')
})
