// Databases, users and root through the real `openstack database ...` client and our CLI, against real engines.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { openstackSession } from '../helpers/openstack-session.js'

const PSQL = '/usr/lib/postgresql/15/bin/psql'

/** A TCP login with the engine's own client (password in the environment); true when the statement ran. */
function login(engine: string, ip: string, user: string, password: string, db: string, statement = 'SELECT 1;'): boolean {
  const r =
    engine === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', ip, '-P', '3306', '-u', user, '-N', '-B', db], { input: statement, env: { ...process.env, MYSQL_PWD: password } })
      : spawnSync(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', ip, '-p', '5432', '-U', user, '-d', db], {
          input: statement,
          env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' },
        })
  return r.status === 0
}

t.test('openstack database db/user/root commands against MariaDB and PostgreSQL', async (t) => {
  const dir = tempDir(t, 'tu')
  const server = await startServerProcess(t, join(dir, 'lab'))
  const env = server.env

  await Promise.all(
    ['mariadb', 'postgresql'].map(async (engine) => {
      const name = `u-${engine}`
      // Each engine's openstack commands in one python process (about 1 s of CPU saved per command);
      // a command fails (rejects) when it writes on stderr.
      const session = openstackSession(t, { ...env, HOME: dir })
      const os = (...args: string[]): Promise<string> => session.run(['database', ...args])
      const osJson = async (...args: string[]): Promise<any> => JSON.parse(await os(...args, '-f', 'json'))
      const r = await runCli(
        ['instance', 'create', name, '--flavor', 'm1.tiny', '--size', '1', '--datastore', engine, '--databases', 'd1', '--users', 'u1:Pw-one-1', '--wait', '--timeout', '120', '-f', 'json'],
        env,
      )
      t.equal(r.code, 0, `${engine}: trove instance create --databases --users --wait (${r.stderr.trim().split('\n').pop()})`)
      const ip = JSON.parse(r.stdout).ip as string
      t.ok(login(engine, ip, 'u1', 'Pw-one-1', 'd1', 'CREATE TABLE t (v int); INSERT INTO t VALUES (1);'), `${engine}: u1 logs in to d1 right after ACTIVE and writes a row`)

      await os('db', 'create', name, 'd2')
      t.same(
        (await osJson('db', 'list', name)).map((d: { Name: string }) => d.Name),
        ['d1', 'd2'],
        `${engine}: db list`,
      )
      await os('user', 'create', name, 'u2', 'Pw-two-2', '--databases', 'd2')
      t.same(
        (await osJson('user', 'list', name)).map((u: { Name: string; Databases: string }) => [u.Name, u.Databases]),
        [
          ['u1', 'd1'],
          ['u2', 'd2'],
        ],
        `${engine}: user list`,
      )
      t.match(await osJson('user', 'show', name, 'u2'), { name: 'u2', host: '%' }, `${engine}: user show`)
      t.notOk(login(engine, ip, 'u2', 'Pw-two-2', 'd1'), `${engine}: u2 has no access to d1`)
      await os('user', 'grant', 'access', name, 'u2', 'd1')
      t.same(
        (await osJson('user', 'show', 'access', name, 'u2')).map((d: { Name: string }) => d.Name),
        ['d1', 'd2'],
        `${engine}: show access`,
      )
      t.ok(login(engine, ip, 'u2', 'Pw-two-2', 'd1'), `${engine}: granted: u2 logs in to d1`)
      await os('user', 'revoke', 'access', name, 'u2', 'd1')
      t.notOk(login(engine, ip, 'u2', 'Pw-two-2', 'd1'), `${engine}: revoked`)
      await os('user', 'update', 'attributes', name, 'u2', '--new_password', 'Pw-two-3')
      t.notOk(login(engine, ip, 'u2', 'Pw-two-2', 'd2'), `${engine}: old password refused`)
      t.ok(login(engine, ip, 'u2', 'Pw-two-3', 'd2'), `${engine}: new password works`)
      await os('user', 'delete', name, 'u2')
      await os('db', 'delete', name, 'd2')
      t.same(
        (await osJson('user', 'list', name)).map((u: { Name: string }) => u.Name),
        ['u1'],
        `${engine}: u2 gone, no system user listed`,
      )
      t.same(
        (await osJson('db', 'list', name)).map((d: { Name: string }) => d.Name),
        ['d1'],
        `${engine}: d2 gone, no system database listed`,
      )

      t.match(await osJson('root', 'show', name), { is_root_enabled: false }, `${engine}: root show before`)
      const root = await osJson('root', 'enable', name)
      t.match(root, { name: 'root', password: /^[A-Za-z0-9]{36}$/ }, `${engine}: root enable`)
      t.ok(login(engine, ip, 'root', root.password, engine === 'mariadb' ? 'd1' : 'postgres'), `${engine}: root logs in`)
      t.match(await osJson('root', 'show', name), { is_root_enabled: true }, `${engine}: root show after`)
      await os('root', 'disable', name)
      t.notOk(login(engine, ip, 'root', root.password, engine === 'mariadb' ? 'd1' : 'postgres'), `${engine}: root disabled`)
    }),
  )
})
