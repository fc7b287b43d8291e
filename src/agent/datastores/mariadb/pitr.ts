import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chown, copyFile, mkdir, open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ArchiveStart, PitrSpec } from '../../../protocol/index.js'
import { oneLine } from '../../engine-process.js'
import { BackupError, checkTool, type StreamedTool, streamTool } from '../backup-files.js'
import type { EngineCommand, InstancePaths, RunUser } from '../types.js'
import { binlogName, stopPosition } from './binlog-parse.js'
import { planReplay, type ReplayCounts, type ReplayFile, type ReplayStep, scanUnits } from './binlog-replay.js'
import { archiveFiles, readSidecar, readUnits, sha256File, type BinlogTool } from './binlog-segments.js'
import type { MariadbClient } from './driver.js'
import { ACCOUNT, IDENTIFIED, nativePasswordHash, REPLAY_DB_USER } from './users.js'

export interface MariadbReplayContext {
  paths: InstancePaths
  user: RunUser
  socket: string
  db: MariadbClient
  bin(name: string): string
  log(m: string): void
}

/** 'mysql-bin.000002:605' (anything after the position, e.g. a GTID, ignored). */
export function parseStart(start: ArchiveStart): { file: string; pos: number } {
  const m = /^(mysql-bin\.\d{6,}):(\d+)\b/.exec(start.position)
  if (!m) throw new BackupError(`the base backup's binlog position ${JSON.stringify(start.position)} is not file:position`)
  return { file: m[1]!, pos: Number(m[2]) }
}

/**
 * The target as the binlog can tell it: whole epoch seconds. A transaction stamped in
 * T's second or before is replayed, none stamped after (a fraction of T is dropped:
 * the binlog stamps whole seconds, so T is read as the end of its second).
 */
export function targetSeconds(target: PitrSpec['target']): number | 'latest' {
  if (target === 'latest') return 'latest'
  const ms = Date.parse(target.time)
  if (!Number.isFinite(ms)) throw new BackupError(`the restore time ${JSON.stringify(target.time)} is not an ISO 8601 time`)
  return Math.floor(ms / 1000)
}

/** A segment copied out of the archive, its sha256 checked against its sidecar (when sealed). */
async function copyChecked(archiveDir: string, name: string, sealed: boolean, dest: string, user: RunUser): Promise<void> {
  const side = sealed ? await readSidecar(archiveDir, name) : undefined
  if (sealed && !side) throw new BackupError(`archive segment ${name}: its sidecar is unreadable`)
  await copyFile(join(archiveDir, name), dest)
  await chown(dest, user.uid, user.gid)
  if (side) {
    const { sha256 } = await sha256File(dest)
    if (sha256 !== side.sha256) throw new BackupError(`archive segment ${name} is corrupt: its sha256 is ${sha256}, its sidecar says ${side.sha256}`)
  }
}

/**
 * Point-in-time recovery after the base backup was restored and the engine started on
 * it. What needs no engine (`prepareMariadbReplay`: the copies, the stop position, the
 * plan, the batches' SQL written out) runs beside the base restore; here, the replay into
 * one `mariadb` client session as the run user: row transactions in batches, everything
 * else through `mariadb-binlog` for its byte range (binlog-replay.ts), or `mariadb-binlog
 * | mariadb` for all of it when the plan failed. Nothing decoded is written anywhere (the
 * batches hold the events as they are, base64, in the private scratch dir). The client logs in with a
 * temporary account (random password in a 0600 option file of the run user, dropped
 * afterwards; created with sql_log_bin=0). Stop positions come from our own read of the
 * events (scanUnits), not from --stop-datetime, which is exclusive and would drop the
 * target second.
 */
export async function mariadbReplay(ctx: MariadbReplayContext, pitr: PitrSpec, prepared?: Promise<PreparedReplay>): Promise<void> {
  const p = await (prepared ?? prepareMariadbReplay(ctx, pitr))
  const { took, files, stop, picked, start } = p
  try {
    if (!files.length) {
      ctx.log(`restore: nothing in the archive to replay after ${pitr.start.position}`)
      return
    }
    const t = Date.now()
    let how = ''
    const relaxed = await withReplayAccount(ctx, p.work, (cnf) =>
      withRelaxedDurability(ctx.db, async () => {
        const client: EngineCommand = { file: ctx.bin('mariadb'), args: [`--defaults-file=${cnf}`, '--batch', '--binary-mode', '--max-allowed-packet=1G'], asUser: true }
        if (p.plan) {
          const { batches, transactions, ranges } = p.plan.counts
          how = `${transactions} transaction(s) in ${batches} batch(es), ${ranges} range(s) through mariadb-binlog`
          await replayPlanned(ctx, p.plan.script, client)
        } else {
          how = `one transaction at a time (not batched: ${p.planError})`
          await replayPlain(ctx, start, stop, picked, client)
        }
      }),
    )
    const what = p.target === 'latest' ? 'latest' : new Date(p.target * 1000).toISOString()
    ctx.log(
      `restore: replayed ${picked.length} binlog file(s) of the archive from ${pitr.start.position} to ${what} (stop ${stop ?? 'end'}): copy and check ${took.copy} ms, stop scan ${took.scan} ms, plan and batches written ${took.plan} ms (beside the base restore: ${p.readyAfter} ms after it began), replay ${Date.now() - t} ms (${how}; ${relaxed})`,
    )
  } finally {
    await p.discard()
  }
}

