import t from 'tap'
import { AccountError, generatePassword, pageOf } from '../../../src/agent/datastores/accounts.js'
import type { MariadbClient, Sql as MariadbSql } from '../../../src/agent/datastores/mariadb/driver.js'
import type { PostgresClient, Sql as PostgresSql } from '../../../src/agent/datastores/postgresql/driver.js'
import {
  MariadbAccounts,
  createDatabaseSql,
  createUserSql,
  grantTarget,
  nativePasswordHash,
  unescapeGrantDb,
  validateMariadbDatabase,
  validateMariadbUser,
} from '../../../src/agent/datastores/mariadb/users.js'
import * as pg from '../../../src/agent/datastores/postgresql/users.js'
import { enableRootCommand } from '../../../src/agent/datastores/redis/users.js'
import { accountMethods } from '../../../src/agent/handlers/accounts.js'
import { RpcFailure } from '../../../src/agent/rpc-failure.js'

/** A statement as text with its values after it (a fake connector: identifiers quoted the way the real one does, checked end to end in test/e2e/agent-users.ts). */
const myQuote = { id: (n: string) => '`' + n.replace(/`/g, '``') + '`' }
function myText(st: MariadbSql): string {
  const s = typeof st === 'function' ? st(myQuote) : st
  return typeof s === 'string' ? s : `${s.sql} ${JSON.stringify(s.values)}`
}
const pgQuote = { id: (n: string) => '"' + n.replace(/"/g, '""') + '"', lit: (v: string) => "'" + v.replace(/'/g, "''") + "'" }
function pgText(st: PostgresSql): string {
  const s = typeof st === 'function' ? st(pgQuote) : st
  return typeof s === 'string' ? s : `${s.sql} ${JSON.stringify(s.values)}`
}
const fakeMariadb = (answer: (sql: string) => string[][]): MariadbClient => ({
  query: async (...sts) => {
    let rows: string[][] = []
    for (const st of sts) rows = answer(myText(st))
    return rows
  },
  records: async () => [],
})

t.test('mariadb: statements', async (t) => {
  t.equal(grantTarget(myQuote, 'my_db%x'), '`my\\_db\\%x`.*', 'wildcards escaped in grants')
  t.equal(unescapeGrantDb('my\\_db'), 'my_db')
  t.equal(myText(createDatabaseSql({ name: 'a' })), 'CREATE DATABASE `a` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci', 'upstream defaults')
  t.equal(myText(createDatabaseSql({ name: 'a', character_set: 'utf8mb4' })), 'CREATE DATABASE `a` CHARACTER SET utf8mb4')
  t.throws(() => createDatabaseSql({ name: 'a', character_set: 'utf8; DROP' }), { message: "'utf8; DROP' is not a valid character set." })
  t.same(
    createUserSql({ name: 'u', password: "p'w", databases: [{ name: 'd_1' }] }).map(myText),
    [`CREATE USER ?@? IDENTIFIED BY PASSWORD ? ["u","%","${nativePasswordHash("p'w")}"]`, 'GRANT ALL PRIVILEGES ON `d\\_1`.* TO ?@? ["u","%"]'],
    'names and the hash as values, never the clear password',
  )
})

t.test('mariadb: passwords go out as their mysql_native_password hash', async (t) => {
  // PASSWORD('password') and PASSWORD('') as MariaDB computes them.
  t.equal(nativePasswordHash('password'), '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19')
  t.equal(nativePasswordHash('pässwört'), nativePasswordHash('pässwört'), 'utf-8 bytes, deterministic')
  const sent: string[] = []
  const a = new MariadbAccounts(
    fakeMariadb((sql) => {
      sent.push(sql)
      return sql.startsWith('SELECT User, Host FROM') ? [['bob', '%']] : []
    }),
  )
  await a.createUsers([{ name: 'bob', password: 'Secret-1' }])
  await a.changePasswords([{ name: 'bob', host: '%', password: 'Secret-2' }])
  await a.updateAttributes('bob', '%', { password: 'Secret-3' })
  await a.enableRoot('Secret-4')
  for (const pw of ['Secret-1', 'Secret-2', 'Secret-3', 'Secret-4']) {
    t.notOk(
      sent.some((s) => s.includes(pw)),
      `${pw} never sent in clear`,
    )
    t.ok(
      sent.some((s) => s.includes('IDENTIFIED BY PASSWORD ?') && s.includes(`"${nativePasswordHash(pw)}"`)),
      `${pw} sent as its hash`,
    )
  }
})

t.test('mariadb: names', async (t) => {
  for (const ok of ['a', 'db_1', 'my-db', 'a b', 'x'.repeat(64)]) t.doesNotThrow(() => validateMariadbDatabase(ok), ok)
  t.throws(() => validateMariadbDatabase('bad name!'), { message: "'bad name!' is not a valid schema name." })
  t.throws(() => validateMariadbDatabase('x'.repeat(65)), { message: /is too long\. Max length = 64\.$/ })
  t.throws(() => validateMariadbDatabase('mysql'), { message: "'mysql' is a reserved database name." })
  t.throws(() => validateMariadbDatabase('a`b'), { message: "'a`b' is not a valid schema name." })
  for (const bad of ['a\tb', 'a\nb', 'a\rb', 'a\u0085b']) t.throws(() => validateMariadbDatabase(bad), { message: `'${bad}' is not a valid schema name.` }, JSON.stringify(bad))
  for (const bad of ['a\tb', 'a\u0085b', 'a\u007fb']) t.throws(() => validateMariadbUser(bad, '%'), { message: `'${bad}' is not a valid user name.` }, JSON.stringify(bad))
  for (const bad of ["o'x", 'a;b', 'a`b', ' a', 'a ', 'a,b', 'a/b', 'a\\b', 'a"b', '']) t.throws(() => validateMariadbUser(bad, '%'), { message: `'${bad}' is not a valid user name.` })
  t.throws(() => validateMariadbUser('root', '%'), { message: "'root' is a reserved user name." })
  t.throws(() => validateMariadbUser('slave_0a1b2c3d', '%'), { message: "'slave_0a1b2c3d' is a reserved user name." }, 'a replication account name (init_connect lets it in from anywhere)')
  t.doesNotThrow(() => validateMariadbUser('slave_x', '%'), 'other slave_ names are not')
  t.throws(() => validateMariadbUser('u', 'localhost'), { message: "'localhost' is not a valid hostname." })
  t.doesNotThrow(() => validateMariadbUser('u', '192.168.0.%'))
})

t.test('mariadb: accounts run the SQL they should and hide system users', async (t) => {
  const sent: string[] = []
  const rows: Record<string, string[][]> = {
    'SHOW DATABASES': [['information_schema'], ['mysql'], ['performance_schema'], ['sys'], ['app_db']],
    "SELECT User, Host FROM mysql.user WHERE is_role = 'N'": [
      ['root', 'localhost'],
      ['mariadb.sys', 'localhost'],
      ['root', '%'],
      ['app', '%'],
      ['x', 'localhost'],
    ],
    'SELECT User, Host, Db FROM mysql.db': [
      ['app', '%', 'app\\_db'],
      ['app', '%', 'gone'],
    ],
  }
  const a = new MariadbAccounts(
    fakeMariadb((sql) => {
      sent.push(sql)
      return rows[sql] ?? []
    }),
  )
  t.same(await a.listDatabases(), [{ name: 'app_db' }])
  t.same(await a.listUsers(), [{ name: 'app', host: '%', databases: [{ name: 'app_db' }] }], 'root, localhost and system users hidden; grants unescaped')
  await t.rejects(a.deleteUser('nobody', '%'), { message: 'User nobody cannot be found on the instance.', rpcType: 'NotFound' })
  sent.length = 0
  const root = await a.enableRoot()
  t.match(root.password, /^[A-Za-z0-9]{36}$/)
  t.match(sent[0], /CREATE USER IF NOT EXISTS 'root'@'%'/)
  t.notMatch(sent[0], /root'@'localhost/, "root@localhost (the agent's socket login) is left alone")
})

t.test('postgresql: quoting, SQL and names', async (t) => {
  t.equal(pg.pgLit("it's \\"), "'it''s \\'", 'standard-conforming strings (configuration files): backslash is literal')
  t.same(pg.createDatabaseSql({ name: 'd' }).map(pgText), ['CREATE DATABASE "d"', 'REVOKE CONNECT, TEMPORARY ON DATABASE "d" FROM PUBLIC'])
  t.same(pgText(pg.createDatabaseSql({ name: 'd', character_set: 'UTF8', collate: 'C.UTF-8' })[0]!), `CREATE DATABASE "d" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`)
  t.equal(pgText(pg.grantSchemaSql('u')), 'GRANT ALL ON SCHEMA public TO "u"', 'PG15: CREATE on public must be granted')
  t.doesNotThrow(() => pg.validatePostgresDatabase('bad name!'), 'PostgreSQL accepts what it can quote')
  t.throws(() => pg.validatePostgresDatabase('a\nb'), { message: "'a\nb' is not a valid schema name." })
  t.throws(() => pg.validatePostgresDatabase('template1'), { message: "'template1' is a reserved database name." })
  t.throws(() => pg.validatePostgresDatabase('x'.repeat(64)), { message: /Max length = 63\.$/ })
  t.throws(() => pg.validatePostgresUser('pg_monitor'), { message: "'pg_monitor' is a reserved user name." })
  t.throws(() => pg.validatePostgresUser('postgres'), { message: "'postgres' is a reserved user name." })
})

t.test('postgresql: delete user reassigns and drops owned objects in every database first', async (t) => {
  const sent: Array<[string, string | undefined]> = []
  const client: PostgresClient = {
    query: async (sts, db) => {
      const list = Array.isArray(sts) ? sts : [sts]
      const sql = list.map(pgText).join('; ')
      sent.push([sql, db])
      if (sql.startsWith('SELECT rolname FROM pg_roles')) return [['bob'], ['postgres'], ['root']]
      if (sql.startsWith('SELECT datname FROM pg_database WHERE datallowconn')) return [['app'], ['postgres'], ['template1']]
      return []
    },
  }
  const a = new pg.PostgresAccounts(client)
  await a.deleteUser('bob', '%')
  const owned = sent.filter(([s]) => s.startsWith('REASSIGN OWNED'))
  t.same(
    owned.map(([, db]) => db),
    ['app', 'postgres', 'template1'],
  )
  t.equal(sent[sent.length - 1]![0], 'DROP ROLE "bob"')
})

t.test('redis: root is an ACL user, its password one argument', async (t) => {
  t.same(enableRootCommand('p w"\\'), ['ACL', 'SETUSER', 'root', 'on', 'resetpass', '>p w"\\', '~*', '&*', '+@all'])
})

t.test('paging and the RPC table', async (t) => {
  const items = ['c', 'a', 'b', 'd'].map((name) => ({ name }))
  t.same(
    pageOf(items, (x) => x.name, 2, undefined, false),
    [[{ name: 'a' }, { name: 'b' }], 'b'],
  )
  t.same(
    pageOf(items, (x) => x.name, 2, 'b', false),
    [[{ name: 'c' }, { name: 'd' }], null],
  )
  t.same(
    pageOf(items, (x) => x.name, 1, 'b', true),
    [[{ name: 'b' }], 'b'],
  )
  t.equal(generatePassword().length, 36)
  const m = accountMethods(
    async () =>
      ({
        deleteDatabase: async () => {
          throw new AccountError('NotFound', 'Database x cannot be found on the instance.')
        },
      }) as never,
  )
  const err = await m.delete_database!({ database: { name: 'x' } }, {} as never).catch((e: unknown) => e)
  t.ok(err instanceof RpcFailure, 'typed for the reply')
  t.match(err, { type: 'NotFound', message: 'Database x cannot be found on the instance.' })
})
