// Databases, users and root through the guest agent, against real engines (logins over TCP with their own clients).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startAgentHarness, requireAgentHost } from '../helpers/agent-harness.js'
import { engineSql, inProcessAgents } from '../helpers/agent-clients.js'

requireAgentHost(t)

const harness = await startAgentHarness(t)
const { call } = harness
const { ok, launch } = inProcessAgents(t, harness)
const sql = engineSql

for (const [manager, version, binDir] of [
  ['mariadb', '10.11', undefined],
  ['postgresql', '15', '/usr/lib/postgresql/15/bin'],
] as const) {
  t.test(`${manager}: databases, users, access and root through the agent`, async (t) => {
    const inst = await launch(manager, version, binDir, {
      databases: [{ name: 'appdb' }],
      users: [{ name: 'app', password: "s3cret'pw\\x", databases: [{ name: 'appdb' }] }],
    })
    const id = inst.id
    // The create-time payload is there as soon as the guest is HEALTHY.
    t.ok(sql(inst, 'app', "s3cret'pw\\x", 'appdb', 'CREATE TABLE t (v int); INSERT INTO t VALUES (1); SELECT count(*) FROM t;').ok, 'the prepare user writes a row in its database')
    t.same(await ok(id, 'list_databases', {}), [[{ name: 'appdb' }], null], 'system databases hidden')
    const users = (await ok(id, 'list_users', {})) as [Array<{ name: string }>, string | null]
    t.same(
      users[0].map((u) => u.name),
      ['app'],
      'system users hidden',
    )

    await ok(id, 'create_database', { databases: [{ name: 'db_2' }, { name: 'other' }] })
    await ok(id, 'create_user', { users: [{ name: 'bob', password: 'bob-pw-1', host: '%', databases: [{ name: 'db_2' }] }] })
    t.same(await ok(id, 'list_databases', { limit: 2 }), [[{ name: 'appdb' }, { name: 'db_2' }], 'db_2'], 'paged by name')
    t.same(await ok(id, 'list_databases', { limit: 2, marker: 'db_2' }), [[{ name: 'other' }], null])
    t.same(await ok(id, 'get_user', { username: 'bob', hostname: '%' }), { name: 'bob', host: '%', databases: [{ name: 'db_2' }] })
    t.ok(sql(inst, 'bob', 'bob-pw-1', 'db_2', 'CREATE TABLE b (v int); INSERT INTO b VALUES (2);').ok, 'bob writes in db_2')
    t.notOk(sql(inst, 'bob', 'bob-pw-1', 'appdb', 'SELECT 1;').ok, 'bob is refused on appdb (no grant)')
    t.notOk(sql(inst, 'bob', 'bob-pw-1', 'other', 'SELECT 1;').ok, 'and on other')

    await ok(id, 'grant_access', { username: 'bob', hostname: '%', databases: ['other'] })
    t.same(await ok(id, 'list_access', { username: 'bob', hostname: '%' }), [{ name: 'db_2' }, { name: 'other' }])
    t.ok(sql(inst, 'bob', 'bob-pw-1', 'other', 'CREATE TABLE o (v int);').ok, 'granted: bob creates a table in other')
    await ok(id, 'revoke_access', { username: 'bob', hostname: '%', database: 'other' })
    t.notOk(sql(inst, 'bob', 'bob-pw-1', 'other', 'SELECT 1;').ok, 'revoked: refused again')
    const missing = await call(id, 'revoke_access', { username: 'bob', hostname: '%', database: 'other' })
    t.match(missing.error, { type: 'NotFound' }, 'revoking what is not granted: NotFound')

    await ok(id, 'change_passwords', { users: [{ name: 'bob', host: '%', password: 'bob-pw-2' }] })
    t.notOk(sql(inst, 'bob', 'bob-pw-1', 'db_2', 'SELECT 1;').ok, 'old password refused')
    t.ok(sql(inst, 'bob', 'bob-pw-2', 'db_2', 'SELECT 1;').ok, 'new password works')
    await ok(id, 'update_attributes', { username: 'bob', hostname: '%', user_attrs: { name: 'robert', password: 'rob-pw-3' } })
    t.ok(sql(inst, 'robert', 'rob-pw-3', 'db_2', 'SELECT count(*) FROM b;').ok, 'renamed, keeps its access')

    const bad = await call(id, 'create_database', { databases: [{ name: manager === 'mariadb' ? 'bad name!' : 'bad\nname' }] })
    t.match(bad.error, { type: 'BadRequest', message: /is not a valid schema name\.$/ })
    const reserved = await call(id, 'create_user', { users: [{ name: 'root', password: 'x1' }] })
    t.match(reserved.error, { type: 'BadRequest', message: "'root' is a reserved user name." })

    await ok(id, 'delete_user', { user: { name: 'robert', host: '%' } })
    t.notOk(sql(inst, 'robert', 'rob-pw-3', 'db_2', 'SELECT 1;').ok, 'deleted user refused')
    await ok(id, 'delete_database', { database: { name: 'other' } })
    t.same(((await ok(id, 'list_databases', {})) as [unknown[]])[0], [{ name: 'appdb' }, { name: 'db_2' }])

    t.equal(await ok(id, 'is_root_enabled'), false)
    const root = (await ok(id, 'enable_root')) as { name: string; password: string }
    t.match(root, { name: 'root', password: /^[A-Za-z0-9]{36}$/ }, 'generated 36-character password')
    t.ok(sql(inst, 'root', root.password, manager === 'mariadb' ? 'appdb' : 'postgres', 'SELECT 1;').ok, 'root logs in over TCP')
    t.equal(await ok(id, 'is_root_enabled'), true)
    t.same(
      ((await ok(id, 'list_users', {})) as [Array<{ name: string }>])[0].map((u) => u.name),
      ['app'],
      'root is not listed',
    )
    await ok(id, 'enable_root_with_password', { root_password: 'Given-pw-9' })
    t.ok(sql(inst, 'root', 'Given-pw-9', manager === 'mariadb' ? 'appdb' : 'postgres', 'SELECT 1;').ok, 'root with the given password')
    await ok(id, 'disable_root')
    t.notOk(sql(inst, 'root', 'Given-pw-9', manager === 'mariadb' ? 'appdb' : 'postgres', 'SELECT 1;').ok, 'root disabled')
    t.equal(await ok(id, 'is_root_enabled'), false)
    t.equal(await ok(id, 'rpc_ping'), true, 'the agent still reaches its engine')
  })
}