/** What the replay needs and the engine does not: the files copied and checked, where it stops, the plan. */
export interface PreparedReplay {
  work: string
  target: number | 'latest'
  /** The copies, and where the replay starts (the first) and stops (the last). */
  picked: string[]
  start: number
  stop: number | undefined
  /** What to replay (empty: nothing after the backup's position). */
  files: ReplayFile[]
  /** The plan's counts, and its steps with each run of batches already written to a file. */
  plan?: { counts: ReplayCounts; script: ScriptStep[] }
  planError?: string
  took: { copy: number; scan: number; plan: number }
  /** Milliseconds from its start to its end. */
  readyAfter: number
  /** Removes the copies. */
  discard(): Promise<void>
}

/**
 * The archive's binlogs from the backup's position up to the target (or all of it for
 * 'latest', the open segment up to its last whole transaction), each copied into a
 * private scratch dir and checked; the stop position; the batched replay's plan (a
 * plan that fails for any reason leaves the plain replay, which still can).
 */
export async function prepareMariadbReplay(ctx: Pick<MariadbReplayContext, 'paths' | 'user' | 'bin' | 'log'>, pitr: PitrSpec): Promise<PreparedReplay> {
  const t0 = Date.now()
  const start = parseStart(pitr.start)
  const target = targetSeconds(pitr.target)
  const all = (await archiveFiles(pitr.archiveDir)).filter((f) => f.seq >= pitr.start.seq)
  if (all[0]?.name !== start.file) throw new BackupError(`the archive ${pitr.archiveDir} has no ${start.file}, where the base backup starts`)
  for (const [i, f] of all.entries()) {
    if (f.seq !== pitr.start.seq + i) throw new BackupError(`the archive has a gap: ${binlogName(pitr.start.seq + i)} is missing`)
  }
  const work = join(ctx.paths.tmp, 'pitr')
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { mode: 0o700 })
  await chown(work, ctx.user.uid, ctx.user.gid)
  const discard = () => rm(work, { recursive: true, force: true })
  const tool: BinlogTool = { binary: ctx.bin('mariadb-binlog'), user: ctx.user }
  // Where the time goes (logged at the end): copy and sha256 check, the scan for the stop position, the plan.
  const took = { copy: 0, scan: 0, plan: 0 }
  const timed = async <T>(what: keyof typeof took, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now()
    try {
      return await fn()
    } finally {
      took[what] += Date.now() - t
    }
  }
  try {
    // The files to replay and where the replay stops in the last one.
    const picked: string[] = []
    let stop: number | undefined
    for (const [i, f] of all.entries()) {
      const dest = join(work, f.name)
      await timed('copy', () => copyChecked(pitr.archiveDir, f.name, f.sealed, dest, ctx.user))
      picked.push(dest)
      const from = i === 0 ? start.pos : 0
      const lastFile = i === all.length - 1
      if (!lastFile && target !== 'latest') {
        const side = await readSidecar(pitr.archiveDir, f.name)
        // Wholly at or before the target: no need to read it.
        if (side && (side.last_time === null || Math.floor(Date.parse(side.last_time) / 1000) <= target)) continue
      } else if (!lastFile) continue
      const stopAfter = target === 'latest' ? undefined : target
      const read = await timed('scan', async () => {
        // Our read of the event headers; mariadb-binlog's decode (5-10x slower) where ours stops short of the end for another reason than a cut open segment.
        const ours = await scanUnits(dest, from, stopAfter)
        if (ours.complete || (ours.cut && !f.sealed)) return ours
        ctx.log(`restore: ${f.name}: ${oneLine(ours.error)}; read with mariadb-binlog`)
        return readUnits(tool, dest, from, stopAfter)
      })
      if (f.sealed && !read.complete) throw new BackupError(`archive segment ${f.name}: mariadb-binlog could not read it: ${read.error}`)
      const s = stopPosition(read.units, target, from)
      if (s?.reached) {
        stop = s.pos
        break
      }
      if (lastFile) stop = s?.pos ?? from
    }
    const nothing = picked.length === 1 && stop !== undefined && stop <= start.pos
    const files: ReplayFile[] = nothing ? [] : picked.map((path, i) => ({ path, from: i === 0 ? start.pos : 4, ...(i === picked.length - 1 && stop !== undefined ? { to: stop } : {}) }))
    let planError: string | undefined
    // One pass plans the replay and writes its batches (binlog-replay.ts); whatever stops it (a file it
    // cannot read, or its own fault), the plain replay still can.
    const plan = files.length
      ? await timed('plan', async () => {
          try {
            const { steps, counts } = await planReplay(files)
            return { script: await writeScript(steps, work), counts }
          } catch (e) {
            planError = oneLine((e as Error).message)
            return undefined
          }
        })
      : undefined
    return { work, target, picked, start: start.pos, stop, files, ...(plan ? { plan } : {}), ...(planError ? { planError } : {}), took, readyAfter: Date.now() - t0, discard }
  } catch (e) {
    await discard()
    throw e
  }
}

