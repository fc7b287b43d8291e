// Replication end to end through the real CLI against real engines: create a replica,
// see writes arrive, refuse writes on it, promote it (the old primary follows it), detach.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { killEverythingUnder, runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { guestDir } from '../helpers/guest.js'

const PSQL = '/usr/lib/postgresql/15/bin/psql'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** REPL_ENGINES=mariadb,redis narrows the run (development). */
const ENGINES = (process.env.REPL_ENGINES ?? 'mariadb,postgresql,redis').split(',')

interface Target {
  ip: string
  dir: string
}

/** Runs SQL (MariaDB/PostgreSQL as u1 over TCP) or a Redis command (as the agent over the socket); stdout and stderr. */
function engineRun(engine: string, at: Target, what: string): { out: string; err: string; code: number } {
  const r =
    engine === 'mariadb'
      ? spawnSync('mariadb', ['--no-defaults', '-h', at.ip, '-P', '3306', '-u', 'u1', '-N', '-B', 'd1'], { input: what, encoding: 'utf8', env: { ...process.env, MYSQL_PWD: 'Pw-one-1' } })
      : engine === 'postgresql'
        ? spawnSync(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', at.ip, '-p', '5432', '-U', 'u1', '-d', 'd1'], {
            input: what,
            encoding: 'utf8',
            env: { ...process.env, PGPASSWORD: 'Pw-one-1', PGCONNECT_TIMEOUT: '5' },
          })
        : spawnSync('redis-cli', ['-s', join(at.dir, 'run/redis.sock')], {
            input: what + '\n',
            encoding: 'utf8',
            env: { ...process.env, REDISCLI_AUTH: readFileSync(join(at.dir, 'conf/admin.secret'), 'utf8').trim() },
          })
  return { out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim(), code: r.status ?? -1 }
}

/** Writes row `n` (a table row, or a Redis key). */
const write = (engine: string, at: Target, n: number) => engineRun(engine, at, engine === 'redis' ? `SET k${n} v${n}` : `INSERT INTO t VALUES (${n});`)

/** The rows (keys) present, sorted. */
function rows(engine: string, at: Target): number[] {
  const r = engineRun(engine, at, engine === 'redis' ? 'KEYS k*' : 'SELECT id FROM t ORDER BY id;')
  return r.out
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l.replace(/^k/, '')))
    .filter(Number.isFinite)
    .sort((a, b) => a - b)
}

/**
 * The address of the instance that answers at `host` on the engine's port (an endpoint, issue 16):
 * MariaDB's bind address and PostgreSQL's server address as u1 (the same credentials on every member), Redis's
 * bind with each member's admin secret in turn (its ACL is per instance). '' when nothing answers.
 */
function served(engine: string, host: string, members: Target[]): string {
  if (engine === 'mariadb') return engineRun(engine, { ip: host, dir: '' }, 'SELECT @@bind_address;').out
  if (engine === 'postgresql') return engineRun(engine, { ip: host, dir: '' }, 'SELECT host(inet_server_addr());').out
  for (const m of members) {
    const r = spawnSync('redis-cli', ['-h', host, '-p', '6379', 'CONFIG', 'GET', 'bind'], {
      encoding: 'utf8',
      env: { ...process.env, REDISCLI_AUTH: readFileSync(join(m.dir, 'conf/admin.secret'), 'utf8').trim() },
    })
    const bind = (r.stdout ?? '').trim().split('\n')[1]
    if (r.status === 0 && bind) return bind
  }
  return ''
}

/** Polls `probe`; the deadline (`ms`, raised to two minutes) only ends a hang: a busy machine is slower, not failing. */
async function until(probe: () => boolean, ms = 30_000): Promise<boolean> {
  const start = Date.now()
  while (Date.now() - start < Math.max(ms, 120_000)) {
    if (probe()) return true
    await sleep(200)
  }
  return probe()
}

