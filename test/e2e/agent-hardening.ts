// The engines configured as a managed service (docs/isolation.md, issue 14 item 4), against the
// real engines through the guest agent: no trust login except the agent's own role on its
// socket, MariaDB's file statements confined to a directory of the instance's volume, and the
// engines' logs, binlogs and WAL readable by the run user only.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { startAgentHarness, requireAgentHost } from '../helpers/agent-harness.js'
import { engineSql, inProcessAgents } from '../helpers/agent-clients.js'

requireAgentHost(t)

const harness = await startAgentHarness(t)
const { ok, launch } = inProcessAgents(t, harness)
const PSQL = '/usr/lib/postgresql/15/bin/psql'

/** Files under `dir` (recursively) that group or others may read, write or search. */
function openToOthers(dir: string, match: (name: string) => boolean = () => true): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath, e.name)
    if (e.isFile() && match(e.name) && lstatSync(path).mode & 0o077) out.push(`${path} ${(lstatSync(path).mode & 0o777).toString(8)}`)
  }
  return out
}

// Both engines start at once: the test waits on the slower one only.
const [ma, pg, rd] = await Promise.all([
  launch('mariadb', '10.11', undefined, { databases: [{ name: 'appdb' }], users: [] }),
  launch('postgresql', '15', '/usr/lib/postgresql/15/bin', { databases: [{ name: 'appdb' }], users: [] }),
  launch('redis', '7.0', undefined, { databases: [], users: [] }),
])

t.test('mariadb: INTO OUTFILE and LOAD_FILE only inside the volume, even for root', async (t) => {
  const root = ((await ok(ma.id, 'enable_root')) as { password: string }).password
  const sql = (statement: string) => engineSql(ma, 'root', root, 'appdb', statement)
  const files = join(ma.base, 'files')
  t.equal(sql('SELECT @@secure_file_priv;').out, `${files}/`, "secure_file_priv is the instance's files directory")
  t.equal(lstatSync(files).mode & 0o777, 0o700, 'which only the run user reaches')

  const outside = `/tmp/tv-outfile-${randomBytes(6).toString('hex')}`
  t.teardown(() => rmSync(outside, { force: true }))
  const refused = sql(`SELECT 'x' INTO OUTFILE '${outside}';`)
  t.notOk(refused.ok, 'a file outside the volume is refused')
  t.match(refused.out, /--secure-file-priv/)
  t.notOk(existsSync(outside), 'and not written')
  t.equal(sql("SELECT LOAD_FILE('/etc/passwd') IS NULL;").out, '1', 'a host file reads as NULL')

  const inside = join(files, 'out.txt')
  t.ok(sql(`SELECT 'kept' INTO OUTFILE '${inside}';`).ok, 'inside the files directory it works')
  t.equal(readFileSync(inside, 'utf8'), 'kept\n')
  // mariadbd fchmods an OUTFILE to 0644 whatever its umask: the 0700 directory is what keeps it private.
  t.equal(lstatSync(inside).uid, lstatSync(join(ma.base, 'data')).uid, "written as the run user, in the run user's 0700 directory")
})

t.test('mariadb: binlogs, logs and data files readable by the run user only', async (t) => {
  await ok(ma.id, 'create_database', { databases: [{ name: 'more' }] }) // something in the binlog
  const binlogs = readdirSync(join(ma.base, 'data')).filter((f) => /^mysql-bin\./.test(f))
  t.ok(binlogs.length >= 1, `binlogs: ${binlogs.join(', ')}`)
  t.same(
    openToOthers(join(ma.base, 'data'), (f) => /^mysql-bin\./.test(f)),
    [],
    'binlog and its index 0600',
  )
  t.same(openToOthers(join(ma.base, 'log')), [], 'error log 0600')
  // ib_logfile0 and the undo logs are rewritten by the server at each start: its umask applies.
  t.same(
    openToOthers(join(ma.base, 'data'), (f) => /^(ib_logfile\d+|aria_log_control|ddl_recovery\.log)$/.test(f)),
    [],
    'redo logs 0600',
  )
})

t.test("postgresql: every role but the agent's needs its password on the socket too", async (t) => {
  await ok(pg.id, 'create_user', { users: [{ name: 'bob', password: 'bob-pw-1', host: '%', databases: [{ name: 'appdb' }] }] })
  const viaSocket = (user: string, password?: string) =>
    spawnSync(PSQL, ['-X', '-w', '-A', '-t', '-h', join(pg.base, 'run'), '-p', String(pg.bootstrap.port), '-U', user, '-d', 'appdb', '-c', 'SELECT current_user'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...(password ? { PGPASSWORD: password } : {}) },
    })
  const bare = viaSocket('bob')
  t.not(bare.status, 0, 'bob without a password is refused on the socket')
  t.match(bare.stderr, /password/)
  const withPw = viaSocket('bob', 'bob-pw-1')
  t.equal(withPw.stdout.trim(), 'bob', withPw.stderr || 'bob with his password gets in')
  t.not(viaSocket('bob', 'wrong').status, 0, 'a wrong password is refused')
  t.equal(viaSocket('postgres').stdout.trim(), 'postgres', "the agent's role keeps its socket")
  // The agent still does everything it did (it connects as that role over that socket).
  await ok(pg.id, 'create_database', { databases: [{ name: 'other' }] })
  t.same(await ok(pg.id, 'list_databases', {}), [[{ name: 'appdb' }, { name: 'other' }], null])
  t.ok(engineSql(pg, 'bob', 'bob-pw-1', 'appdb', 'SELECT 1;').ok, 'bob over TCP with his password, as before')
})

t.test('postgresql: log and WAL readable by the run user only', async (t) => {
  await ok(pg.id, 'create_database', { databases: [{ name: 'walgen' }] })
  t.ok(
    readdirSync(join(pg.base, 'data', 'pg_wal')).some((f) => /^[0-9A-F]{24}$/.test(f)),
    'a WAL segment exists',
  )
  t.same(openToOthers(join(pg.base, 'data', 'pg_wal')), [], 'WAL 0600')
  t.same(openToOthers(join(pg.base, 'log')), [], 'postgresql.log 0600')
  t.same(openToOthers(join(pg.base, 'conf')), [], 'config 0600 (it names the paths and the replication user)')
})

t.test('redis: its socket asks for the password too; log and snapshot readable by the run user only', async (t) => {
  const socket = join(rd.base, 'run', 'redis.sock')
  const cli = (...args: string[]) => spawnSync('redis-cli', ['-s', socket, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } })
  t.match(cli('PING').stdout, /NOAUTH/, 'no command without AUTH, on the socket as over TCP')
  t.match(cli('SET', 'k', 'v').stdout, /NOAUTH/)
  const root = ((await ok(rd.id, 'enable_root')) as { password: string }).password
  const save = spawnSync('redis-cli', ['-s', socket, '--user', 'root', '--no-auth-warning', 'SAVE'], { encoding: 'utf8', env: { PATH: process.env.PATH, REDISCLI_AUTH: root } })
  t.equal(save.stdout.trim(), 'OK', save.stderr || 'SAVE as root with its password')
  t.ok(existsSync(join(rd.base, 'data', 'dump.rdb')), 'a snapshot exists')
  t.same(openToOthers(join(rd.base, 'data')), [], 'snapshot 0600')
  t.same(openToOthers(join(rd.base, 'log')), [], 'redis.log 0600')
})