/** A step of the replay as prepared: a file of batches' SQL, or a byte range for mariadb-binlog. */
export type ScriptStep = { kind: 'file'; path: string } | Extract<ReplayStep, { kind: 'tool' }>

/**
 * The plan's steps written out before the engine is up, each run of batches into a file of
 * the scratch dir (the agent's, 0600): the agent runs interpreted (--jitless), and making the
 * batches' SQL there (reading the events, joining statements, base64) took longer than the
 * server took to apply it (20,000 one-row transactions: ~0.5 s against ~0.2 s). Written beside
 * the base restore, the replay only streams it. On disk, not in memory: about the size of the
 * replayed row events again (a third more, base64), beside their copies.
 */
export async function writeScript(steps: AsyncIterable<ReplayStep>, work: string): Promise<ScriptStep[]> {
  const script: ScriptStep[] = []
  let fh: Awaited<ReturnType<typeof open>> | undefined
  try {
    for await (const s of steps) {
      if (s.kind === 'tool') {
        await fh?.close()
        fh = undefined
        script.push(s)
        continue
      }
      if (!fh) {
        const path = join(work, `batches-${script.length}.sql`)
        fh = await open(path, 'wx', 0o600)
        script.push({ kind: 'file', path })
      }
      await fh.write(s.text)
    }
  } finally {
    await fh?.close()
  }
  return script
}

/** `mariadb-binlog | mariadb`: every transaction as the tool prints it, one after another. */
async function replayPlain(ctx: MariadbReplayContext, from: number, stop: number | undefined, picked: string[], client: EngineCommand): Promise<void> {
  // Each event's CRC32 checked: nothing here read the bodies before (scanUnits reads headers only).
  const args = ['--no-defaults', '--verify-binlog-checksum', `--start-position=${from}`, ...(stop !== undefined ? [`--stop-position=${stop}`] : []), ...picked]
  let applied: StreamedTool | undefined
  const dump = await streamTool({ file: ctx.bin('mariadb-binlog'), args, asUser: true }, ctx.user, {
    sink: async (out) => {
      applied = await streamTool(client, ctx.user, { input: out })
    },
  })
  checkTool('mariadb-binlog (reading the archive)', dump)
  checkTool('mariadb (replaying the archive)', applied!)
}

/**
 * The planned replay (binlog-replay.ts) into one client session: the batches' SQL, and
 * for each range left to it, mariadb-binlog's output for exactly that range, in order.
 * A failure of either ends the client's input; the client's own fault is reported
 * first (it is the cause when the input broke because the client exited).
 */
async function replayPlanned(ctx: MariadbReplayContext, steps: ScriptStep[], client: EngineCommand): Promise<void> {
  const input = new PassThrough()
  const feed = async (): Promise<void> => {
    try {
      for (const s of steps) {
        if (s.kind === 'file') await pipeline(createReadStream(s.path), input, { end: false })
        else {
          const args = ['--no-defaults', '--verify-binlog-checksum', `--start-position=${s.start}`, `--stop-position=${s.stop}`, s.path]
          const dump = await streamTool({ file: ctx.bin('mariadb-binlog'), args, asUser: true }, ctx.user, { sink: (out) => pipeline(out, input, { end: false }) })
          checkTool('mariadb-binlog (reading the archive)', dump)
        }
      }
      input.end()
    } catch (e) {
      input.destroy()
      throw e
    }
  }
  const [applied, fed] = await Promise.allSettled([streamTool(client, ctx.user, { input }), feed()])
  if (applied.status === 'rejected') throw applied.reason
  checkTool('mariadb (replaying the archive)', applied.value)
  if (fed.status === 'rejected') throw fed.reason
}

