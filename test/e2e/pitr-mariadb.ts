// MariaDB point-in-time recovery through the guest agent, against the real engine (issue 15,
// items 3-4): binlogs copied into the archive while a writer inserts a timestamped row every
// 10 ms; rotations sealed with the right sha256 and times; the archiver killed, the engine
// restarted: resumed with no hole; a copy that is no prefix of the server's file fails; a deleted
// segment reported as a gap; a restore to a time in the middle gives exactly the rows stamped at
// or before it; 'latest' after kill -9 of the engine misses at most 1 s of acknowledged rows.
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chownSync,
  closeSync,
  constants as fsc,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { createConnection, type Connection } from 'mariadb'
import { startAgent, type AgentHandle } from '../../src/agent/index.js'
import { instancePaths } from '../../src/agent/preparation.js'
import { lookupUser } from '../../src/agent/engine-process.js'
import { MariadbService } from '../../src/agent/datastores/mariadb/service.js'
import type { Archiver } from '../../src/agent/datastores/types.js'
import { readUnits } from '../../src/agent/datastores/mariadb/binlog-segments.js'
import { planReplay, scanUnits } from '../../src/agent/datastores/mariadb/binlog-replay.js'
import { archiveDirOf, type ArchiveSegment, type ArchiveStart, type RestoreSpec } from '../../src/protocol/index.js'
import { startAgentHarness, type Instance, requireAgentHost } from '../helpers/agent-harness.js'
import { TS_LOADER } from '../helpers/ts-loader.js'

requireAgentHost(t)