/** Polls an async `probe` (a CLI call) until it holds; false after two minutes. */
async function untilShown(probe: () => Promise<boolean>): Promise<boolean> {
  const start = Date.now()
  while (Date.now() - start < 120_000) {
    if (await probe()) return true
    await sleep(300)
  }
  return false
}

t.test('replication with the real CLI: MariaDB (GTID), PostgreSQL (streaming), Redis (REPLICAOF)', async (t) => {
  const dir = tempDir(t, 'tr')
  const dataDir = join(dir, 'lab')
  const server = await startServerProcess(t, dataDir)
  t.teardown(() => killEverythingUnder(dataDir))
  const cli = (...args: string[]) => runCli(args, server.env)
  const json = async (...args: string[]) => {
    const r = await cli(...args, '-f', 'json')
    if (r.code !== 0) throw new Error(`trove ${args.join(' ')}: ${r.stderr.trim()}`)
    return JSON.parse(r.stdout)
  }

  for (const engine of ENGINES) {
    await t.test(engine, async (t) => {
      try {
        await check(t, engine)
      } finally {
        // Whatever happened, nothing is left running (a failed step may have left both).
        for (const name of [`r-${engine}-rep`, `r-${engine}`]) {
          await cli('instance', 'reset', 'status', name).catch(() => undefined)
          await cli('instance', 'delete', name, '--wait', '--timeout', '120').catch(() => undefined)
        }
      }
    })
  }

  async function check(t: Test, engine: string): Promise<void> {
    const src = `r-${engine}`
    const rep = `r-${engine}-rep`
    const sql = engine !== 'redis'
    const extra = sql ? ['--databases', 'd1', '--users', 'u1:Pw-one-1'] : []
    const created = await cli('instance', 'create', src, '--flavor', 'm1.tiny', '--size', '1', '--datastore', engine, ...extra, '--wait', '--timeout', '180', '-f', 'json')
    t.equal(created.code, 0, `source created (${created.stderr.trim().split('\n').pop()})`)
    const source = JSON.parse(created.stdout) as { id: string; ip: string }
    const at = (id: string, ip: string): Target => ({ ip, dir: guestDir(dataDir, id) })
    const S = at(source.id, source.ip)
    if (sql) t.equal(engineRun(engine, S, 'CREATE TABLE t (id int primary key);').code, 0, 'table created')
    for (const n of [1, 2]) t.equal(write(engine, S, n).code, 0, `row ${n} written on the source`)

    const t0 = Date.now()
    const made = await cli('instance', 'create', rep, '--replica-of', src, '--wait', '--timeout', '180', '-f', 'json')
    t.equal(made.code, 0, `replica created (${made.stderr.trim().split('\n').pop()})`)
    if (made.code !== 0) return
    const replica = JSON.parse(made.stdout) as { id: string; ip: string; replica_of: string; flavor: string; volume: number }
    t.comment(`${engine}: replica ACTIVE in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    t.equal(replica.replica_of, source.id, 'create shows replica_of')
    const R = at(replica.id, replica.ip)
    t.ok(await until(() => rows(engine, R).join() === '1,2'), 'the replica has the source rows')
    t.equal(write(engine, S, 3).code, 0, 'row 3 written on the source')
    t.ok(await until(() => rows(engine, R).join() === '1,2,3'), 'row 3 reaches the replica')
    // The set's endpoints (issue 16): the writer reaches the source, the reader the replica. The endpoint pass (every
    // second) places a new set: a Redis replica can be ACTIVE and streaming before it has (a full run failed here).
    let set = await json('instance', 'show', src)
    await untilShown(async () => {
      set = await json('instance', 'show', src)
      return set.writer_endpoint !== undefined && set.reader_endpoint !== undefined
    })
    t.match(set.writer_endpoint, /^127\.\d+\.\d+\.\d+:\d+$/, `the source shows its writer endpoint (${set.writer_endpoint})`)
    t.match(set.reader_endpoint, /^127\.\d+\.\d+\.\d+:\d+$/, `and its reader endpoint (${set.reader_endpoint})`)
    t.equal((await json('instance', 'show', rep)).writer_endpoint, set.writer_endpoint, 'the replica shows the same writer endpoint')
    const writerHost = String(set.writer_endpoint).split(':')[0]!
    const readerHost = String(set.reader_endpoint).split(':')[0]!
    t.ok(await until(() => served(engine, writerHost, [S, R]) === source.ip), 'the writer endpoint reaches the source')
    t.ok(await until(() => served(engine, readerHost, [S, R]) === replica.ip), 'the reader endpoint reaches the replica')
    const refused = write(engine, R, 99)
    t.match(`${refused.out} ${refused.err}`, engine === 'mariadb' ? /read-only/ : engine === 'postgresql' ? /read-only transaction/ : /READONLY/, 'a write on the replica is refused')
    t.notOk(rows(engine, R).includes(99), 'nothing written on the replica')

    const shownSource = await json('instance', 'show', src)
    t.equal(shownSource.replicas, replica.id, 'source show lists the replica')
    const del = await cli('instance', 'delete', src)
    t.match(del.stdout, /Detach replicas before deleting replica source\./, 'the source cannot be deleted while it has replicas')

    const t1 = Date.now()
    const promoted = await cli('instance', 'promote', rep, '--wait', '--timeout', '180')
    t.equal(promoted.code, 0, `promote --wait (${promoted.stderr.trim().split('\n').pop()})`)
    t.comment(`${engine}: promote done in ${((Date.now() - t1) / 1000).toFixed(1)} s`)
    const newPrimary = await json('instance', 'show', rep)
    t.notOk(newPrimary.replica_of, 'the promoted instance is no replica')
    t.equal(newPrimary.replicas, source.id, 'the old primary is its replica')
    t.equal((await json('instance', 'show', src)).replica_of, replica.id, 'the old primary shows replica_of')
    t.equal(write(engine, R, 4).code, 0, 'row 4 written on the new primary')
    t.ok(await until(() => rows(engine, S).join() === '1,2,3,4'), 'row 4 reaches the old primary')
    t.ok(await until(() => served(engine, writerHost, [S, R]) === replica.ip), 'the writer endpoint follows the promote')
    t.ok(await until(() => served(engine, readerHost, [S, R]) === source.ip), 'the reader endpoint reaches the old primary, now a replica')
    const refusedOld = write(engine, S, 98)
    t.not(refusedOld.code === 0 && !/READONLY|read-only/.test(refusedOld.out + refusedOld.err), true, 'the old primary refuses writes')

    const detached = await cli('instance', 'detach', src, '--wait', '--timeout', '120')
    t.equal(detached.code, 0, `detach --wait (${detached.stderr.trim().split('\n').pop()})`)
    t.notOk((await json('instance', 'show', src)).replica_of, 'detached: no replica_of')
    t.notOk((await json('instance', 'show', rep)).replicas, 'the new primary has no replicas left')
    t.ok(await untilShown(async () => (await json('instance', 'show', src)).writer_endpoint === undefined), 'the detached instance leaves the set')
    t.equal((await json('instance', 'show', rep)).writer_endpoint, set.writer_endpoint, 'the primary keeps the endpoint')
    t.equal(write(engine, S, 5).code, 0, 'the detached instance takes writes')
    await sleep(500)
    t.notOk(rows(engine, R).includes(5), 'and they stay there')

    const gone = await cli('instance', 'delete', rep, src, '--wait', '--timeout', '120')
    t.equal(gone.code, 0, 'both deleted')
  }

  // Every set gone: the lab's HAProxy is stopped (endpoints/sets.ts).
  const haproxyRuns = () => spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout.includes(join(dataDir, 'endpoints'))
  t.ok(await untilShown(async () => !haproxyRuns()), "no set left: the lab's HAProxy is stopped")
  const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout
  t.notOk(
    ps.split('\n').some((l) => l.includes(join(dataDir, 'instances'))),
    'no engine or agent processes left',
  )
})