/**
 * The settings relaxed for the replay, and what they are relaxed to. max_allowed_packet:
 * a transaction's row events reach the server as one BINLOG statement (mariadb-binlog's
 * and the batches' alike), larger than the configured packet (1 MB on a small flavor)
 * when one statement changed a few MB of rows; the client's session takes the global
 * value when it connects, after this is set.
 */
const REPLAY_SETTINGS = { sync_binlog: '0', innodb_flush_log_at_trx_commit: '0', max_allowed_packet: String(1 << 30) } as const

/**
 * The replay is one client session applying one transaction after another: with the
 * configured durability (sync_binlog=1, innodb_flush_log_at_trx_commit=1) each of them
 * waits for two fsyncs, and nothing groups them (a single session has no group commit;
 * 5.2 s against 1.8 s for 4,500 one-row transactions on a scratch server). During the
 * replay only, neither is synced per commit, and InnoDB's redo log is not even written
 * per commit (0, not 2: the write per commit halved again, 1.35 s against 2.9 s, medians
 * of 6 alternated replays of 3,000 one-row transactions on a scratch server at load 25-30);
 * the instance is not ACTIVE yet and nobody else writes. Afterwards the values read before are set back (whatever the instance's
 * configuration made them) and the redo log and the binlog are synced once (FLUSH ENGINE
 * LOGS, BINARY LOGS; not binlogged), before the prepare is done: what was replayed is on
 * disk when the instance is reported (the FLUSH runs once the configured value is back,
 * so InnoDB writes and syncs its whole log buffer). A crash in between leaves nothing behind: SET
 * GLOBAL is not persisted, the next engine start reads my.cnf, and the restore has
 * failed anyway. Returns what it did, for the log.
 */
export async function withRelaxedDurability(db: MariadbClient, fn: () => Promise<void>): Promise<string> {
  const names = Object.keys(REPLAY_SETTINGS) as Array<keyof typeof REPLAY_SETTINGS>
  const [was] = await db.query(`SELECT ${names.map((n) => `@@global.${n}`).join(', ')}`)
  const set = (values: readonly string[]) => db.query(...names.map((n, i) => ({ sql: `SET GLOBAL ${n} = ?`, values: [Number(values[i])] })))
  await set(names.map((n) => REPLAY_SETTINGS[n]))
  try {
    await fn()
  } catch (e) {
    // The replay's own fault is the one to report (the engine may be gone); the settings go back if they can.
    await set(was!).catch(() => undefined)
    throw e
  }
  // Not ACTIVE with relaxed durability, nor with replayed commits only in the page cache: a failure here fails the restore.
  await set(was!)
  await db.query('FLUSH NO_WRITE_TO_BINLOG ENGINE LOGS, BINARY LOGS')
  return `${names.map((n) => `${n}=${REPLAY_SETTINGS[n]}`).join(', ')} during the replay, back to ${names.map((n, i) => `${n}=${was![i]}`).join(', ')}`
}

async function withReplayAccount<T>(ctx: MariadbReplayContext, work: string, fn: (cnf: string) => Promise<T>): Promise<T> {
  const password = randomBytes(24).toString('base64url')
  const who = [REPLAY_DB_USER, 'localhost']
  const quiet = 'SET STATEMENT sql_log_bin=0 FOR'
  const hash = nativePasswordHash(password)
  await ctx.db.query(
    { sql: `${quiet} CREATE USER IF NOT EXISTS ${ACCOUNT} ${IDENTIFIED}`, values: [...who, hash] },
    { sql: `${quiet} ALTER USER ${ACCOUNT} ${IDENTIFIED}`, values: [...who, hash] },
    { sql: `${quiet} GRANT ALL PRIVILEGES ON *.* TO ${ACCOUNT} WITH GRANT OPTION`, values: who },
  )
  const cnf = join(work, 'replay.cnf')
  try {
    const fh = await open(cnf, 'w', 0o600)
    try {
      await fh.writeFile(`[client]\nuser=${REPLAY_DB_USER}\npassword=${password}\nsocket=${ctx.socket}\n`)
    } finally {
      await fh.close()
    }
    await chown(cnf, ctx.user.uid, ctx.user.gid)
    return await fn(cnf)
  } finally {
    await rm(cnf, { force: true })
    await ctx.db.query({ sql: `${quiet} DROP USER IF EXISTS ${ACCOUNT}`, values: who })
  }
}
