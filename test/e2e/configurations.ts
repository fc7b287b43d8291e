import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startServerProcess, tempDir } from '../helpers/lab.js'
import { openstackSession } from '../helpers/openstack-session.js'
import { rulesFor } from '../../src/server/configurations/rules.js'

const exec = promisify(execFile)

t.test('the real openstack client manages configuration groups and reads parameters', async (t) => {
  const dir = tempDir(t, 'tc')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const env = { ...server.env, HOME: dir }
  // Commands run in one python `openstack` process (each start of the client costs ~1 s of CPU);
  // the two whose failure exit code is asserted, and those with quoted words, as processes.
  const session = openstackSession(t, env)
  const os = (...args: string[]) => session.output(args)
  const osAlone = async (...args: string[]) => {
    try {
      const r = await exec('openstack', args, { env })
      return { code: 0, stdout: r.stdout, stderr: r.stderr }
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string }
      return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
    }
  }
  const json = async (...args: string[]) => {
    const r = await os(...args, '-f', 'json')
    t.equal(r.code, 0, `openstack ${args.join(' ')} (${r.stderr.trim()})`)
    return JSON.parse(r.stdout)
  }

  const [version] = await json('datastore', 'version', 'list', 'mariadb')
  const created = await json(
    'database',
    'configuration',
    'create',
    'cfg-e2e',
    '{"max_connections": 150, "long_query_time": 2.5}',
    '--datastore',
    'mariadb',
    '--datastore-version',
    version.Name,
    '--description',
    'e2e group',
  )
  t.match(created, { name: 'cfg-e2e', description: 'e2e group', datastore_name: 'mariadb', datastore_version_name: version.Name, datastore_version_number: version.Version, instance_count: 0 })
  t.same(JSON.parse(created.values), { max_connections: 150, long_query_time: 2.5 }, 'create shows the values')

  const list = await json('database', 'configuration', 'list')
  t.same(
    list.map((c: Record<string, string>) => [c.ID, c.Name, c.Description, c['Datastore Name'], c['Datastore Version Name']]),
    [[created.id, 'cfg-e2e', 'e2e group', 'mariadb', version.Name]],
  )

  const shown = await json('database', 'configuration', 'show', 'cfg-e2e')
  t.equal(shown.id, created.id, 'show finds the group by name')
  t.same(JSON.parse(shown.values), { long_query_time: 2.5, max_connections: 150 })

  const merged = await os('database', 'configuration', 'parameter', 'set', created.id, '{"max_connections": 170}')
  t.equal(merged.code, 0, `configuration parameter set (PATCH) ${merged.stderr}`)
  t.same(JSON.parse((await json('database', 'configuration', 'show', created.id)).values), { long_query_time: 2.5, max_connections: 170 })

  const refused = await osAlone('database', 'configuration', 'create', 'bad', '{"max_connections": "lots"}', '--datastore', 'mariadb', '--datastore-version', version.Name)
  t.equal(refused.code, 1, 'an invalid value fails')
  t.equal(refused.stderr.trim(), 'The value provided for the configuration parameter max_connections is not of type integer. (HTTP 422)', "with the server's message")

  const params = await json('database', 'configuration', 'parameter', 'list', version.ID)
  t.equal(params.length, rulesFor('mariadb').length, 'parameter list by version id')
  t.same(Object.keys(params[0]), ['Name', 'Type', 'Min Size', 'Max Size', 'Restart Required'])
  t.same(
    params.find((p: Record<string, unknown>) => p.Name === 'autocommit'),
    { Name: 'autocommit', Type: 'integer', 'Min Size': '-', 'Max Size': 1, 'Restart Required': false },
    'a minimum of 0 shows as -',
  )
  t.same(await json('database', 'configuration', 'parameter', 'list', version.Name, '--datastore', 'mariadb'), params, 'parameter list by datastore and version name')

  const shownParam = await json('database', 'configuration', 'parameter', 'show', version.ID, 'max_connections')
  t.same(shownParam, { datastore_version_id: version.ID, max: 100000, min: 1, name: 'max_connections', restart_required: false, type: 'integer' })
  const big = await os('database', 'configuration', 'parameter', 'show', version.Name, 'sort_buffer_size', '--datastore', 'mariadb', '-f', 'value', '-c', 'max')
  t.equal(big.stdout.trim(), '18446744073709551615', 'the client gets 2^64-1 exactly')

  const deleted = await os('database', 'configuration', 'delete', 'cfg-e2e')
  t.equal(deleted.code, 0, `configuration delete ${deleted.stderr}`)
  t.same(await json('database', 'configuration', 'list'), [])
  const again = await osAlone('database', 'configuration', 'delete', 'cfg-e2e')
  t.equal(again.code, 1)
  t.equal(again.stderr.trim(), "Failed to delete configuration cfg-e2e: No configuration with a name or ID of 'cfg-e2e' exists.")
})
