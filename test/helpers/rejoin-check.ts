// An ejected primary rejoins its set by itself (issue 16 item 3), on a real engine: the scenario
// test/e2e/rejoin-<engine>.ts runs, one lab per file.
import type { Test } from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { superSql } from './clients.js'
import { labClient, pollInstance, startLab } from './lab.js'
import { guestDir, hostPid, running } from './guest.js'

const PSQL = '/usr/lib/postgresql/15/bin/psql'
export type RejoinEngine = 'postgresql' | 'mariadb' | 'redis'

interface Target {
  ip: string
  dir: string
}

/** SQL as u1 over TCP (MariaDB, PostgreSQL) or a Redis command as the agent's admin over the socket; never blocks the server's event loop. */
function run(engine: RejoinEngine, at: Target, what: string): Promise<{ out: string; code: number }> {
  const [file, args, env] =
    engine === 'mariadb'
      ? ['mariadb', ['--no-defaults', '--connect-timeout=5', '-h', at.ip, '-P', '3306', '-u', 'u1', '-N', '-B', '-e', what, 'd1'], { MYSQL_PWD: 'Pw-one-1' }]
      : engine === 'postgresql'
        ? [PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', at.ip, '-p', '5432', '-U', 'u1', '-d', 'd1', '-c', what], { PGPASSWORD: 'Pw-one-1', PGCONNECT_TIMEOUT: '5' }]
        : ['redis-cli', ['-s', join(at.dir, 'run/redis.sock'), ...what.split(' ')], { REDISCLI_AUTH: secret(at.dir) }]
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 15_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      resolve({ out: `${stdout}${stderr}`.trim(), code })
    })
  })
}

function secret(dir: string): string {
  try {
    return readFileSync(join(dir, 'conf/admin.secret'), 'utf8').trim()
  } catch {
    return ''
  }
}

/**
 * The replica stops receiving from its source (as its engine's superuser over the socket), and is seen to; the
 * function it answers undoes the setting once the source is dead. On PostgreSQL the empty primary_conninfo stays in
 * postgresql.auto.conf until then: any reload of the replica's configuration (its agent's, for a synchronous-replication
 * change) would otherwise restart its receiver, which then received the row meant to be lost (seen on a busy machine:
 * the new primary had it, and the old one rightly needed no rewind, against this test's premise).
 */
async function stopReceiving(engine: RejoinEngine, at: Target): Promise<() => Promise<unknown>> {
  if (engine === 'redis') return async () => undefined
  const admin = (sql: string) => superSql(engine, at.dir, sql)
  if (engine === 'mariadb') {
    await admin('STOP SLAVE')
    return async () => undefined
  }
  await admin("ALTER SYSTEM SET primary_conninfo = ''")
  await admin('SELECT pg_reload_conf()')
  await until(async () => (await admin('SELECT count(*) FROM pg_stat_wal_receiver')) === '0', 'the replica stopped receiving')
  // Out of postgresql.auto.conf again (pg_rewind copies that file to the old primary), not reloaded.
  return () => admin('ALTER SYSTEM RESET primary_conninfo')
}

/** Writes row (key) `n`; true only when the engine acknowledged it. */
async function write(engine: RejoinEngine, at: Target, n: number): Promise<boolean> {
  const r = await run(engine, at, engine === 'redis' ? `SET k${n} v${n}` : `INSERT INTO t VALUES (${n})`)
  return engine === 'redis' ? r.code === 0 && r.out === 'OK' : r.code === 0
}

async function rows(engine: RejoinEngine, at: Target): Promise<number[]> {
  const r = await run(engine, at, engine === 'redis' ? 'KEYS k*' : 'SELECT id FROM t ORDER BY id')
  if (r.code !== 0) return []
  return r.out
    .split('\n')
    .filter((l) => /^k?\d+$/.test(l))
    .map((l) => Number(l.replace(/^k/, '')))
    .sort((a, b) => a - b)
}

/** Polls until `probe` holds; the deadline only ends a hang (a busy machine is slower, not failing). */
export async function until(probe: () => Promise<boolean> | boolean, what: string, ms = 240_000): Promise<void> {
  const start = Date.now()
  for (let pause = 50; ; pause = Math.min(pause * 2, 500)) {
    if (await probe()) return
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, pause))
  }
}

