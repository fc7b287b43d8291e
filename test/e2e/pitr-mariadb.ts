// MariaDB point-in-time recovery through the guest agent, against the real engine (issue 15,
// items 3-4): binlogs streamed into the archive while a writer inserts a timestamped row every
// 10 ms; rotations sealed with the right sha256 and times; the archiver killed, the engine
// restarted: resumed with no hole; a deleted segment reported as a gap; a restore to a time in
// the middle gives exactly the rows stamped at or before it; 'latest' after kill -9 of the
// engine misses at most 1 s of acknowledged rows.
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chownSync, copyFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createConnection, type Connection } from 'mariadb'
import { startAgent, type AgentHandle } from '../../src/agent/index.js'
import { instancePaths } from '../../src/agent/preparation.js'
import { lookupUser } from '../../src/agent/engine-process.js'
import { MariadbService } from '../../src/agent/datastores/mariadb/service.js'
import { RESUME_PREFIX } from '../../src/agent/datastores/mariadb/archive.js'
import type { Archiver } from '../../src/agent/datastores/types.js'
import { readUnits } from '../../src/agent/datastores/mariadb/binlog-segments.js'
import { scanUnits } from '../../src/agent/datastores/mariadb/binlog-replay.js'
import { archiveDirOf, type ArchiveSegment, type ArchiveStart, type RestoreSpec } from '../../src/protocol/index.js'
import { startAgentHarness, type Instance, requireAgentHost } from '../helpers/agent-harness.js'

requireAgentHost(t)

const { heartbeats, waitFor, makeInstance, killEngines, freePort, root, alive } = await startAgentHarness(t)

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex')
/**
 * A server's binlog file as its dump thread sends it: the format description's
 * LOG_EVENT_BINLOG_IN_USE_F (bit 0 of its flags, byte 21 of the file) cleared. A file the
 * server never closed (it was killed) keeps the flag on disk; the checksum leaves it out.
 */
function asSent(path: string): Buffer {
  const b = readFileSync(path)
  if (b.length > 21) b[21]! &= ~1
  return b
}
const socketOf = (inst: Instance): string => join(inst.base, 'run', 'mysqld.sock')

function sql(inst: Instance, text: string): string {
  const r = spawnSync('mariadb', ['--no-defaults', `--socket=${socketOf(inst)}`, '-uroot', '-N', '-B', '-e', text], { encoding: 'utf8', maxBuffer: 1 << 28 })
  if (r.status !== 0) throw new Error(`mariadb: ${r.stderr}`)
  return r.stdout.trim()
}

const agents: AgentHandle[] = []
const instances: Instance[] = []
t.teardown(async () => {
  for (const a of agents) await a.close().catch(() => {})
  for (const i of instances) killEngines(i.base)
})

async function boot(inst: Instance, status = 'HEALTHY', log: (l: string) => void = () => {}): Promise<void> {
  instances.push(inst)
  agents.push(await startAgent(inst.config, { log }))
  await waitFor(status, () => (heartbeats.get(inst.id) ?? []).find((h) => h.status === status || h.status === 'FAILED'), 300_000)
}

// ---- the source, its archiver and a writer ----
const src = makeInstance('mariadb', '10.11', await freePort())
await boot(src)
sql(src, 'CREATE DATABASE pitr; CREATE TABLE pitr.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, ts DATETIME(6) NOT NULL)')
const agentLog: string[] = []
const user = await lookupUser('troveguest')
const svc = new MariadbService({ bootstrap: src.bootstrap, paths: instancePaths(src.base), user, log: (l) => agentLog.push(l) }, 'mariadb')
const store = join(root, `store-${src.id}`)
mkdirSync(store, { mode: 0o700 })
const archiveDir = archiveDirOf(store, src.id)
const archiver: Archiver = svc.archiver(archiveDir)
t.teardown(() => archiver.stop())
// What the archiver said, when something failed.
t.teardown(() => {
  if (!t.passing()) t.comment(`archiver: ${JSON.stringify(archiver.status())}\n${agentLog.join('\n')}`)
})

