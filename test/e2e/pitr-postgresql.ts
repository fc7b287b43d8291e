// Point-in-time restore of PostgreSQL through the real CLI against a real lab (issue 15, items 3-4):
// a writer commits a row every 10 ms and records when each commit was acknowledged; a restore to a
// time T in the middle has exactly the rows acknowledged before T; after kill -9 of the engine and
// the agent, a restore to the latest time misses at most 1 s of acknowledged rows; bad inputs are
// refused with one line and create nothing.
import t from 'tap'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { runCli, startServerProcess, tempDir } from '../helpers/lab.js'
import { until } from '../helpers/chaos.js'
import { rowWriter, rpoOf } from '../helpers/pitr.js'
import { guestPid, running } from '../helpers/guest.js'

/** Commits one row at a time, 10 ms apart, until stopped or the connection fails. */
const writer = (ip: string) =>
  rowWriter(async () => {
    const c = new pg.Client({ host: ip, port: 5432, user: 'u1', password: 'Pw-one-1', database: 'd1', connectionTimeoutMillis: 5000 })
    c.on('error', () => undefined)
    await c.connect()
    await c.query('CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY)')
    return { insert: (id) => c.query('INSERT INTO t VALUES ($1)', [id]), end: () => c.end() }
  })

async function ids(ip: string): Promise<number[]> {
  const c = new pg.Client({ host: ip, port: 5432, user: 'u1', password: 'Pw-one-1', database: 'd1' })
  await c.connect()
  try {
    return (await c.query<{ id: number }>('SELECT id FROM t ORDER BY id')).rows.map((r) => r.id)
  } finally {
    await c.end()
  }
}