/**
 * Primary + replica; rows written; the primary's agent and engine killed (-9), the reconciler off so
 * the server does not start them again; eject (the API waits out the short heartbeat expiry); a write
 * on the new primary; the old primary's agent spawned again: it must follow the new primary by
 * itself, and every write tried on it from the moment its agent starts must fail.
 */
export async function checkRejoin(t: Test, engine: RejoinEngine): Promise<void> {
  // Heartbeats every 300 ms, expired after 2 s: the eject API's wait is short; no periodic reconcile.
  const lab = await startLab(t, { heartbeatMs: 300, heartbeatExpiryMs: 2_000, reconcileMs: 0 })
  const api = lab.server.lab
  const c = labClient(lab.cloudsFile)
  const sql = engine !== 'redis'
  const common = { flavorRef: '1', volume: { size: 1 }, datastore: { type: engine } }
  const src = await c.instances.create({
    name: `rj-${engine}`,
    ...common,
    ...(sql ? { databases: [{ name: 'd1' }], users: [{ name: 'u1', password: 'Pw-one-1', databases: [{ name: 'd1' }] }] } : {}),
  })
  const active = async (id: string) => (await pollInstance(lab.cloudsFile, id, (i) => i?.status === 'ACTIVE' || i?.status === 'ERROR'))!
  const S0 = await active(src.id)
  t.equal(S0.status, 'ACTIVE', 'primary ACTIVE')
  const at = (id: string, ip: string): Target => ({ ip, dir: guestDir(lab.dataDir, id) })
  const S = at(src.id, (S0 as { ip?: string[] }).ip![0]!)
  if (sql) t.equal((await run(engine, S, 'CREATE TABLE t (id int primary key)')).code, 0, 'table created')
  t.ok(await write(engine, S, 1), 'row 1 written on the primary')
  const rep = await c.instances.create({ name: `rj-${engine}-rep`, replica_of: src.id } as Parameters<typeof c.instances.create>[0])
  const R0 = await active(rep.id)
  t.equal(R0.status, 'ACTIVE', 'replica ACTIVE')
  const R = at(rep.id, (R0 as { ip?: string[] }).ip![0]!)
  await until(async () => (await rows(engine, R)).join() === '1', 'row 1 on the replica')
  t.ok(await write(engine, S, 2), 'row 2 written on the primary')
  await until(async () => (await rows(engine, R)).join() === '1,2', 'row 2 on the replica')
  let resumeReceiving: () => Promise<unknown> = async () => undefined
  if (sql) {
    // Asynchronous replication's loss, made certain: the replica stops receiving, the primary acknowledges
    // row 5, then dies. The old primary has diverged: it must drop row 5 (pg_rewind, a fresh copy) to follow.
    resumeReceiving = await stopReceiving(engine, R)
    t.ok(await write(engine, S, 5), 'row 5 acknowledged by the primary, never received by the replica')
  }

  // The primary dies: agent first (it would restart its engine), then the engine.
  const guest = api.instances.guestStatus(src.id)!
  t.ok(guest.agent_pid && guest.engine_pid, 'the primary reported its agent and engine pids')
  // Host pids: a sandbox's agent reports its PID namespace's (helpers/guest.ts).
  process.kill(running(hostPid(lab.dataDir, src.id, guest.agent_pid!), "the primary's agent"), 'SIGKILL')
  process.kill(running(hostPid(lab.dataDir, src.id, guest.engine_pid!), "the primary's engine"), 'SIGKILL')
  await until(() => !api.compute.agentAlive(src.id), 'the agent gone')
  await resumeReceiving()

  // eject: refused while the heartbeat is current, accepted once it expired.
  await until(async () => {
    try {
      await c.instances.ejectReplicaSource(src.id)
      return true
    } catch (e) {
      if (!/current heartbeat/.test((e as Error).message)) throw e
      return false
    }
  }, 'the eject accepted')
  const ejected = await pollInstance(lab.cloudsFile, rep.id, (i) => i?.status !== 'EJECT' && !(i as { replica_of?: unknown })?.replica_of)
  t.equal(ejected?.status, 'ACTIVE', 'the replica is the new primary')
  if (sql) t.notOk((await rows(engine, R)).includes(5), 'without row 5 (the loss asynchronous replication allows)')
  const shown = async (id: string) => (await c.instances.get(id)) as unknown as Record<string, unknown>
  await until(async () => (await shown(src.id)).status !== 'EJECT', 'the eject done')
  const pending = await shown(src.id)
  t.match(pending['lab:rejoin'], { replica_of: rep.id }, 'the old primary shows its pending rejoin')
  t.match((pending.fault as { message?: string })?.message, `rejoining the replication set of ${rep.id}`, 'and the fault says so')
  t.ok(await write(engine, R, 3), 'row 3 written on the new primary')

  // The old primary comes back (its agent spawned as the reconciler would): writes tried all along.
  let attempts = 0
  const accepted: number[] = []
  let stop = false
  const hammer = (async () => {
    for (let n = 1000; !stop; n++) {
      attempts++
      if (await write(engine, S, n)) accepted.push(n)
    }
  })()
  const t0 = Date.now()
  await api.compute.spawnAgent(src.id)
  try {
    await until(async () => {
      const v = await shown(src.id)
      return v.status === 'ERROR' || ((v.replica_of as { id?: string } | undefined)?.id === rep.id && v.status === 'ACTIVE' && !v['lab:rejoin'])
    }, 'the rejoin')
    const v = await shown(src.id)
    t.equal(v.status, 'ACTIVE', `the old primary rejoined (${(v.fault as { message?: string } | undefined)?.message ?? ''})`)
    t.comment(`${engine}: agent spawned -> replica of the new primary in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    t.notOk(v.fault, 'the fault that announced the rejoin is gone')
    t.notOk(v['lab:rejoin'], 'and so is the pending rejoin')
    // What the agent did: fenced at start, then rewound / re-pointed / reloaded (the case this run hit).
    const said = readFileSync(join(S.dir, 'agent.log'), 'utf8')
      .split('\n')
      .filter((l) => /fenced|pg_rewind|fresh copy|diverged/.test(l))
    for (const l of said) t.comment(l)
    t.ok(
      said.some((l) => /fenced read-only/.test(l)),
      'its agent started the engine fenced',
    )
    t.ok(await write(engine, R, 4), 'row 4 written on the new primary')
    let seen: number[] = []
    try {
      await until(async () => (seen = await rows(engine, S)).join() === '1,2,3,4', 'rows 3 and 4 on the old primary')
    } catch (e) {
      // Once in a full run (session 12) the rows never came and nothing said why: what it had, and its logs.
      t.comment(`the old primary's rows: ${seen.join() || '(none, or no answer)'}; its agent log's tail:`)
      t.comment(readFileSync(join(S.dir, 'agent.log'), 'utf8').slice(-4000))
      if (engine !== 'redis') {
        const receiving = engine === 'postgresql' ? 'SELECT pg_is_in_recovery(), status, sender_host, flushed_lsn, pg_last_wal_replay_lsn() FROM pg_stat_wal_receiver' : 'SHOW SLAVE STATUS\\G'
        t.comment(await superSql(engine, S.dir, receiving, true).catch((err: Error) => err.message))
      }
      throw e
    }
    t.pass('the old primary received the new primary writes')
    const primary = await shown(rep.id)
    t.match(String((primary as { replicas?: Array<{ id: string }> }).replicas?.map((x) => x.id)), src.id, 'the new primary lists it as its replica')
    if (primary.writer_endpoint) t.equal(v.writer_endpoint, primary.writer_endpoint, 'both show the same writer endpoint')
  } finally {
    // Said even when no rejoin came (the old code: the old primary back as a second, writable primary).
    stop = true
    await hammer
    t.ok(attempts > 0, `${attempts} writes tried on the old primary while it came back`)
    t.same(accepted, [], 'not one of them was accepted')
    t.notOk(
      (await rows(engine, S)).some((n) => n >= 1000),
      'none is in its data',
    )
    t.notOk(
      (await rows(engine, R)).some((n) => n >= 1000),
      'nor in the new primary',
    )
  }
}