/** The archiver's mariadb-binlog (its fd 3 is this run's archive dir), if running. */
function dumpPid(): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')
      if (cmd.some((a) => a.endsWith('mariadb-binlog')) && cmd.includes('--stop-never') && readlinkSync(`/proc/${d}/fd/3`) === archiveDir && alive(Number(d))) return Number(d)
    } catch {
      /* gone */
    }
  }
  return undefined
}

interface Row {
  id: number
  sent: number
  acked: number
}
const rows: Row[] = []
let writing = true
let conn: Connection | undefined
const writer = (async () => {
  while (writing) {
    const sent = Date.now()
    try {
      if (!conn) {
        conn = await createConnection({ socketPath: socketOf(src), user: 'root', insertIdAsNumber: true })
        conn.on('error', () => {}) // the engine killed: the next insert reconnects
      }
      const r = (await conn.query('INSERT INTO pitr.t (ts) VALUES (NOW(6))')) as { insertId: number }
      rows.push({ id: r.insertId, sent, acked: Date.now() })
    } catch {
      await conn?.end().catch(() => {})
      conn = undefined
    }
    await new Promise((r) => setTimeout(r, 10)) // the writer's pace, not a wait for a condition
  }
})()
t.teardown(async () => {
  writing = false
  await writer
  await conn?.end().catch(() => {})
})

const sealed = (): ArchiveSegment[] =>
  readdirSync(archiveDir)
    .filter((f) => f.endsWith('.seg.json'))
    .map((f) => JSON.parse(readFileSync(join(archiveDir, f), 'utf8')) as ArchiveSegment)
    .sort((a, b) => a.seq - b.seq)

/** Rotates the server's binlog and waits until the archive has sealed the file it closed. */
async function rotate(): Promise<number> {
  const current = sql(src, 'SHOW MASTER STATUS').split('\t')[0]!
  sql(src, 'FLUSH BINARY LOGS')
  await waitFor(`${current} sealed`, () => sealed().some((s) => s.name === current), 120_000)
  return Number(current.split('.')[1])
}

/** Every sealed segment is byte for byte the server's file, with consecutive seqs. */
function checkSealed(t: Test, what: string): void {
  const segs = sealed()
  for (const [i, s] of segs.entries()) {
    if (i > 0 && s.seq !== segs[i - 1]!.seq + 1) t.fail(`${what}: hole before ${s.name}`)
    const server = join(src.base, 'data', s.name)
    if (createHash('sha256').update(asSent(server)).digest('hex') !== s.sha256 || statSync(server).size !== s.bytes) {
      const diff = spawnSync('cmp', ['-l', server, join(archiveDir, s.name)], { encoding: 'utf8' })
      t.fail(`${what}: ${s.name} differs from the server's (${statSync(server).size} bytes there, ${s.bytes} here; ${(diff.stdout + diff.stderr).split('\n').slice(0, 5).join('; ')})`)
    }
    if (sha(join(archiveDir, s.name)) !== s.sha256) t.fail(`${what}: ${s.name} differs from its sidecar`)
  }
  t.pass(`${what}: ${segs.length} sealed segment(s), consecutive, each identical to the server's file`)
}

let base: { id: string; location: string; checksum: string; start: ArchiveStart }