const { heartbeats, waitFor, endpoint, makeInstance, killEngines, root, alive } = await startAgentHarness(t)

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex')
/**
 * A server's binlog file as the archive holds it: the format description's
 * LOG_EVENT_BINLOG_IN_USE_F (bit 0 of its flags, byte 21 of the file) cleared. The server
 * clears it when it closes a file; one it never closed (it was killed) keeps it on disk, and
 * an open one has it; the checksum leaves it out.
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
const src = makeInstance('mariadb', '10.11', await endpoint('mariadb'))
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

/** A mariadb-binlog --stop-never whose fd 3 is this run's archive dir (an older agent's archiver ran one), if running. */
function streamPid(): number | undefined {
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

/** The archive's binlog files, oldest first. */
const archived = (): string[] =>
  readdirSync(archiveDir)
    .filter((f) => /^mysql-bin\.\d+$/.test(f))
    .sort()
const sizeOf = (name: string): number => statSync(join(archiveDir, name)).size

/**
 * The archive's open copy (its newest file) is a byte prefix of the server's file of that name,
 * the in-use flag aside, and is the run user's, 0600. Read before the server's: that one only grows.
 */
function checkOpen(t: Test, what: string): void {
  const name = archived().pop()!
  const path = join(archiveDir, name)
  const mine = asSent(path)
  const theirs = asSent(join(src.base, 'data', name))
  const st = statSync(path)
  t.ok(
    mine.length > 0 && mine.length <= theirs.length && mine.equals(theirs.subarray(0, mine.length)),
    `${what}: the open ${name} (${mine.length} bytes) is a prefix of the server's (${theirs.length} bytes)`,
  )
  t.same({ mode: st.mode & 0o777, uid: st.uid }, { mode: 0o600, uid: user.uid }, `${what}: the copy is the run user's, 0600`)
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

t.test('the archiver copies the binlog, seals rotations and starts where a backup can replay from', async (t) => {
  // What an older agent's archiver (a mariadb-binlog stream) left: its account, option file, pid file and
  // tool still running on the archive dir, a resumed file beside the archive's.
  sql(src, "SET STATEMENT sql_log_bin=0 FOR CREATE USER 'trove_archiver'@'localhost' IDENTIFIED BY 'old-Pw-1'")
  writeFileSync(join(src.base, 'run', 'archiver.cnf'), '[client]\nuser=trove_archiver\n', { mode: 0o600 })
  mkdirSync(join(archiveDir, '..'), { recursive: true, mode: 0o711 })
  mkdirSync(archiveDir, { mode: 0o700 })
  chownSync(archiveDir, user.uid, user.gid)
  writeFileSync(join(archiveDir, '.resume-mysql-bin.000001'), 'left')
  const dirFd = openSync(archiveDir, fsc.O_RDONLY | fsc.O_DIRECTORY)
  const old = spawn('/bin/sh', ['-c', 'while :; do sleep 1; done', 'mariadb-binlog', '--stop-never'], { uid: user.uid, gid: user.gid, stdio: ['ignore', 'ignore', 'ignore', dirFd] })
  closeSync(dirFd)
  t.teardown(() => void old.kill('SIGKILL'))
  writeFileSync(join(src.base, 'run', 'archiver.pid'), `${old.pid}\n`)
  await waitFor('the old stream running', () => streamPid() === old.pid || undefined)

  await archiver.start()
  await waitFor('streaming', () => archiver.status().state === 'streaming' || undefined, 20_000)
  t.notOk(alive(old.pid!), "the older agent's mariadb-binlog was killed")
  t.ok(
    agentLog.some((l) => l.includes(`killed mariadb-binlog ${old.pid} left by a previous agent`)),
    'and that is logged',
  )
  t.equal(streamPid(), undefined, 'no mariadb-binlog --stop-never runs for this archive')
  t.equal(sql(src, "SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'trove_archiver'"), '0', 'no trove_archiver account exists')
  t.notOk(existsSync(join(src.base, 'run', 'archiver.cnf')), 'its option file is gone')
  t.notOk(existsSync(join(src.base, 'run', 'archiver.pid')), 'and the pid file')
  t.notOk(
    readdirSync(archiveDir).some((f) => f.startsWith('.resume-')),
    'no resumed file left beside the archive',
  )
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
  const n = rows.length
  await waitFor('rows', () => rows.length > n + 20 || undefined)
  checkOpen(t, 'while the writer writes')
  const text = spawnSync('mariadb-binlog', ['--no-defaults', ...archived().map((f) => join(archiveDir, f))], { encoding: 'utf8', maxBuffer: 1 << 30 }).stdout
  t.notMatch(text, /trove_archiver/, 'nothing of the old account (made, then dropped) reaches the binlog')
  await waitFor('the latest time', () => {
    const st = archiver.status()
    return (st.latest_time && Date.parse(st.latest_time) >= Date.parse(last.last_time!)) || undefined
  })
  t.pass('status has the latest commit time')
})

t.test("kill -9 of the archiver, a copy that is no prefix of the server's, a restart of the engine: it resumes with no hole", async (t) => {
  // An archiver in a process of its own (as in an agent), killed -9 while the writer writes.
  await archiver.stop()
  const other = spawn(process.execPath, ['--import', TS_LOADER, 'test/agent/fixtures/run-mariadb-archiver.ts', src.config, archiveDir], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => void other.kill('SIGKILL'))
  await new Promise<void>((resolve, reject) => {
    other.stdout!.on('data', (b: Buffer) => b.toString().includes('streaming') && resolve())
    other.once('exit', (c) => reject(new Error(`the archiver process exited (${c})`)))
  })
  const copying = archived().pop()!
  const from = sizeOf(copying)
  await waitFor('the other process copying', () => sizeOf(copying) > from || undefined)
  other.kill('SIGKILL')
  await waitFor('the archiver process gone', () => other.exitCode !== null || other.signalCode !== null || undefined)
  const openName = archived().pop()!
  const before = sizeOf(openName)
  await archiver.start()
  // It goes on from the copy's size: the copy never shrinks meanwhile.
  let smallest = before
  await waitFor('streaming again, the copy grown', () => {
    smallest = Math.min(smallest, sizeOf(openName))
    return (archiver.status().state === 'streaming' && (sizeOf(openName) > before || archived().pop() !== openName)) || undefined
  })
  t.ok(smallest >= before, `the archive's ${openName} never shrank (${smallest} >= ${before} bytes)`)
  checkOpen(t, 'after kill -9 of the archiver')
  const n = rows.length
  await waitFor('rows', () => rows.length > n + 20 || undefined)
  await rotate()
  checkSealed(t, 'after kill -9 of the archiver')

  // A copy that is no prefix of the server's file: nothing more is appended to it.
  await archiver.stop()
  const victim = archived().pop()!
  const path = join(archiveDir, victim)
  const size = sizeOf(victim)
  const at = size - 10
  const fd = openSync(path, 'r+')
  const byte = Buffer.alloc(1)
  readSync(fd, byte, 0, 1, at)
  writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, at)
  closeSync(fd)
  await archiver.start()
  await waitFor('failed', () => archiver.status().state === 'failed' || undefined)
  t.match(archiver.status().detail, new RegExp(`^the archive's ${victim.replace('.', '\\.')} is not a prefix of the server's`), `failed, naming ${victim}`)
  t.equal(sizeOf(victim), size, 'nothing was appended to it')
  await archiver.stop()
  const back = openSync(path, 'r+')
  writeSync(back, byte, 0, 1, at)
  closeSync(back)
  await archiver.start()
  await waitFor('streaming with the byte restored', () => (archiver.status().state === 'streaming' && sizeOf(victim) > size) || undefined)
  checkOpen(t, 'with the byte restored')

  // A copy longer than what the server has of that file (as after a binlog truncated in a crash recovery): failed too.
  await archiver.stop()
  const whole = sizeOf(victim)
  const grown = openSync(path, 'r+')
  writeSync(grown, Buffer.alloc(1 << 20), 0, 1 << 20, whole)
  closeSync(grown)
  await archiver.start()
  await waitFor('failed', () => archiver.status().state === 'failed' || undefined)
  t.match(archiver.status().detail, new RegExp(`^the server's ${victim.replace('.', '\\.')} has \\d+ bytes, fewer than the archive's copy \\(${whole + (1 << 20)}\\)`), `failed, naming ${victim}`)
  await archiver.stop()
  truncateSync(path, whole)
  await archiver.start()
  await waitFor('streaming with the copy cut back', () => (archiver.status().state === 'streaming' && sizeOf(victim) > whole) || undefined)
  checkOpen(t, 'with the copy cut back')

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
  checkOpen(t, 'after the engine was killed and restarted')
  t.ok(agentLog.some((l) => l.startsWith('archiver: engine not reachable')) && agentLog.some((l) => l === 'archiver: engine reachable again'), 'the archiver saw the engine go and come back')
})

t.test('a segment missing from the archive is a gap in the status', async (t) => {
  const victim = sealed()[1]!
  const aside = join(root, `aside-${victim.name}`)
  renameSync(join(archiveDir, victim.name), aside)
  await waitFor('gap', () => archiver.status().state === 'gap' || undefined)
  t.match(archiver.status(), { state: 'gap', detail: new RegExp(`^${victim.name.replace('.', '\\.')} is missing from the archive`) }, 'the gap names the file')
  renameSync(aside, join(archiveDir, victim.name))
  await waitFor('no gap', () => archiver.status().state !== 'gap' || undefined)
  t.pass('back in place: no gap')
})

/** A new instance restored from the base backup plus the archive. */
async function restore(target: { time: string } | 'latest'): Promise<{ inst: Instance; ids: Set<number>; log: string[] }> {
  const spec: RestoreSpec = { backupId: base.id, chain: [{ id: base.id, location: base.location, checksum: base.checksum, type: 'full' }], pitr: { archiveDir, target, start: base.start } }
  const inst = makeInstance('mariadb', '10.11', await endpoint('mariadb'), { prepare: { databases: [], users: [], restore: spec } })
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
  // Second T is over once a row is stamped after it: on a busy machine the middle stamp can be the second
  // the writer is in, whose later rows the restore must hold and a read now would not list.
  let next = 0
  await waitFor('a row stamped after T', () => {
    if (Date.now() < next) return undefined // one client run each 100 ms, not each poll
    next = Date.now() + 100
    return sql(src, `SELECT count(*) FROM pitr.t WHERE ts >= FROM_UNIXTIME(${T + 1})`) !== '0' || undefined
  })
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

/** What the mixed workload left: its tables row for row, the InnoDB table's DDL, the GTID position of domain 1. */
const mixedState = (inst: Instance) => ({
  inno: sql(inst, 'SELECT * FROM mixed.inno ORDER BY id'),
  plain: sql(inst, 'SELECT * FROM mixed.plain ORDER BY id'),
  two: sql(inst, 'SELECT * FROM mixed.two ORDER BY id'),
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
      // Statements the batches join or must not: another table, both in one transaction, rows written
      // without foreign key checks (other rows event flags), deletes cascading to the other table.
      'CREATE TABLE mixed.two (id INT PRIMARY KEY, inno_id INT, FOREIGN KEY (inno_id) REFERENCES mixed.inno (id) ON DELETE CASCADE) ENGINE=InnoDB',
      ...Array.from({ length: 250 }, (_, i) =>
        [
          `INSERT INTO mixed.two VALUES (${i}, ${200_000 + i})`,
          i % 3 ? '' : `BEGIN; UPDATE mixed.inno SET n = n + 10 WHERE id = ${200_000 + i}; INSERT INTO mixed.two VALUES (${10_000 + i}, NULL); COMMIT`,
          i % 5 ? '' : `SET foreign_key_checks = 0; INSERT INTO mixed.two VALUES (${20_000 + i}, 999999); SET foreign_key_checks = 1`,
          i % 7 ? '' : `DELETE FROM mixed.inno WHERE id = ${200_000 + i}`,
        ]
          .filter(Boolean)
          .join(';\n'),
      ),
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
  t.ok(got.two === want.two && want.two.split('\n').length > 300, 'the second InnoDB table too (written beside the first, without foreign key checks, by cascades)')
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
  // An open file with its in-use flag set, as the server has it (the archive copies it cleared): the
  // restore's readers take it too. Cut at SHOW MASTER STATUS's position, the end of a whole group.
  const [curFile, curPos] = sql(src, 'SHOW MASTER STATUS').split('\t')
  const inUse = join(root, `units-in-use-${curFile}`)
  writeFileSync(inUse, readFileSync(join(src.base, 'data', curFile!)).subarray(0, Number(curPos)))
  chownSync(inUse, user.uid, user.gid)
  t.equal(readFileSync(inUse)[21]! & 1, 1, `the server's open ${curFile} has its in-use flag set`)
  const theirs = await readUnits({ binary: 'mariadb-binlog', user }, inUse)
  const ours = await scanUnits(inUse)
  t.ok(ours.complete && theirs.complete, 'both read it to its end')
  t.same(ours.units, theirs.units, `the same ${theirs.units.length} units from its headers as from mariadb-binlog's text`)
  const planned = await planReplay([{ path: inUse, from: 4 }])
  for await (const _ of planned.steps) {
    /* the counts fill in as the steps are taken */
  }
  t.ok(planned.counts.transactions + planned.counts.ranges > 0, `and it is planned (${planned.counts.transactions} transaction(s), ${planned.counts.ranges} range(s))`)
  for await (const _ of planned.steps); // its batches' events read again (CRC32 checked)
  const replayed = log.join('\n').match(/replay \d+ ms \((\d+) transaction\(s\) in (\d+) batch\(es\), (\d+) range\(s\) through mariadb-binlog/)
  t.ok(replayed, 'the replay was planned and batched')
  const [transactions, batches, ranges] = (replayed ?? []).slice(1).map(Number)
  t.ok(transactions! > 500 && batches! >= 4 && ranges! >= 3, `${transactions} transactions in ${batches} batches, ${ranges} ranges through mariadb-binlog`)
})

t.test("'latest' after kill -9 of the engine misses at most 1 s of acknowledged rows", async (t) => {
  const n = rows.length
  await waitFor('rows', () => rows.length > n + 100 || undefined)
  const enginePid = Number(readFileSync(join(src.base, 'run', 'mysqld.pid'), 'utf8'))
  // Engine and archiver die together: nothing reaches the archive afterwards.
  process.kill(enginePid, 'SIGKILL')
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
  const inst = makeInstance('mariadb', '10.11', await endpoint('mariadb'), { prepare: { databases: [], users: [], restore: spec } })
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
  t.match(
    st.detail,
    new RegExp(`^${open.replace('.', '\\.')}(, mysql-bin\\.\\d+)* (is|are) missing from the archive \\(purged on the server before it was archived\\)$`),
    `the gap names ${open} and why`,
  )
  t.ok(readdirSync(archiveDir).includes(`${open}.partial`), 'the file cut short is set aside, never sealed as if whole')
  await waitFor(`${current} copied`, () => readdirSync(archiveDir).includes(current) || undefined)
  t.pass('copying goes on from the oldest file the server still has')
})
