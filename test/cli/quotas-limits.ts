import t from 'tap'
import { runMain, startLab, labEnv } from '../helpers/lab.js'

t.test('trove limit list: absolute limits table first, whatever -f says', async (t) => {
  const lab = await startLab(t, { spawnAgents: false })
  const absolute = [
    '+---------------+----------+',
    '| Property      | Value    |',
    '+---------------+----------+',
    '| max_backups   | 100      |',
    '| max_instances | 20       |',
    '| max_ram       | -1       |',
    '| max_volumes   | 200      |',
    '| verb          | ABSOLUTE |',
    '+---------------+----------+',
    '',
  ].join('\n')
  const table = await runMain(['limit', 'list'], lab.env)
  t.equal(table.code, 0, table.stderr)
  t.ok(table.stdout.startsWith(absolute), 'Property | Value table of the absolute limits, sorted')
  const rates = table.stdout.slice(absolute.length).split('\n')
  t.match(rates[1], /^\| Value \| Verb +\| Remaining \| Unit +\|$/, 'then the rate limits: Value, Verb, Remaining, Unit')
  const json = await runMain(['limit', 'list', '-f', 'json'], lab.env)
  t.ok(json.stdout.startsWith(absolute), '-f json still prints the table first (not pure JSON, as openstack)')
  const rows = JSON.parse(json.stdout.slice(absolute.length)) as Record<string, unknown>[]
  t.ok(rows.length > 0)
  t.same(Object.keys(rows[0]), ['Value', 'Verb', 'Remaining', 'Unit'])
  t.match(rows[0], { Value: Number, Verb: String, Remaining: Number, Unit: String })
})

t.test('trove limit list without rate limits', async (t) => {
  const lab = await startLab(t, { spawnAgents: false, rateLimits: [] })
  const r = await runMain(['limit', 'list', '-f', 'csv'], lab.env)
  t.equal(r.code, 0)
  t.match(r.stdout, /\| verb {10}\| ABSOLUTE \|\n\+-+\+-+\+\n"Value","Verb","Remaining","Unit"\n$/)
})

t.test('trove quota show / update (admin)', async (t) => {
  const lab = await startLab(t, { spawnAgents: false, rateLimits: [] })
  const admin = labEnv(lab.cloudsFile, 'trove-lab-admin')
  const show = await runMain(['quota', 'show', 'demo'], admin)
  t.equal(show.code, 0, show.stderr)
  t.equal(
    show.stdout,
    [
      '+-----------+--------+----------+-------+',
      '| Resource  | In Use | Reserved | Limit |',
      '+-----------+--------+----------+-------+',
      '| instances |      0 |        0 |    20 |',
      '| ram       |      0 |        0 |    -1 |',
      '| backups   |      0 |        0 |   100 |',
      '| volumes   |      0 |        0 |   200 |',
      '+-----------+--------+----------+-------+',
      '',
    ].join('\n'),
    'columns Resource, In Use, Reserved, Limit; numbers right-aligned',
  )

  const upd = await runMain(['quota', 'update', 'demo', 'instances', '7'], admin)
  t.equal(upd.code, 0, upd.stderr)
  t.equal(
    upd.stdout,
    ['+-----------+-------+', '| Field     | Value |', '+-----------+-------+', '| instances | 7     |', '+-----------+-------+', ''].join('\n'),
    'update shows the returned quotas mapping',
  )
  const limit = await runMain(['quota', 'show', 'demo', '-f', 'value', '-c', 'Resource', '-c', 'Limit'], admin)
  t.equal(limit.stdout, 'instances 7\nram -1\nbackups 100\nvolumes 200\n')
  t.same(JSON.parse((await runMain(['quota', 'update', 'demo', 'backups', '5', '-f', 'json'], admin)).stdout), { backups: 5 })

  const noProject = await runMain(['quota', 'show', 'nope'], admin)
  t.same([noProject.code, noProject.stderr], [1, "Failed to get project ID for nope, error: No project with a name or ID of 'nope' exists.\n"])
  const notInt = await runMain(['quota', 'update', 'demo', 'instances', 'ten'], admin)
  t.equal(notInt.code, 2, 'a non-integer limit is a usage error')
  const forbidden = await runMain(['quota', 'update', 'demo', 'instances', '9'], lab.env)
  t.equal(forbidden.code, 1, 'quota update needs the admin role')
  t.match(forbidden.stderr, /^User does not have admin privileges\. \(HTTP 401\)/, 'as upstream: a 401 fault, not an authentication failure (exit 1)')
})