t.test('the archiver streams, seals rotations and starts where a backup can replay from', async (t) => {
  await archiver.start()
  await waitFor('streaming', () => archiver.status().state === 'streaming' || undefined, 20_000)
  await waitFor('rows', () => rows.length > 50 || undefined)
  const stored = await svc.backup({ id: 'base', name: 'base', description: null, instance_id: src.id, backup_type: 'full', parent: null, datastore: 'mariadb', datastore_version: '10.11' }, store)
  const meta = JSON.parse(readFileSync(join(store, 'base.meta.json'), 'utf8')) as { archive: ArchiveStart; gtid: string }
  t.match(meta.archive, { seq: Number, position: /^mysql-bin\.\d{6}:\d+$/, time: /^\d{4}-\d\d-\d\dT/ }, 'the backup records where it starts in the binlog')
  t.match(meta.gtid, /^\d+-\d+-\d+/, 'and its GTID position')
  base = { id: 'base', location: stored.location, checksum: stored.checksum, start: meta.archive }
  const a = await rotate()
  const b = await rotate()
  t.equal(b, a + 1, 'two rotations')
  const segs = sealed()
  const last = segs[segs.length - 1]!
  t.ok(last.first_time && last.last_time && last.first_time <= last.last_time, 'a sealed segment has its first and last commit times')
  checkSealed(t, 'after two rotations')
  const cnf = statSync(join(src.base, 'run', 'archiver.cnf'))
  t.equal(cnf.mode & 0o777, 0o600, 'the archiver account option file is 0600')
  t.equal(cnf.uid, user.uid, 'and the run user owns it')
  const pid = dumpPid()!
  t.ok(pid, 'mariadb-binlog runs')
  t.equal(statSync(`/proc/${pid}`).uid, user.uid, 'as the run user')
  t.notMatch(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /password/i, 'with no password on its command line')
  const grants = sql(src, "SHOW GRANTS FOR 'trove_archiver'@'localhost'")
  t.match(grants, /^GRANT REPLICATION SLAVE, BINLOG MONITOR ON \*\.\* TO `trove_archiver`@`localhost` IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'$/, 'its account has only replication privileges')
  const text = spawnSync(
    'mariadb-binlog',
    [
      '--no-defaults',
      ...readdirSync(archiveDir)
        .filter((f) => /^mysql-bin\.\d+$/.test(f))
        .map((f) => join(archiveDir, f)),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 30 },
  ).stdout
  t.notMatch(text, /trove_archiver/, 'nothing of the account reaches the binlog')
  await waitFor('the latest time', () => {
    const st = archiver.status()
    return (st.latest_time && Date.parse(st.latest_time) >= Date.parse(last.last_time!)) || undefined
  })
  t.pass('status has the latest commit time')
})

t.test('kill -9 of the archiver, of its agent, then a restart of the engine: it resumes with no hole', async (t) => {
  const pid = dumpPid()!
  const openName = readdirSync(archiveDir)
    .filter((f) => /^mysql-bin\.\d+$/.test(f))
    .sort()
    .pop()!
  const before = statSync(join(archiveDir, openName)).size
  process.kill(pid, 'SIGKILL')
  await waitFor('a new mariadb-binlog', () => {
    const p = dumpPid()
    return p && p !== pid ? p : undefined
  })
  // The new one rewrites the open file from its start, beside the archive's copy, which never shrinks meanwhile.
  let smallest = before
  await waitFor('the resumed copy in place', () => {
    smallest = Math.min(smallest, statSync(join(archiveDir, openName)).size)
    return agentLog.some((l) => l.includes(`${RESUME_PREFIX}${openName} caught up`)) || undefined
  })
  t.ok(
    agentLog.some((l) => l.includes(`into ${RESUME_PREFIX}${openName} until it is as long as the archive's copy`)),
    `resumed into ${RESUME_PREFIX}${openName}`,
  )
  t.ok(smallest >= before, `the archive's ${openName} never shrank while it was rewritten (${smallest} >= ${before} bytes)`)
  t.notOk(
    readdirSync(archiveDir).some((f) => f.startsWith(RESUME_PREFIX)),
    'no resumed file left beside the archive',
  )
  const n = rows.length
  await waitFor('rows', () => rows.length > n + 20 || undefined)
  await rotate()
  checkSealed(t, 'after kill -9 of the archiver')

  // An agent killed: its archiver's mariadb-binlog goes on alone; the next archiver stops it first.
  await archiver.stop()
  const other = spawn(process.execPath, ['--import', 'tsx', 'test/agent/fixtures/run-mariadb-archiver.ts', src.config, archiveDir], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => void other.kill('SIGKILL'))
  await new Promise<void>((resolve, reject) => {
    other.stdout!.on('data', (b: Buffer) => b.toString().includes('streaming') && resolve())
    other.once('exit', (c) => reject(new Error(`the archiver process exited (${c})`)))
  })
  const stray = dumpPid()!
  other.kill('SIGKILL')
  await waitFor('the archiver process gone', () => other.exitCode !== null || other.signalCode !== null || undefined)
  t.ok(alive(stray), "the killed agent's mariadb-binlog runs on")
  await archiver.start()
  await waitFor('the stray stopped and a new one streaming', () => (!alive(stray) && dumpPid() && archiver.status().state === 'streaming') || undefined)
  t.ok(
    agentLog.some((l) => l.includes(`killed mariadb-binlog ${stray} left by a previous agent`)),
    'the new archiver killed the stray first',
  )
  await rotate()
  checkSealed(t, 'after an agent was killed')

  const enginePid = Number(readFileSync(join(src.base, 'run', 'mysqld.pid'), 'utf8'))
  const hb = heartbeats.get(src.id)!.length
  process.kill(enginePid, 'SIGKILL')
  await waitFor(
    'the engine back',
    () =>
      heartbeats
        .get(src.id)!
        .slice(hb)
        .find((h) => h.status === 'HEALTHY' && Number(readFileSync(join(src.base, 'run', 'mysqld.pid'), 'utf8')) !== enginePid),
    300_000,
  )
  const m = rows.length
  await waitFor('rows after the engine restart', () => rows.length > m + 20 || undefined, 120_000)
  await waitFor('streaming again', () => archiver.status().state === 'streaming' || undefined, 120_000)
  await rotate()
  checkSealed(t, 'after the engine was killed and restarted')
  t.ok(
    agentLog.some((l) => /mariadb-binlog stopped/.test(l)),
    'the archiver saw its stream end and restarted it',
  )
})

t.test('a segment missing from the archive is a gap in the status', async (t) => {
  const victim = sealed()[1]!
  const aside = join(root, `aside-${victim.name}`)
  renameSync(join(archiveDir, victim.name), aside)
  await waitFor('gap', () => archiver.status().state === 'gap' || undefined)
  t.match(archiver.status(), { state: 'gap', detail: new RegExp(`missing from the archive: ${victim.name.replace('.', '\\.')}`) }, 'the gap names the file')
  renameSync(aside, join(archiveDir, victim.name))
  await waitFor('no gap', () => archiver.status().state !== 'gap' || undefined)
  t.pass('back in place: no gap')
})

/** A new instance restored from the base backup plus the archive. */
async function restore(target: { time: string } | 'latest'): Promise<{ inst: Instance; ids: Set<number>; log: string[] }> {
  const spec: RestoreSpec = { backupId: base.id, chain: [{ id: base.id, location: base.location, checksum: base.checksum, type: 'full' }], pitr: { archiveDir, target, start: base.start } }
  const inst = makeInstance('mariadb', '10.11', await freePort(), { prepare: { databases: [], users: [], restore: spec } })
  const log: string[] = []
  await boot(inst, 'HEALTHY', (l) => log.push(l))
  const ids = new Set(sql(inst, 'SELECT id FROM pitr.t').split('\n').filter(Boolean).map(Number))
  return { inst, ids, log }
}

/** The durability settings the replay relaxes (pitr.ts), as the engine has them now. */
const durability = (inst: Instance): string => sql(inst, 'SELECT @@global.sync_binlog, @@global.innodb_flush_log_at_trx_commit')

t.test('restore to a time in the middle: exactly the rows stamped at or before it', async (t) => {
  const startMs = Date.parse(base.start.time)
  // A whole second (the binlog's resolution) well after the backup, with rows on both sides.
  const stamps = sql(src, `SELECT id, UNIX_TIMESTAMP(ts) FROM pitr.t WHERE ts > FROM_UNIXTIME(${Math.ceil(startMs / 1000) + 1})`)
    .split('\n')
    .map((l) => l.split('\t').map(Number) as [number, number])
  const T = Math.floor(stamps[Math.floor(stamps.length / 2)]![1])
  const all = sql(src, 'SELECT id, UNIX_TIMESTAMP(ts) FROM pitr.t')
    .split('\n')
    .map((l) => l.split('\t').map(Number) as [number, number])
  const expected = new Set(all.filter(([, ts]) => Math.floor(ts) <= T).map(([id]) => id))
  t.ok(
    all.some(([, ts]) => Math.floor(ts) > T),
    'rows exist after T',
  )
  const { ids, inst, log } = await restore({ time: new Date(T * 1000).toISOString() })
  // The replay ran with sync_binlog=0 and innodb_flush_log_at_trx_commit=0; the restored instance
  // is back on what its configuration says (the source's: the same my.cnf), before it is healthy.
  t.match(
    log.join('\n'),
    /sync_binlog=0, innodb_flush_log_at_trx_commit=0, max_allowed_packet=1073741824 during the replay, back to sync_binlog=1, innodb_flush_log_at_trx_commit=1, max_allowed_packet=\d+/,
    'the replay relaxed durability',
  )
  t.equal(durability(inst), durability(src), 'the restored instance is back on the configured durability')
  t.equal(durability(inst), '1\t1', 'sync_binlog=1, innodb_flush_log_at_trx_commit=1')
  t.equal(sql(inst, 'SELECT @@global.max_allowed_packet'), sql(src, 'SELECT @@global.max_allowed_packet'), 'and on the configured max_allowed_packet')
  const missing = [...expected].filter((id) => !ids.has(id))
  const extra = [...ids].filter((id) => !expected.has(id))
  t.same({ missing, extra }, { missing: [], extra: [] }, `restored to ${new Date(T * 1000).toISOString()}: ${ids.size} rows, exactly those stamped at or before it`)
  // The client's view agrees: acknowledged by T's start, present; sent after its end, absent.
  t.notOk(
    rows.some((r) => r.acked < T * 1000 && !ids.has(r.id)),
    'every row acknowledged before T is there',
  )
  t.notOk(
    rows.some((r) => r.sent >= (T + 1) * 1000 && ids.has(r.id)),
    'no row sent after T is',
  )
})

/** What the mixed workload left: both tables row for row, the InnoDB table's DDL, the GTID position of domain 1. */
const mixedState = (inst: Instance) => ({
  inno: sql(inst, 'SELECT * FROM mixed.inno ORDER BY id'),
  plain: sql(inst, 'SELECT * FROM mixed.plain ORDER BY id'),
  columns: sql(inst, 'SHOW CREATE TABLE mixed.inno'),
  domain1: sql(inst, 'SELECT @@gtid_binlog_pos')
    .split(',')
    .find((g) => g.startsWith('1-')),
})

t.test('a mixed workload replays exactly: batches for row transactions, mariadb-binlog for the rest', async (t) => {
  // What the batched replay must not take into a batch (DDL, a non-transactional table, a transaction
  // touching both, a second GTID domain, a transaction larger than a batch's bytes), between runs of
  // one-row transactions long enough for several batches, across a rotation; strings that look like
  // mariadb-binlog's own lines.
  sql(
    src,
    [
      'CREATE DATABASE mixed',
      'CREATE TABLE mixed.inno (id INT PRIMARY KEY, v TEXT, n INT) ENGINE=InnoDB',
      'CREATE TABLE mixed.plain (id INT PRIMARY KEY, v TEXT) ENGINE=MyISAM',
      "INSERT INTO mixed.inno SELECT seq, CONCAT('row ', seq), seq FROM mixed.seq_1_to_500",
      'BEGIN; UPDATE mixed.inno SET n = n + 1 WHERE id % 3 = 0; DELETE FROM mixed.inno WHERE id % 7 = 0; COMMIT',
      "BEGIN; INSERT INTO mixed.inno VALUES (100001, 'rolled back', 0); ROLLBACK",
      "INSERT INTO mixed.plain VALUES (1, 'not transactional')",
      "BEGIN; INSERT INTO mixed.inno VALUES (100002, 'with the MyISAM row', 0); INSERT INTO mixed.plain VALUES (2, 'in a transaction'); COMMIT",
      ...Array.from({ length: 250 }, (_, i) => `INSERT INTO mixed.inno VALUES (${200_000 + i}, 'one ${i}', ${i})`),
    ].join(';\n'),
  )
  await rotate()
  sql(
    src,
    [
      "INSERT INTO mixed.inno VALUES (300000, 'a\\nCOMMIT/*!*/;\\nSTART TRANSACTION\\n# at 4\\n\\'', 1)",
      'ALTER TABLE mixed.inno ADD COLUMN w INT DEFAULT 7',
      'SET SESSION gtid_domain_id = 1',
      "INSERT INTO mixed.inno (id, v, n) VALUES (300001, 'domain 1', 1)",
      "INSERT INTO mixed.inno (id, v, n) VALUES (300002, 'domain 1 again', 2)",
      'SET SESSION gtid_domain_id = 0',
      "INSERT INTO mixed.inno (id, v, n) SELECT 400000 + seq, REPEAT('x', 1000), seq FROM mixed.seq_1_to_6000",
      ...Array.from({ length: 250 }, (_, i) => `UPDATE mixed.inno SET n = n + 1 WHERE id = ${200_000 + i}`),
    ].join(';\n'),
  )
  const want = mixedState(src)
  t.ok(want.domain1, `the source has a GTID in domain 1 (${want.domain1})`)
  const [file, pos] = sql(src, 'SHOW MASTER STATUS').split('\t')
  await waitFor('the archive holds the workload', () => (archiver.status().state === 'streaming' && statSync(join(archiveDir, file!)).size >= Number(pos)) || undefined)
  const { inst, log } = await restore('latest')
  const got = mixedState(inst)
  t.equal(got.inno.split('\n').length, want.inno.split('\n').length, 'as many InnoDB rows as the source')
  t.ok(got.inno === want.inno, 'the InnoDB table is the same, row for row')
  t.equal(got.plain, want.plain, 'the MyISAM table is the same')
  t.equal(got.columns, want.columns, 'the DDL was replayed')
  t.equal(got.domain1, want.domain1, "domain 1's GTID position is the source's")
  // The restore's stop scan reads event headers itself: the same units as mariadb-binlog's text gives, on every file here.
  for (const name of readdirSync(archiveDir).filter((f) => /^mysql-bin\.\d+$/.test(f))) {
    // A copy: the open file grows while it is read.
    const path = join(root, `units-${name}`)
    copyFileSync(join(archiveDir, name), path)
    chownSync(path, user.uid, user.gid) // mariadb-binlog runs as the run user
    const theirs = await readUnits({ binary: 'mariadb-binlog', user }, path)
    const ours = await scanUnits(path)
    t.same(ours.units, theirs.units, `${name}: the same ${theirs.units.length} units from the headers as from mariadb-binlog's text`)
  }
  const replayed = log.join('\n').match(/replay \d+ ms \((\d+) transaction\(s\) in (\d+) batch\(es\), (\d+) range\(s\) through mariadb-binlog/)
  t.ok(replayed, 'the replay was planned and batched')
  const [transactions, batches, ranges] = (replayed ?? []).slice(1).map(Number)
  t.ok(transactions! > 500 && batches! >= 4 && ranges! >= 3, `${transactions} transactions in ${batches} batches, ${ranges} ranges through mariadb-binlog`)
})

t.test("'latest' after kill -9 of the engine misses at most 1 s of acknowledged rows", async (t) => {
  const n = rows.length
  await waitFor('rows', () => rows.length > n + 100 || undefined)
  const enginePid = Number(readFileSync(join(src.base, 'run', 'mysqld.pid'), 'utf8'))
  const dump = dumpPid()
  // Engine and archiver die together: nothing reaches the archive afterwards.
  process.kill(enginePid, 'SIGKILL')
  if (dump) process.kill(dump, 'SIGKILL')
  const stopped = archiver.stop()
  writing = false
  await writer
  await stopped
  await agents[0]!.close()
  const acked = [...rows]
  const lastAck = acked[acked.length - 1]!
  const { ids } = await restore('latest')
  const missing = acked.filter((r) => !ids.has(r.id))
  const kept = acked.filter((r) => ids.has(r.id))
  const rpoMs = missing.length ? lastAck.acked - kept[kept.length - 1]!.acked : 0
  t.comment(`RPO: ${missing.length} acknowledged row(s) missing, ${rpoMs} ms of writes`)
  t.ok(rpoMs <= 1000, `at most 1 s of acknowledged rows missing (${rpoMs} ms)`)
  t.ok(
    missing.every((r) => r.acked >= kept[kept.length - 1]!.acked),
    'only the newest rows can be missing, never one in the middle',
  )
})

t.test('a corrupted segment fails the restore clearly', async (t) => {
  const seg = sealed()[sealed().length - 1]!
  const path = join(archiveDir, seg.name)
  const buf = readFileSync(path)
  buf[buf.length - 10]! ^= 0xff
  writeFileSync(path, buf)
  const spec: RestoreSpec = { backupId: base.id, chain: [{ id: base.id, location: base.location, checksum: base.checksum, type: 'full' }], pitr: { archiveDir, target: 'latest', start: base.start } }
  const inst = makeInstance('mariadb', '10.11', await freePort(), { prepare: { databases: [], users: [], restore: spec } })
  await boot(inst, 'FAILED')
  const hb = heartbeats.get(inst.id)!.find((h) => h.status === 'FAILED')
  t.ok(hb, 'the restore failed')
  t.match(JSON.stringify(hb), new RegExp(`archive segment ${seg.name.replace('.', '\\.')} is corrupt`), 'naming the segment and its checksum')
})

t.test('binlogs purged on the server before they were archived: a gap naming them', async (t) => {
  // The engine again (the 'latest' test killed it and its agent), with the archiver still off.
  const hb = heartbeats.get(src.id)!.length
  agents.push(await startAgent(src.config, { log: () => {} }))
  await waitFor(
    'the engine back',
    () =>
      heartbeats
        .get(src.id)!
        .slice(hb)
        .find((h) => h.status === 'HEALTHY'),
    300_000,
  )
  const open = readdirSync(archiveDir)
    .filter((f) => /^mysql-bin\.\d+$/.test(f))
    .sort()
    .pop()!
  sql(src, 'FLUSH BINARY LOGS; FLUSH BINARY LOGS')
  const current = sql(src, 'SHOW MASTER STATUS').split('\t')[0]!
  sql(src, `PURGE BINARY LOGS TO '${current}'`)
  const again = svc.archiver(archiveDir)
  t.teardown(() => again.stop())
  await again.start()
  await waitFor('gap', () => again.status().state === 'gap' || undefined)
  const st = again.status()
  t.match(st.detail, new RegExp(`^missing from the archive: ${open.replace('.', '\\.')}(, mysql-bin\\.\\d+)* \\(purged on the server before it was archived\\)$`), `the gap names ${open} and why`)
  t.ok(readdirSync(archiveDir).includes(`${open}.partial`), 'the file cut short is set aside, never sealed as if whole')
  await waitFor(`${current} streamed`, () => readdirSync(archiveDir).includes(current) || undefined)
  t.pass('streaming goes on from the oldest file the server still has')
})
