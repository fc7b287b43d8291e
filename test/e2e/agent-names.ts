// Names and passwords with quotes, backslashes, unicode, `%`/`_`, `?` (the connector's placeholder) and tabs,
// through the agent's driver path on all three engines, checked with the engines' own clients over TCP; and the
// kept driver connection coming back after the engine restarts.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { startAgentHarness, requireAgentHost } from '../helpers/agent-harness.js'
import { engineSql, inProcessAgents } from '../helpers/agent-clients.js'

requireAgentHost(t)

const harness = await startAgentHarness(t)
const { call } = harness
const { ok, launch } = inProcessAgents(t, harness)
const sql = engineSql

const names = async (id: string, method: string): Promise<string[]> => ((await ok(id, method, {})) as [Array<{ name: string }>])[0].map((x) => x.name)

t.test('postgresql: quotes, backslashes, unicode, % and _ in names; a tab is refused whole', async (t) => {
  const inst = await launch('postgresql', '15', '/usr/lib/postgresql/15/bin', { databases: [], users: [] })
  const id = inst.id
  const dbs = [`it's "q"`, 'back\\slash', 'ünï 数据', '100%_x', 'a?b $1']
  const users = [
    { name: `o'neil "q"`, password: `p\tw'"\\ü` },
    { name: 'b\\s', password: 'x\\y' },
    { name: 'jürgen✓', password: 'ünï-pw' },
    { name: 'pct%_u', password: '%_pw' },
  ]
  await ok(id, 'create_database', { databases: dbs.map((name) => ({ name })) })
  t.same((await names(id, 'list_databases')).sort(), [...dbs].sort(), 'every name listed whole')
  await ok(id, 'create_user', { users: users.map((u, i) => ({ ...u, databases: [{ name: dbs[i]! }] })) })
  const listed = ((await ok(id, 'list_users', {})) as [Array<{ name: string; databases: Array<{ name: string }> }>])[0]
  for (const [i, u] of users.entries()) {
    t.same(listed.find((x) => x.name === u.name)?.databases, [{ name: dbs[i] }], `${JSON.stringify(u.name)} listed with its database`)
    const r = sql(inst, u.name, u.password, dbs[i]!, 'CREATE TABLE t (v text); INSERT INTO t VALUES (current_user); SELECT v FROM t;')
    t.equal(r.out, u.name, `${JSON.stringify(u.name)} logs in with its password and writes in ${JSON.stringify(dbs[i])}`)
  }
  t.notOk(sql(inst, 'pct%_u', '%_pw', dbs[0]!, 'SELECT 1;').ok, 'no access to a database not granted')
  const tab = await call(id, 'create_user', {
    users: [
      { name: 'a\tb', password: 'pw' },
      { name: 'fine', password: 'pw' },
    ],
  })
  t.match(tab.error, { type: 'BadRequest', message: /^'a.b' is not a valid user name\.$/ })
  t.notOk((await names(id, 'list_users')).includes('fine'), 'nothing half-applied')
  const tabDb = await call(id, 'create_database', { databases: [{ name: 'x\ty' }] })
  t.match(tabDb.error, { type: 'BadRequest', message: /^'x.y' is not a valid schema name\.$/ })
  await ok(id, 'update_attributes', { username: users[0]!.name, hostname: '%', user_attrs: { name: `o'neil\\2 ✓`, password: `new'\\pw` } })
  t.equal(sql(inst, `o'neil\\2 ✓`, `new'\\pw`, dbs[0]!, 'SELECT count(*) FROM t;').out, '1', 'renamed and re-passworded, keeps its access')
  await ok(id, 'revoke_access', { username: 'jürgen✓', hostname: '%', database: dbs[2] })
  t.notOk(sql(inst, 'jürgen✓', 'ünï-pw', dbs[2]!, 'SELECT 1;').ok, 'revoked')
  for (const u of [`o'neil\\2 ✓`, 'b\\s', 'jürgen✓', 'pct%_u']) await ok(id, 'delete_user', { user: { name: u, host: '%' } })
  for (const d of dbs) await ok(id, 'delete_database', { database: { name: d } })
  t.same(await names(id, 'list_users'), [], 'all deleted by their names')
  t.same(await names(id, 'list_databases'), [])
  const root = (await ok(id, 'enable_root_with_password', { root_password: `r\t'"\\ü %_` })) as { password: string }
  t.ok(sql(inst, 'root', root.password, 'postgres', 'SELECT 1;').ok, 'root with a tab, quotes and a backslash in its password')

  await ok(id, 'restart')
  t.same(await names(id, 'list_databases'), [], 'the kept connection comes back after a restart')
})