t.test('redis: root is an ACL user; users and databases are not supported', async (t) => {
  const inst = await launch('redis', '7.0', undefined, { databases: [], users: [] })
  const id = inst.id
  const sock = join(inst.base, 'run/redis.sock')
  const cli = (user: string, pw: string, ...cmd: string[]) =>
    spawnSync('redis-cli', ['--no-auth-warning', '-h', inst.bootstrap.address, '-p', String(inst.bootstrap.port), '--user', user, ...cmd], {
      encoding: 'utf8',
      env: { ...process.env, REDISCLI_AUTH: pw },
    }).stdout.trim()
  const r = await call(id, 'list_databases', {})
  t.match(r.error, { type: 'NotSupported', message: "The 'list_databases' operation is not supported for the 'redis' datastore." })
  t.equal(await ok(id, 'is_root_enabled'), false)
  const root = (await ok(id, 'enable_root_with_password', { root_password: 'r00t "pw"' })) as { password: string }
  t.equal(root.password, 'r00t "pw"')
  t.equal(cli('root', 'r00t "pw"', 'SET', 'k', 'v'), 'OK', 'root writes over TCP')
  t.equal(await ok(id, 'is_root_enabled'), true)
  await ok(id, 'disable_root')
  t.match(cli('root', 'r00t "pw"', 'GET', 'k'), /WRONGPASS|invalid username-password|NOAUTH/, 'root refused after disable')
  t.equal(await ok(id, 'is_root_enabled'), false)
  const admin = readFileSync(join(inst.base, 'conf/admin.secret'), 'utf8').trim()
  t.equal(spawnSync('redis-cli', ['-s', sock, 'GET', 'k'], { encoding: 'utf8', env: { ...process.env, REDISCLI_AUTH: admin } }).stdout.trim(), 'v', "the agent's admin login is untouched")
})