t.test('backup strategies, clusters and admin datastore versions', async (t) => {
  const lab = await startLab(t, { spawnAgents: false, rateLimits: [] })
  const admin = labEnv(lab.cloudsFile, 'trove-lab-admin')
  const run = (args: string[], env = lab.env) => runMain(args, env)

  t.equal((await run(['backup', 'strategy', 'list'])).stdout, '\n')
  const created = await run(['backup', 'strategy', 'create', '--swift-container', 'my-backups', '-f', 'json'])
  t.equal(created.code, 0, created.stderr)
  const strategy = JSON.parse(created.stdout) as Record<string, unknown>
  t.same(Object.keys(strategy), ['backend', 'instance_id', 'project_id', 'swift_container'])
  t.match(strategy, { backend: 'swift', swift_container: 'my-backups' })
  const list = JSON.parse((await run(['backup', 'strategy', 'list', '-f', 'json'])).stdout) as Record<string, unknown>[]
  t.same(list, [{ 'Project ID': strategy.project_id, 'Instance ID': strategy.instance_id, 'Swift Container': 'my-backups' }])
  const del = await run(['backup', 'strategy', 'delete'])
  t.same([del.code, del.stdout], [0, ''])
  t.equal((await run(['backup', 'strategy', 'list'])).stdout, '\n')

  const clusters = await run(['cluster', 'list', '-f', 'csv', '--print-empty'])
  t.same([clusters.code, clusters.stdout], [0, '"ID","Name","Datastore","Datastore Version","Task Name"\n'])

  const versionId = (await run(['datastore', 'version', 'list', 'mariadb', '-f', 'value', '-c', 'ID'])).stdout.trim()
  const noImage = await run(['datastore', 'version', 'create', '11.4', 'mariadb', 'mariadb', ''], admin)
  t.equal(noImage.code, 1)
  t.match(noImage.stderr, /^Failed to create datastore version 11\.4: .*\(HTTP 400\)/)
  const made = await run(['datastore', 'version', 'create', '11.4', 'mariadb', 'mariadb', '', '--image-tags', 'trove,mariadb', '--version-number', '11.4.5'], admin)
  t.same([made.code, made.stdout], [0, ''], made.stderr)
  const versions = (await run(['datastore', 'version', 'list', 'mariadb', '-f', 'value', '-c', 'Name', '--sort-column', 'Name'], admin)).stdout
  t.equal(versions, '10.11\n11.4\n')
  const newId = (await run(['datastore', 'version', 'show', '11.4', '--datastore', 'mariadb', '-f', 'value', '-c', 'id'], admin)).stdout.trim()
  const set = await run(['datastore', 'version', 'set', newId, '--version-name', '11.4-lts'], admin)
  t.same([set.code, set.stdout], [0, ''], set.stderr)
  t.equal((await run(['datastore', 'version', 'show', newId, '-f', 'value', '-c', 'name'], admin)).stdout, '11.4-lts\n')
  const both = await run(['datastore', 'version', 'set', newId, '--enable', '--disable'], admin)
  t.equal(both.code, 2)
  const setMissing = await run(['datastore', 'version', 'set', 'nope', '--disable'], admin)
  t.equal(setMissing.code, 1)
  t.match(setMissing.stderr, /^Failed to update datastore version nope: Datastore version 'nope' cannot be found\. \(HTTP 404\)/)
  const delMissing = await run(['datastore', 'version', 'delete', 'nope'], admin)
  t.match(delMissing.stderr, /^Failed to delete datastore version nope: .*\(HTTP 404\)/)
  const delOk = await run(['datastore', 'version', 'delete', newId], admin)
  t.same([delOk.code, delOk.stdout], [0, ''], delOk.stderr)
  t.equal((await run(['datastore', 'version', 'list', 'mariadb', '-f', 'value', '-c', 'ID'])).stdout.trim(), versionId)
})