t.test('mariadb: unicode, %, _, ?, @ and # in names; quotes and tabs refused whole; wildcards stay literal', async (t) => {
  const inst = await launch('mariadb', '10.11', undefined, { databases: [], users: [] })
  const id = inst.id
  const dbs = ['my_db', 'myXdb', 'a?b', 'q #@s', '_x']
  await ok(id, 'create_database', { databases: dbs.map((name) => ({ name })) })
  t.same((await names(id, 'list_databases')).sort(), [...dbs].sort(), 'every name listed whole')
  const users = [
    { name: 'jürgen✓', host: '%', password: `p'w"\\ü?`, db: 'my_db' },
    { name: 'pct%_u', host: '%', password: '%_?', db: 'a?b' },
    { name: 'a?b@c', host: '%', password: '?', db: 'q #@s' },
  ]
  await ok(id, 'create_user', { users: users.map((u) => ({ name: u.name, host: u.host, password: u.password, databases: [{ name: u.db }] })) })
  for (const u of users) {
    t.same(await ok(id, 'get_user', { username: u.name, hostname: u.host }), { name: u.name, host: u.host, databases: [{ name: u.db }] }, `${u.name} listed with ${u.db}`)
    t.equal(
      sql(inst, u.name, u.password, u.db, 'CREATE TABLE t (v varchar(80)); INSERT INTO t VALUES (CURRENT_USER()); SELECT v FROM t;').out,
      `${u.name}@${u.host}`,
      `${u.name} logs in and writes in ${u.db}`,
    )
  }
  t.notOk(sql(inst, 'jürgen✓', `p'w"\\ü?`, 'myXdb', 'SELECT 1;').ok, 'the grant on my_db does not open myXdb (_ is literal)')
  for (const bad of ["o'neil", 'a\tb', 'back\\slash', 'a"b']) {
    const r = await call(id, 'create_user', {
      users: [
        { name: 'fine', password: 'pw' },
        { name: bad, password: 'pw' },
      ],
    })
    t.match(r.error, { type: 'BadRequest', message: `'${bad.replace('\t', ' ')}' is not a valid user name.` }, JSON.stringify(bad))
  }
  t.notOk((await names(id, 'list_users')).includes('fine'), 'nothing half-applied')
  const tabPw = await call(id, 'create_user', { users: [{ name: 'tabpw', password: 'a\tb' }] })
  t.match(tabPw.error, { type: 'BadRequest', message: 'The password is not valid.' })
  await ok(id, 'update_attributes', { username: 'pct%_u', hostname: '%', user_attrs: { name: 'ü%_2', password: `n'\\2` } })
  t.ok(sql(inst, 'ü%_2', `n'\\2`, 'a?b', 'SELECT count(*) FROM t;').ok, 'renamed and re-passworded, keeps its access')
  await ok(id, 'revoke_access', { username: 'a?b@c', hostname: '%', database: 'q #@s' })
  t.notOk(sql(inst, 'a?b@c', '?', 'q #@s', 'SELECT 1;').ok, 'revoked')
  for (const u of ['jürgen✓', 'ü%_2', 'a?b@c']) await ok(id, 'delete_user', { user: { name: u, host: '%' } })
  for (const d of dbs) await ok(id, 'delete_database', { database: { name: d } })
  t.same(await names(id, 'list_users'), [])
  t.same(await names(id, 'list_databases'), [])
  await ok(id, 'enable_root_with_password', { root_password: `r'"\\ü %_?` })
  t.ok(sql(inst, 'root', `r'"\\ü %_?`, 'mysql', 'SELECT 1;').ok, 'root with quotes, a backslash and ? in its password')

  await ok(id, 'restart')
  t.same(await names(id, 'list_databases'), [], 'the kept connection comes back after a restart')
})

t.test('redis: a root password with a tab, quotes, a backslash and unicode goes through as one argument', async (t) => {
  const inst = await launch('redis', '7.0', undefined, { databases: [], users: [] })
  const id = inst.id
  const cli = (user: string, pw: string, ...cmd: string[]) =>
    spawnSync('redis-cli', ['--no-auth-warning', '-h', inst.bootstrap.address, '-p', String(inst.bootstrap.port), '--user', user, ...cmd], {
      encoding: 'utf8',
      env: { ...process.env, REDISCLI_AUTH: pw },
    }).stdout.trim()
  const pw = `r\t'"\\ü %_ ~* +@all`
  await ok(id, 'enable_root_with_password', { root_password: pw })
  t.equal(cli('root', pw, 'SET', 'k', 'v'), 'OK', 'root logs in with exactly that password')
  t.match(cli('root', 'r', 'GET', 'k'), /WRONGPASS|invalid username-password|NOAUTH/, 'a prefix of it is refused (the rest did not become rules)')
  t.equal(await ok(id, 'is_root_enabled'), true)
  await ok(id, 'restart')
  t.equal(await ok(id, 'is_root_enabled'), true, 'the kept connection comes back after a restart; the ACL was saved')
  await ok(id, 'disable_root')
  t.equal(await ok(id, 'is_root_enabled'), false)
})
