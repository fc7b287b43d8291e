// Flows that combine operations on real engines (issue 11 item 7), through the real CLI:
// a restore whose create request names the databases and users the backup already holds;
// a PostgreSQL promote whose old primary runs a smaller max_connections (a configuration
// group) than the replica; a PostgreSQL promote with two replicas, where the other replica
// must follow the new primary.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { killEverythingUnder, runCli, startServerProcess, tempDir } from '../helpers/lab.js'

const PSQL = '/usr/lib/postgresql/15/bin/psql'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** SQL as u1 in d1 over TCP with the engine's own client. */
function sql(engine: string, ip: string, input: string, password = 'Pw-one-1'): { out: string; err: string; code: number } {
  const r =
    engine === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', ip, '-P', '3306', '-u', 'u1', '-N', '-B', 'd1'], { input, encoding: 'utf8', env: { ...process.env, MYSQL_PWD: password } })
      : spawnSync(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', ip, '-p', '5432', '-U', 'u1', '-d', 'd1'], {
          input,
          encoding: 'utf8',
          env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' },
        })
  return { out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim(), code: r.status ?? -1 }
}

const ids = (engine: string, ip: string): string => sql(engine, ip, 'SELECT id FROM t ORDER BY id;').out.split('\n').join(',')

/** Polls `probe`; the deadline (`ms`, raised to two minutes) only ends a hang: a busy machine is slower, not failing. */
async function until(probe: () => boolean, ms = 30_000): Promise<boolean> {
  const start = Date.now()
  while (Date.now() - start < Math.max(ms, 120_000)) {
    if (probe()) return true
    await sleep(200)
  }
  return probe()
}

