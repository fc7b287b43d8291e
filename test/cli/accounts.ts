// db, user and root commands against a real MariaDB instance (the lab server runs as its own
// process, so the agents it spawns do not inherit the test runner's loaders).
import t from 'tap'
import { join } from 'node:path'
import { runMain, startServerProcess, tempDir } from '../helpers/lab.js'

t.test('trove db / user / root against MariaDB', async (t) => {
  const dir = tempDir(t, 'ta')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const env = server.env
  const run = (...args: string[]) => runMain(args, env)
  const ok = async (...args: string[]) => {
    const r = await run(...args)
    t.equal(r.code, 0, `trove ${args.join(' ')} (${r.stderr.trim()})`)
    return r.stdout
  }

  const created = await run('instance', 'create', 'acc', '--flavor', '1', '--size', '1', '--datastore', 'mariadb', '--wait', '--timeout', '120', '-f', 'value', '-c', 'status')
  t.equal(created.code, 0, created.stderr)
  t.equal(created.stdout, 'ACTIVE\n')

  // databases
  t.equal(await ok('db', 'create', 'acc', 'shop', '--character_set', 'utf8mb4', '--collate', 'utf8mb4_general_ci'), '', 'db create prints nothing')
  await ok('db', 'create', 'acc', 'orders')
  t.equal(await ok('db', 'list', 'acc'), ['+--------+', '| Name   |', '+--------+', '| orders |', '| shop   |', '+--------+', ''].join('\n'))
  const noDb = await run('db', 'delete', 'acc', 'nope')
  t.equal(noDb.code, 1)
  t.match(noDb.stderr, /^Failed to delete database nope: Database nope cannot be found on the instance\. \(HTTP 404\) \(Request-ID: req-[0-9a-f-]+\)\n$/)
  const noInst = await run('db', 'list', 'ghost')
  t.same([noInst.code, noInst.stderr], [1, "No instance with a name or ID of 'ghost' exists.\n"])
  t.equal((await run('db', 'create', 'acc')).code, 2, 'a missing positional is a usage error')

  // users
  t.equal(await ok('user', 'create', 'acc', 'app', 'Secret-pw1', '--databases', 'shop'), '')
  await ok('user', 'create', 'acc', 'rep', 'Secret-pw2', '--host', '10.%')
  t.same(
    JSON.parse(await ok('user', 'list', 'acc', '-f', 'json')),
    [
      { Name: 'app', Host: '%', Databases: 'shop' },
      { Name: 'rep', Host: '10.%', Databases: '' },
    ],
    'user list columns Name, Host, Databases',
  )
  t.equal(
    await ok('user', 'show', 'acc', 'app'),
    [
      '+-----------+--------------------+',
      '| Field     | Value              |',
      '+-----------+--------------------+',
      "| databases | [{'name': 'shop'}] |",
      '| host      | %                  |',
      '| name      | app                |',
      '+-----------+--------------------+',
      '',
    ].join('\n'),
    'user show: raw keys, Python repr of the databases list',
  )
  t.equal(await ok('user', 'show', 'acc', 'rep', '--host', '10.%', '-f', 'value', '-c', 'host'), '10.%\n', '--host picks name@host')

  t.equal(await ok('user', 'grant', 'access', 'acc', 'app', 'orders'), '')
  t.equal(await ok('user', 'show', 'access', 'acc', 'app', '-f', 'csv'), '"Name"\n"orders"\n"shop"\n', 'show access: a Name list (options after the subcommand are its own)')
  await ok('user', 'revoke', 'access', 'acc', 'app', 'shop')
  t.same(JSON.parse(await ok('user', 'show', 'access', 'acc', 'app', '-f', 'json')), [{ Name: 'orders' }])

  const noChange = await run('user', 'update', 'attributes', 'acc', 'app')
  t.same([noChange.code, noChange.stderr], [1, 'No updates specified for user app\n'])
  await ok('user', 'update', 'attributes', 'acc', 'app', '--new_name', 'app2')
  t.equal(await ok('user', 'list', 'acc', '-f', 'value', '-c', 'Name'), 'app2\nrep\n')

  const ghost = await run('user', 'delete', 'acc', 'ghost')
  t.equal(ghost.code, 1)
  t.match(ghost.stderr, /^Failed to delete user ghost: User ghost cannot be found on the instance\. \(HTTP 404\)/)
  t.equal(await ok('user', 'delete', 'acc', 'app2'), '')
  await ok('user', 'delete', 'acc', 'rep', '--host', '10.%')
  t.equal(await ok('user', 'list', 'acc'), '\n', 'no users left: an empty list')

  // root
  t.equal(
    await ok('root', 'show', 'acc'),
    ['+-----------------+-------+', '| Field           | Value |', '+-----------------+-------+', '| is_root_enabled | False |', '+-----------------+-------+', ''].join('\n'),
  )
  const enabled = JSON.parse(await ok('root', 'enable', 'acc', '-f', 'json')) as Record<string, string>
  t.same(Object.keys(enabled), ['name', 'password'], 'root enable fields: name, password')
  t.equal(enabled.name, 'root')
  t.match(enabled.password, /^\S{12,}$/, 'a generated password')
  t.same(JSON.parse(await ok('root', 'enable', 'acc', '--root_password', 'My-root-pw1', '-f', 'json')), { name: 'root', password: 'My-root-pw1' })
  t.equal(await ok('root', 'show', 'acc', '-f', 'value'), 'True\n')
  t.equal(await ok('root', 'disable', 'acc'), '')
  const nothing = await run('root', 'show', 'ghost')
  t.same([nothing.code, nothing.stderr], [1, "No instance or cluster with a name or ID of 'ghost' exists.\n"])
  const noDisable = await run('root', 'disable', 'ghost')
  t.same([noDisable.code, noDisable.stderr], [1, "No instance with a name or ID of 'ghost' exists.\n"])

  await ok('db', 'delete', 'acc', 'orders')
  t.equal(await ok('db', 'list', 'acc', '-f', 'value'), 'shop\n')
  await ok('instance', 'delete', 'acc', '--wait', '--timeout', '60')
})
