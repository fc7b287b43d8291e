// Synchronous replication on a real engine (docs/ha.md "Synchronous replication"): the scenario
// test/e2e/sync-replication-<engine>.ts runs, one lab per file.
//   1. Commit latency, asynchronous then synchronous (a figure, reported as a comment).
//   2. sync_replication on: the primary's engine is set (synchronous_standby_names / semi-sync), the view says synchronous.
//   3. The replica stops receiving: a commit is NOT acknowledged (it waits), the view says waiting, a notification follows;
//      the replica receives again: the commit is acknowledged and the row is on the replica.
//   4. Stopped again, a commit waits; sync_replication off releases it (the escape hatch), the replica still stopped.
import type { Test } from 'tap'
import { execFile } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import type { Instance } from '../../src/sdk/index.js'
import { labClient, pollInstance, startLab } from './lab.js'
import { PSQL, superSql } from './clients.js'
import { until } from './rejoin-check.js'
import { guestDir } from './guest.js'

export type SyncEngine = 'postgresql' | 'mariadb'

interface Target {
  ip: string
  dir: string
}

/** SQL as u1 over TCP, asynchronously (the server runs in this process); stdout, or throws. */
function run(engine: SyncEngine, at: Target, sql: string): Promise<string> {
  const [file, args, env] =
    engine === 'mariadb'
      ? ['mariadb', ['--no-defaults', '--connect-timeout=5', '-h', at.ip, '-P', '3306', '-u', 'u1', '-N', '-B', 'd1'], { MYSQL_PWD: 'Pw-one-1' }]
      : [PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', at.ip, '-p', '5432', '-U', 'u1', '-d', 'd1'], { PGPASSWORD: 'Pw-one-1', PGCONNECT_TIMEOUT: '5' }]
  return new Promise((resolve, reject) => {
    const c = execFile(file, args, { encoding: 'utf8', env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${sql.slice(0, 60)}: ${stderr || err.message}`)) : resolve(stdout.trim()),
    )
    c.stdin?.end(sql)
  })
}

/** The replica stops (false) or starts again (true) receiving from its source, and is seen to. */
async function receiving(engine: SyncEngine, at: Target, on: boolean): Promise<void> {
  if (engine === 'mariadb') {
    await superSql(engine, at.dir, on ? 'START SLAVE' : 'STOP SLAVE')
    await until(async () => (await superSql(engine, at.dir, "SHOW GLOBAL STATUS LIKE 'Slave_running'")).endsWith(on ? 'ON' : 'OFF'), 'the replica receiving or not')
    return
  }
  // primary_conninfo emptied in postgresql.auto.conf (then reset): the walreceiver stops, and starts with the agent's again.
  await superSql(engine, at.dir, on ? 'ALTER SYSTEM RESET primary_conninfo' : "ALTER SYSTEM SET primary_conninfo = ''")
  await superSql(engine, at.dir, 'SELECT pg_reload_conf()')
  await until(async () => (await superSql(engine, at.dir, "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")) === (on ? '1' : '0'), 'the receiver started or stopped')
}

/** Whether the replica's IO thread had received (Gtid_IO_Pos) the last GTID the primary's binlog holds, domain by domain. */
async function receivedGtid(primary: Target, replica: Target): Promise<boolean> {
  const last = await superSql('mariadb', primary.dir, 'SELECT @@gtid_binlog_pos')
  const [head = '', values = ''] = (await superSql('mariadb', replica.dir, 'SHOW SLAVE STATUS', true)).split('\n')
  const io = values.split('\t')[head.split('\t').indexOf('Gtid_IO_Pos')] ?? ''
  const seqs = (pos: string) =>
    new Map(
      pos
        .split(',')
        .filter(Boolean)
        .map((g) => [g.split('-')[0]!, BigInt(g.split('-')[2] ?? '0')] as const),
    )
  const got = seqs(io)
  return [...seqs(last)].every(([domain, seq]) => (got.get(domain) ?? -1n) >= seq)
}

/** `n` single-row commits in one session: ms per commit. */
async function commitMs(engine: SyncEngine, at: Target, from: number, n: number): Promise<number> {
  const sql = Array.from({ length: n }, (_, i) => `INSERT INTO t VALUES (${from + i});`).join('\n')
  const t0 = process.hrtime.bigint()
  await run(engine, at, sql)
  return Number(process.hrtime.bigint() - t0) / 1e6 / n
}

export async function checkSync(t: Test, engine: SyncEngine): Promise<void> {
  const lab = await startLab(t, { heartbeatMs: 300, heartbeatExpiryMs: 2_000, reconcileMs: 0 })
  t.teardown(() => {
    if (t.passing() === false) t.comment(lab.logs.filter((l) => /sync|rpc set_sync/.test(l)).join('\n'))
  })
  const api = lab.server.lab
  const c = labClient(lab.cloudsFile)
  const src = await c.instances.create({
    name: `sync-${engine}`,
    flavorRef: '1',
    volume: { size: 1 },
    datastore: { type: engine },
    databases: [{ name: 'd1' }],
    users: [{ name: 'u1', password: 'Pw-one-1', databases: [{ name: 'd1' }] }],
  })
  const active = async (id: string) => (await pollInstance(lab.cloudsFile, id, (i) => i?.status === 'ACTIVE' || i?.status === 'ERROR'))!
  t.equal((await active(src.id)).status, 'ACTIVE', 'primary ACTIVE')
  const at = (i: Instance): Target => ({ ip: (i as { ip?: string[] }).ip![0]!, dir: guestDir(lab.dataDir, i.id) })
  const S = at(await c.instances.get(src.id))
  await run(engine, S, 'CREATE TABLE t (id int primary key);')
  const rep = await c.instances.create({ name: `sync-${engine}-r1`, replica_of: src.id } as Parameters<typeof c.instances.create>[0])
  t.equal((await active(rep.id)).status, 'ACTIVE', 'replica ACTIVE')
  const R = at(await c.instances.get(rep.id))
  const has = async (target: Target, id: number) => (await run(engine, target, `SELECT count(*) FROM t WHERE id = ${id};`).catch(() => '')) === '1'

  // 1. Asynchronous commit latency first.
  const asyncMs = await commitMs(engine, S, 1000, 200)

  // 2. On.
  await c.instances.update(src.id, { sync_replication: true })
  const view = async (id: string) => (await c.instances.get(id)) as Instance & { sync_replication?: boolean; sync_replication_status?: string }
  await until(async () => (await view(src.id)).sync_replication_status === 'synchronous', 'the set synchronous')
  t.match(await view(rep.id), { sync_replication: true, sync_replication_status: 'synchronous' }, "the replica's view shows its set's")
  if (engine === 'postgresql') t.equal(await run(engine, S, 'SHOW synchronous_standby_names;'), `ANY 1 ("${rep.id}")`, 'the primary waits for its replica (by its application_name)')
  else t.equal(await run(engine, S, 'SELECT @@rpl_semi_sync_master_enabled, @@rpl_semi_sync_master_wait_point, @@rpl_semi_sync_slave_enabled;'), '1\tAFTER_SYNC\t0', 'semi-sync on the primary')
  if (engine === 'mariadb')
    t.equal(
      await run(engine, R, 'SELECT @@rpl_semi_sync_slave_enabled, @@rpl_semi_sync_slave_kill_conn_timeout;'),
      '1\t1',
      'the replica acknowledges; its STOP SLAVE waits 1 s at most to end its dump thread on a source that is gone',
    )
  const syncMs = await commitMs(engine, S, 2000, 200)
  t.comment(`${engine}: commit latency, 200 single-row commits in one session: async ${asyncMs.toFixed(2)} ms, sync ${syncMs.toFixed(2)} ms`)
  // Acknowledged means received (semi-sync AFTER_SYNC: in the relay log; synchronous_commit=on: flushed), not yet applied:
  // MariaDB's exact check is the replica's received GTID position covering the session's last GTID, at once; the row
  // itself is then awaited on both engines (CI saw it not yet applied once, the check being a plain read).
  if (engine === 'mariadb') t.ok(await receivedGtid(S, R), "the last synchronous commit's GTID was already received by the replica")
  await until(() => has(R, 2199), 'the last synchronous commit applied on the replica')
  t.pass('the last synchronous commit is on the replica')

  // 3. The replica stops receiving: a commit waits instead of being acknowledged.
  await receiving(engine, R, false)
  let acknowledged = false
  const pending = run(engine, S, 'INSERT INTO t VALUES (3000);').then(() => {
    acknowledged = true
  })
  await until(async () => (await view(src.id)).sync_replication_status === 'waiting', 'the view saying commits wait')
  t.notOk(acknowledged, 'a commit no replica received is not acknowledged')
  await until(() => api.notifications.list('trove.instance.sync_replication.waiting').length === 1, 'a waiting notification')
  t.notOk(acknowledged, 'still waiting after the report')
  await receiving(engine, R, true)
  await pending
  t.ok(acknowledged, 'acknowledged once the replica receives again')
  await until(() => has(R, 3000), 'the row on the replica')
  await until(async () => (await view(src.id)).sync_replication_status === 'synchronous', 'synchronous again')
  await until(() => api.notifications.list('trove.instance.sync_replication.restored').length === 1, 'a restored notification')

  // 4. Stopped again: sync_replication off releases a waiting commit (the replica still stopped).
  await receiving(engine, R, false)
  acknowledged = false
  const held = run(engine, S, 'INSERT INTO t VALUES (4000);').then(() => {
    acknowledged = true
  })
  await until(async () => (await view(src.id)).sync_replication_status === 'waiting', 'waiting again')
  t.notOk(acknowledged, 'waiting')
  await c.instances.update(src.id, { sync_replication: false })
  await held
  t.ok(acknowledged, 'turning it off releases the commit')
  t.equal((await view(src.id)).sync_replication, false, 'shown off')
  await receiving(engine, R, true)
  await until(() => has(R, 4000), 'the released row reaches the replica once it receives')
  if (engine === 'mariadb') await fenceWhileWaiting(t, lab, { src: src.id, rep: rep.id }, S, R)
}

/**
 * 5. (MariaDB) A synchronous primary cut off from its replicas has a commit waiting for an acknowledgement no replica
 *    will send, and the agent's SQL (one connection: the archiver's SHOW MASTER STATUS first) waits behind it.
 *    a. Its lease's fence (stop_db, the same stop): stops the engine within its bounds, the commit not acknowledged.
 *    b. Started again, a commit waiting again, the rejoin's fence (set_ha `ejected`) cannot make it read-only by
 *       SQL: it kills the engine (which answers no waiting commit) and starts it read-only within its bound; turning
 *       semi-sync off would have acknowledged the commit.
 *    PostgreSQL needs no step of its own: its fences stop or restart the engine, which ends such a session.
 */
async function fenceWhileWaiting(t: Test, lab: Awaited<ReturnType<typeof startLab>>, ids: { src: string; rep: string }, S: Target, R: Target): Promise<void> {
  const c = labClient(lab.cloudsFile)
  const view = async (id: string) => (await c.instances.get(id)) as Instance & { sync_replication_status?: string }
  await c.instances.update(ids.src, { sync_replication: true })
  await until(async () => (await view(ids.src)).sync_replication_status === 'synchronous', 'synchronous again')
  // Any set_sync_replication from here on writes sync.cnf first, inside the agent's operation queue (below).
  const syncCnf = join(guestDir(lab.dataDir, ids.src), 'conf', 'sync.cnf')
  const before = statSync(syncCnf).mtimeMs
  await receiving('mariadb', R, false)
  // Two writers, as the checker's: one commit waits for the ACK, the next one waits in its group commit holding the
  // binlog's lock, and the agent's own SHOW MASTER STATUS (the archiver's) waits behind it (seen to in a).
  const waiting = async (key: number, agentHeld: boolean) => {
    const outcomes: string[] = []
    const done = Promise.all(
      [key, key + 1].map((k) =>
        run('mariadb', S, `INSERT INTO t VALUES (${k});`).then(
          () => outcomes.push('acknowledged'),
          (e: Error) => outcomes.push(`refused: ${e.message}`),
        ),
      ),
    )
    await until(async () => (await superSql('mariadb', S.dir, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE '%semi-sync ACK%'")) === '1', 'a commit waiting for an ACK')
    if (agentHeld)
      await until(
        async () => (await superSql('mariadb', S.dir, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SHOW MASTER STATUS' AND TIME_MS > 1000")) === '1',
        "the agent's SQL waiting behind it",
      )
    return { outcomes, done }
  }
  const timed = async (what: string, call: () => Promise<unknown>) => {
    const t0 = Date.now()
    await call()
    const took = Date.now() - t0
    t.ok(took < 60_000, `${what} answered in ${took} ms`)
  }

  const a = await waiting(5000, true)
  // The set's keeper may call set_sync_replication on the primary meanwhile (it did under load): its SQL waits on the
  // agent's one connection while it holds the agent's operation queue, where the fence waited for ever (the RPC's 120 s
  // ran out). One is sent here; sync.cnf written since the commits began waiting is the sign that one (this one, or
  // the keeper's before it) holds the queue.
  const keeper = lab.server.lab.rpc.call(ids.src, 'set_sync_replication', { sync: { role: 'primary', standbys: [ids.rep] } }, 120_000).then(
    () => 'answered',
    (e: Error) => `failed: ${e.message}`,
  )
  await until(() => statSync(syncCnf).mtimeMs > before, 'a set_sync_replication holding the queue')
  await timed('stop_db (the lease fence) behind it', () => lab.server.lab.rpc.call(ids.src, 'stop_db', {}, 120_000))
  t.match(await keeper, /^failed: /, 'the set_sync_replication sent ended with the engine, not answered')
  await a.done
  t.notOk(a.outcomes.includes('acknowledged'), `the waiting commits were not acknowledged by the stop (${a.outcomes})`)
  await lab.server.lab.rpc.call(ids.src, 'restart', {}, 120_000)

  // SET GLOBAL read_only waits for the commits itself, whatever the archiver does.
  const b = await waiting(5010, false)
  await timed('the ejected fence', () => lab.server.lab.rpc.call(ids.src, 'set_ha', { ha: null, ejected: { newSource: { id: ids.rep, host: R.ip, port: 3306 } } }, 120_000))
  await b.done
  t.notOk(b.outcomes.includes('acknowledged'), `the waiting commits were not acknowledged by the fence (${b.outcomes})`)
  t.equal(await superSql('mariadb', S.dir, 'SELECT @@read_only'), '1', 'the engine runs again, read-only')
}
