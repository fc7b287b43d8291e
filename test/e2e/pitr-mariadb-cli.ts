// Point-in-time restore of MariaDB through the real CLI against a real lab (issue 15, items 3-4; the
// archiver and the replay themselves are test/e2e/pitr-mariadb.ts): a writer commits a row every
// 10 ms and records when each was sent and acknowledged; a restore to a time T has every row of
// T's second and before, none sent after it (MariaDB's binlog stamps whole seconds:
// docs/pitr-mariadb.md), with no hole; after kill -9 of the engine and the agent, a restore to the
// latest time misses at most 1 s of acknowledged rows.
import t from 'tap'
import { join } from 'node:path'
import mariadb from 'mariadb'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { until } from '../helpers/chaos.js'
import { rowWriter, rpoOf } from '../helpers/pitr.js'
import { guestPid, running } from '../helpers/guest.js'

const connect = (host: string) => mariadb.createConnection({ host, port: 3306, user: 'u1', password: 'Pw-one-1', database: 'd1', connectTimeout: 5000 })

/** Commits one row at a time, 10 ms apart, until stopped or the connection fails. */
const writer = (ip: string) =>
  rowWriter(async () => {
    const c = await connect(ip)
    c.on('error', () => undefined)
    await c.query('CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY)')
    return { insert: (id) => c.query('INSERT INTO t VALUES (?)', [id]), end: () => c.end() }
  })

async function ids(ip: string): Promise<number[]> {
  const c = await connect(ip)
  try {
    return ((await c.query('SELECT id FROM t ORDER BY id')) as Array<{ id: number }>).map((r) => r.id)
  } finally {
    await c.end()
  }
}

t.test('point-in-time restore of MariaDB through the CLI', async (t) => {
  const dir = tempDir(t, 'tq')
  const dataDir = join(dir, 'lab')
  const server = await startServerProcess(t, dataDir)
  const cli = (...args: string[]) => runCli(args, server.env)
  const json = async (...args: string[]) => {
    const r = await cli(...args, '-f', 'json')
    if (r.code !== 0) throw new Error(`trove ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim().split('\n').pop()}`)
    return JSON.parse(r.stdout)
  }
  const create = (name: string, ...extra: string[]) => json('instance', 'create', name, '--flavor', 'm1.tiny', '--size', '1', ...extra, '--wait', '--timeout', '300')

  const src = await create('src', '--datastore', 'mariadb', '--databases', 'd1', '--users', 'u1:Pw-one-1')
  t.equal(src.status, 'ACTIVE', 'source ACTIVE')
  await until(async () => (await json('instance', 'show', 'src')).archive?.state === 'streaming', 60_000, 'the archive streaming')
  t.pass('the source archives its binlog (archive.state streaming)')

  const w = writer(src.ip)
  await until(() => w.commits.length >= 100 || !!w.failed, 60_000, '100 rows written')
  const backup = await json('backup', 'create', 'base', '--instance', 'src', '--wait', '--timeout', '180')
  t.equal(backup.status, 'COMPLETED', 'a full backup taken while the writer runs')
  const afterBackup = w.commits.length
  // Past the next two second boundaries after the backup: T is in a second the backup does not cover.
  const from = Date.now()
  await until(() => w.commits.some((c) => c.sent >= Math.floor(from / 1000) * 1000 + 3000) || !!w.failed, 60_000, 'rows two seconds on')
  await until(() => w.commits.length >= afterBackup + 100 || !!w.failed, 120_000, '100 more rows')
  t.notOk(w.failed, 'the writer ran without an error')

  // T: the middle of a whole second after the backup; a restore to T replays through that second.
  const T = Math.floor(from / 1000) * 1000 + 1500
  const secondEnd = Math.floor(T / 1000) * 1000 + 1000
  await until(async () => Date.parse((await json('instance', 'show', 'src')).latest_restorable_time ?? 0) >= secondEnd, 60_000, 'the window to pass T')
  const shown = await json('instance', 'show', 'src')
  t.ok(Date.parse(shown.earliest_restorable_time) <= T, `T ${new Date(T).toISOString()} is in the window ${shown.earliest_restorable_time} .. ${shown.latest_restorable_time}`)

  const at = await create('at-t', '--restore-from', 'src', '--restore-time', new Date(T).toISOString())
  t.equal(at.status, 'ACTIVE', `restored to ${new Date(T).toISOString()}`)
  const got = await ids(at.ip)
  const must = w.commits.filter((c) => c.ack < secondEnd).map((c) => c.id)
  const mustNot = new Set(w.commits.filter((c) => c.sent >= secondEnd).map((c) => c.id))
  t.same(
    got,
    got.map((_, i) => i + 1),
    'the restored rows have no hole',
  )
  t.ok(
    must.every((id) => got.includes(id)),
    `every row acknowledged within T's second or before is there (${must.length} rows)`,
  )
  t.notOk(
    got.some((id) => mustNot.has(id)),
    `no row sent after T's second is there (${got.length} restored)`,
  )
  t.equal((await cli('instance', 'delete', 'at-t', '--wait', '--timeout', '120')).code, 0, 'the restore to T deleted')

  // kill -9 of the engine and the agent while the writer runs; then restore everything the archive has.
  const n = w.commits.length
  await until(() => w.commits.length >= n + 100, 60_000, '100 more rows')
  process.kill(running(guestPid(dataDir, src.id, 'run/mysqld.pid'), 'mysqld'), 'SIGKILL')
  process.kill(running(guestPid(dataDir, src.id, 'agent.pid'), 'the agent'), 'SIGKILL')
  await w.done
  t.ok(w.failed, 'the writer saw the engine go')
  const acked = w.commits
  const latest = await create('latest', '--restore-from', src.id, '--restore-latest')
  t.equal(latest.status, 'ACTIVE', 'restored to the latest time after kill -9')
  const { missing, tailOnly, rpoMs } = rpoOf(acked, new Set(await ids(latest.ip)))
  t.ok(tailOnly, 'only a tail is missing, no hole')
  t.ok(rpoMs <= 1000, `RPO after kill -9 of engine and agent: ${missing.length} acknowledged rows missing, ${rpoMs} ms of commits (goal <= 1000 ms)`)
  t.comment(`pitr mariadb: RPO ${rpoMs} ms (${missing.length} of ${acked.length} rows)`)
})