t.test('point-in-time restore of PostgreSQL through the CLI', async (t) => {
  const dir = tempDir(t, 'tp')
  const dataDir = join(dir, 'lab')
  const server = await startServerProcess(t, dataDir)
  const cli = (...args: string[]) => runCli(args, server.env)
  const json = async (...args: string[]) => {
    const r = await cli(...args, '-f', 'json')
    if (r.code !== 0) throw new Error(`trove ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim().split('\n').pop()}`)
    return JSON.parse(r.stdout)
  }
  const create = (name: string, ...extra: string[]) => json('instance', 'create', name, '--flavor', 'm1.tiny', '--size', '1', ...extra, '--wait', '--timeout', '300')
  const names = async (): Promise<string[]> => (await json('instance', 'list')).map((i: { Name: string }) => i.Name).sort()

  const [src, redis] = await Promise.all([create('src', '--datastore', 'postgresql', '--databases', 'd1', '--users', 'u1:Pw-one-1'), create('kv', '--datastore', 'redis')])
  t.equal(src.status, 'ACTIVE', 'source ACTIVE')
  await until(async () => (await json('instance', 'show', 'src')).archive?.state === 'streaming', 60_000, 'the archive streaming')
  t.pass('the source archives its WAL (archive.state streaming)')
  // Retention 0 turns archiving off (the running agent is told), and a value above 0 on again.
  t.equal((await cli('instance', 'update', 'src', '--backup-retention', '0')).code, 0, 'retention 0')
  await until(async () => (await json('instance', 'show', 'src')).archive?.state === 'off', 60_000, 'the archive off')
  t.match(await json('instance', 'show', 'src'), { archive: { state: 'off', detail: 'backup retention is 0 days' } }, 'retention 0: archive off, and why')
  t.equal((await cli('instance', 'update', 'src', '--backup-retention', '1')).code, 0, 'retention 1')
  await until(async () => (await json('instance', 'show', 'src')).archive?.state === 'streaming', 60_000, 'the archive streaming again')
  t.pass('retention 1: streaming again')
  const kvShown = await json('instance', 'show', 'kv')
  t.match(kvShown, { archive: { state: 'off' }, earliest_restorable_time: null, latest_restorable_time: null }, 'redis: no archive, no restorable times')

  const w = writer(src.ip)
  await until(() => w.commits.length >= 100 || !!w.failed, 60_000, '100 rows written')
  const backup = await json('backup', 'create', 'base', '--instance', 'src', '--wait', '--timeout', '180')
  t.equal(backup.status, 'COMPLETED', 'a full backup taken while the writer runs')
  const afterBackup = w.commits.length
  await until(() => w.commits.length >= afterBackup + 200 || !!w.failed, 120_000, '200 more rows')
  t.notOk(w.failed, 'the writer ran without an error')

  // T: just after the acknowledgement of a row in the middle, before the next row was sent.
  const mid = w.commits.slice(afterBackup + 50).findIndex((c, i, a) => a[i + 1] && a[i + 1]!.sent - c.ack >= 4)
  const row = w.commits[afterBackup + 50 + mid]!
  const T = new Date(row.ack + 2).toISOString()
  await until(async () => Date.parse((await json('instance', 'show', 'src')).latest_restorable_time ?? 0) > Date.parse(T), 60_000, 'the window to pass T')
  const shown = await json('instance', 'show', 'src')
  t.ok(Date.parse(shown.earliest_restorable_time) <= Date.parse(T), `T ${T} is in the window ${shown.earliest_restorable_time} .. ${shown.latest_restorable_time}`)

  // Bad inputs: one line, exit 1, nothing created.
  const before = await names()
  const future = await cli('instance', 'create', 'nope1', '--flavor', 'm1.tiny', '--size', '1', '--restore-from', 'src', '--restore-time', new Date(Date.now() + 3_600_000).toISOString())
  t.match(future, { code: 1, stderr: /^Restore time \S+ is in the future; the restorable window is \S+ to \S+\. \(HTTP 400\)/ }, `future time refused: ${future.stderr.trim()}`)
  const early = await cli('instance', 'create', 'nope2', '--flavor', 'm1.tiny', '--size', '1', '--restore-from', 'src', '--restore-time', new Date(w.commits[0]!.sent - 1000).toISOString())
  t.match(early, { code: 1, stderr: /^Restore time \S+ is before the restorable window; the restorable window is \S+ to \S+\. \(HTTP 400\)/ }, `time before the window refused: ${early.stderr.trim()}`)
  const kv = await cli('instance', 'create', 'nope3', '--flavor', 'm1.tiny', '--size', '1', '--restore-from', 'kv', '--restore-latest')
  t.match(kv, { code: 1, stderr: /^Instance \S+ \(redis\) has no log archive: .*\(HTTP 400\)/ }, `redis source refused: ${kv.stderr.trim()}`)
  const both = await cli('instance', 'create', 'nope4', '--flavor', 'm1.tiny', '--size', '1', '--restore-from', 'src')
  t.match(both, { code: 2, stderr: /--restore-from needs one of --restore-time TIME or --restore-latest/ }, 'neither time nor latest: usage error')
  for (const r of [future, early, kv, both]) t.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr.trim()}`)
  t.same(await names(), before, 'nothing was created by the refused restores')

  const t0 = Date.now()
  const at = await create('at-t', '--restore-from', 'src', '--restore-time', T)
  const pitrMs = Date.now() - t0
  t.equal(at.status, 'ACTIVE', `restored to ${T} in ${pitrMs} ms`)
  const got = await ids(at.ip)
  const want = w.commits.filter((c) => c.ack <= row.ack).map((c) => c.id)
  t.equal(got.length, want.length, `exactly the ${want.length} rows acknowledged by T (none after, none missing)`)
  t.same(got, want, 'the same rows')
  t.equal((await cli('instance', 'delete', 'at-t', '--wait', '--timeout', '120')).code, 0, 'the restore to T deleted')

  // Fill a segment so the archive has complete segments after the backup (the gap check below).
  const c = new pg.Client({ host: src.ip, port: 5432, user: 'u1', password: 'Pw-one-1', database: 'd1' })
  await c.connect()
  await c.query("CREATE TABLE big AS SELECT repeat('x', 1000) AS v FROM generate_series(1, 20000)")
  await c.end()

  // kill -9 of the engine and the agent while the writer runs; then restore everything the archive has.
  const n = w.commits.length
  await until(() => w.commits.length >= n + 100, 60_000, '100 more rows')
  process.kill(running(guestPid(dataDir, src.id, 'data/postmaster.pid'), 'postgres'), 'SIGKILL')
  process.kill(running(guestPid(dataDir, src.id, 'agent.pid'), 'the agent'), 'SIGKILL')
  await w.done
  t.ok(w.failed, 'the writer saw the engine go')
  const acked = w.commits
  const latest = await create('latest', '--restore-from', src.id, '--restore-latest')
  t.equal(latest.status, 'ACTIVE', 'restored to the latest time after kill -9')
  const { missing, tailOnly, rpoMs } = rpoOf(acked, new Set(await ids(latest.ip)))
  t.ok(tailOnly, 'only a tail is missing, no hole')
  t.ok(rpoMs <= 1000, `RPO after kill -9 of engine and agent: ${missing.length} acknowledged rows missing, ${rpoMs} ms of commits (goal <= 1000 ms)`)
  t.comment(`pitr: restore to T ${pitrMs} ms; RPO ${rpoMs} ms (${missing.length} of ${acked.length} rows)`)

  // A gap: a complete segment deleted from the archive; a restore to the latest time is refused.
  const archive = join(dataDir, 'backups', 'archive', src.id)
  const complete = readdirSync(archive)
    .filter((f) => /^[0-9A-F]{24}$/.test(f))
    .sort()
  rmSync(join(archive, complete[complete.length - 1]!))
  const gap = await cli('instance', 'create', 'nope5', '--flavor', 'm1.tiny', '--size', '1', '--restore-from', src.id, '--restore-latest')
  t.match(
    gap,
    { code: 1, stderr: /^Cannot restore to the latest time: the archive has a gap \(segment \d+ is missing from the archive\); the restorable window is \S+ to \S+\. \(HTTP 400\)/ },
    `a gap refused: ${gap.stderr.trim()}`,
  )
  t.equal(gap.stderr.trim().split('\n').length, 1, 'one line')
  t.notOk((await names()).includes('nope5'), 'nothing created for the gap')
  void redis
})