t.test('combined flows on real engines', async (t) => {
  const dir = tempDir(t, 'tf')
  const dataDir = join(dir, 'lab')
  const server = await startServerProcess(t, dataDir)
  t.teardown(() => killEverythingUnder(dataDir))
  const cli = (...args: string[]) => runCli(args, server.env)
  const last = (s: string) => s.trim().split('\n').pop()
  const json = async (...args: string[]) => {
    const r = await cli(...args, '-f', 'json')
    if (r.code !== 0) throw new Error(`trove ${args.join(' ')}: exit ${r.code}: ${last(r.stderr)}`)
    return JSON.parse(r.stdout)
  }
  const create = (name: string, ...extra: string[]) => cli('instance', 'create', name, '--flavor', 'm1.tiny', '--size', '1', ...extra, '--wait', '--timeout', '180', '-f', 'json')
  const users = ['--databases', 'd1', '--users', 'u1:Pw-one-1']

  for (const engine of ['mariadb', 'postgresql']) {
    await t.test(`${engine}: restore into an instance that names the backup's databases and users`, async (t) => {
      const src = await create(`rs-${engine}`, '--datastore', engine, ...users)
      t.equal(src.code, 0, `source created (${last(src.stderr)})`)
      const { ip } = JSON.parse(src.stdout) as { ip: string }
      t.equal(sql(engine, ip, 'CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1), (2), (3);').code, 0, 'rows written')
      const b = await cli('backup', 'create', `bk-${engine}`, '--instance', `rs-${engine}`, '--wait', '--timeout', '180')
      t.equal(b.code, 0, `backup COMPLETED (${last(b.stderr)})`)
      // The same database and user, the user with a new password, plus a new database and user.
      const r = await create(`rr-${engine}`, '--datastore', engine, '--backup', `bk-${engine}`, '--databases', 'd1', 'd2', '--users', 'u1:Pw-new-1', 'u2:Pw-two-2')
      t.equal(r.code, 0, `the restore is ACTIVE (${last(r.stderr)})`)
      if (r.code !== 0) return
      const rip = (JSON.parse(r.stdout) as { ip: string }).ip
      t.equal(sql(engine, rip, 'SELECT count(*) FROM t;', 'Pw-new-1').out, '3', 'the backup rows are there (u1 logs in with the password of the request)')
      t.not(sql(engine, rip, 'SELECT 1;', 'Pw-one-1').code, 0, 'the old password of u1 no longer works')
      const dbs = (await json('db', 'list', `rr-${engine}`)).map((d: { Name: string }) => d.Name)
      t.ok(dbs.includes('d1') && dbs.includes('d2'), `both databases (${dbs.join(',')})`)
      const us = (await json('user', 'list', `rr-${engine}`)).map((u: { Name: string }) => u.Name)
      t.ok(us.includes('u1') && us.includes('u2'), `both users (${us.join(',')})`)
      t.equal((await cli('instance', 'delete', `rr-${engine}`, `rs-${engine}`, '--wait', '--timeout', '120')).code, 0, 'deleted')
    })
  }
  await t.test('postgresql: promote when the old primary runs a smaller max_connections than the replica', async (t) => {
    const g = await json('configuration', 'create', 'small', '{"max_connections": 50}', '--datastore', 'postgresql')
    const src = await create('pm', '--datastore', 'postgresql', '--configuration', g.id, ...users)
    t.equal(src.code, 0, `primary with max_connections 50 (${last(src.stderr)})`)
    const S = (JSON.parse(src.stdout) as { ip: string }).ip
    t.equal(sql('postgresql', S, 'SHOW max_connections;').out, '50', 'the group is live on the primary')
    t.equal(sql('postgresql', S, 'CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1);').code, 0, 'row 1')
    const rep = await cli('instance', 'create', 'pm-rep', '--replica-of', 'pm', '--wait', '--timeout', '180', '-f', 'json')
    t.equal(rep.code, 0, `replica (${last(rep.stderr)})`)
    const R = (JSON.parse(rep.stdout) as { ip: string }).ip
    t.equal(sql('postgresql', R, 'SHOW max_connections;').out, '100', 'the replica runs the default 100')
    const p = await cli('instance', 'promote', 'pm-rep', '--wait', '--timeout', '180')
    t.equal(p.code, 0, `promote --wait (${last(p.stderr)})`)
    const old = await json('instance', 'show', 'pm')
    t.match(old, { status: 'ACTIVE' }, 'the old primary is ACTIVE as a replica')
    t.equal(sql('postgresql', R, 'INSERT INTO t VALUES (2);').code, 0, 'row 2 on the new primary')
    t.ok(await until(() => ids('postgresql', S) === '1,2'), 'row 2 reaches the old primary')
    t.equal((await cli('instance', 'detach', 'pm', '--wait', '--timeout', '120')).code, 0, 'detached')
    t.equal((await cli('instance', 'delete', 'pm', 'pm-rep', '--wait', '--timeout', '120')).code, 0, 'deleted')
  })
  await t.test('postgresql: promote with two replicas', async (t) => {
    const src = await create('p2', '--datastore', 'postgresql', ...users)
    t.equal(src.code, 0, `primary (${last(src.stderr)})`)
    const S = (JSON.parse(src.stdout) as { ip: string }).ip
    t.equal(sql('postgresql', S, 'CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1);').code, 0, 'row 1')
    const reps = await cli('instance', 'create', 'p2-rep', '--replica-of', 'p2', '--replica-count', '2', '--wait', '--timeout', '180', '-f', 'json')
    t.equal(reps.code, 0, `two replicas (${last(reps.stderr)})`)
    const list = (await json('instance', 'list')) as Array<{ Name: string; ID: string }>
    const replicaNames = list
      .map((i) => i.Name)
      .filter((n) => n.startsWith('p2-rep'))
      .sort()
    t.equal(replicaNames.length, 2, `two replicas listed (${replicaNames.join(',')})`)
    // --wait follows the last replica; the first may still be building.
    for (const n of replicaNames) {
      let status = ''
      const start = Date.now()
      while (status !== 'ACTIVE' && status !== 'ERROR' && Date.now() - start < 180_000) {
        status = (await json('instance', 'show', n)).status
        if (status !== 'ACTIVE') await sleep(500)
      }
      t.equal(status, 'ACTIVE', `${n} ACTIVE`)
    }
    const [a, b] = (await Promise.all(replicaNames.map((n) => json('instance', 'show', n)))) as Array<{ name: string; ip: string }>
    t.ok(await until(() => ids('postgresql', a!.ip) === '1' && ids('postgresql', b!.ip) === '1'), 'row 1 on both replicas')
    // A client keeps writing to the old primary through the promote (PostgreSQL has no read-only switch): the other
    // replica streams that WAL until it is re-pointed, past the point where the new primary's timeline forks, and
    // must still follow it (it once waited forever: "new timeline 2 forked off ... before current recovery point").
    t.equal(sql('postgresql', S, 'CREATE TABLE w (id int);').code, 0, 'a table for the writes during the promote')
    const writer = spawn(
      PSQL,
      ['-X', '-q', '-h', S, '-p', '5432', '-U', 'u1', '-d', 'd1', '-c', 'DO $$ BEGIN FOR i IN 1..100000 LOOP INSERT INTO w VALUES (i); COMMIT; PERFORM pg_sleep(0.01); END LOOP; END $$;'],
      {
        stdio: 'ignore',
        env: { ...process.env, PGPASSWORD: 'Pw-one-1' },
      },
    )
    t.teardown(() => writer.kill())
    t.ok(await until(() => Number(sql('postgresql', b!.ip, 'SELECT count(*) FROM w;').out) > 0), 'the writes reach the other replica')
    const p = await cli('instance', 'promote', a!.name, '--wait', '--timeout', '180')
    writer.kill()
    t.equal(p.code, 0, `promote --wait (${last(p.stderr)})`)
    t.equal((await json('instance', 'show', b!.name)).replica_of, (await json('instance', 'show', a!.name)).id, 'the other replica follows the new primary')
    t.equal(sql('postgresql', a!.ip, 'INSERT INTO t VALUES (2);').code, 0, 'row 2 on the new primary')
    t.ok(await until(() => ids('postgresql', b!.ip) === '1,2', 20_000), `row 2 reaches the other replica (${ids('postgresql', b!.ip)})`)
    t.ok(await until(() => ids('postgresql', S) === '1,2', 20_000), 'row 2 reaches the old primary')
    for (const n of [b!.name, 'p2']) t.equal((await cli('instance', 'detach', n, '--wait', '--timeout', '120')).code, 0, `${n} detached`)
    t.equal((await cli('instance', 'delete', 'p2', ...replicaNames, '--wait', '--timeout', '120')).code, 0, 'deleted')
  })
})
