import { spawn } from 'node:child_process'
import { chown, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ArchiveStatus } from '../../../protocol/index.js'
import { ENGINE_ENV, isAlive, lastMatchingLine, oneLine, readTail, settledWithin, wrapperArgs } from '../../engine-process.js'
import type { Archiver, InstancePaths, RunUser } from '../types.js'
import { DIR_FD_PATH, firstHole, listArchive, openDir, segmentSizeIn, writeSidecar } from './archive-segments.js'
import type { PostgresClient } from './driver.js'

/** The physical slot that keeps every WAL segment on the engine until the archive has it. */
export const ARCHIVE_SLOT = 'trove_archive'
/** How often the archiver looks at the engine, seals segments and restarts pg_receivewal. */
const TICK_MS = 500
/** Behind by more than this: 'lagging'. */
const LAG_MS = 1000

export interface PostgresArchiveContext {
  paths: InstancePaths
  user: RunUser
  port: number
  bin(name: string): Promise<string>
  client(): Promise<PostgresClient>
  log(m: string): void
}

/**
 * Continuous WAL archiving with pg_receivewal (BENCHMARKS.md "Point-in-time recovery" has
 * why it and not archive_command: it streams each record as the engine writes it, so
 * the archive trails by milliseconds instead of by archive_timeout, and writes each
 * segment once). It runs as the instance's user with `--synchronous` (each received
 * piece is fsynced at once) from the replication slot ARCHIVE_SLOT, so a segment the
 * archive has not got stays on the engine across restarts of anything; pg_receivewal
 * resumes from the end of the newest file in the directory. It runs with --no-loop and
 * this class restarts it (each tick) when it exits: that is the supervision, and a dead
 * engine is simply waited for. Its PID is in run/pg_receivewal.pid, so an agent that
 * was killed leaves no second receiver behind (the next one stops it first).
 *
 * Each tick also seals the segments pg_receivewal completed (sidecar: sha256, commit
 * times), checks the sequence for holes and the slot for lost WAL, and samples the
 * engine's WAL position: the newest sample at or below the receiver's flush position
 * is the time up to which every commit is in the archive (ArchiveStatus.latest_time).
 */
export class PostgresArchiver implements Archiver {
  private timer: NodeJS.Timeout | undefined
  private running = false
  private ticking: Promise<void> | undefined
  private receiver: { pid: number; exited: Promise<void> } | undefined
  private segSize = 0
  private readonly samples: Array<{ at: number; lsn: bigint }> = []
  private state: ArchiveStatus = { state: 'streaming', latest_time: null }
  private readonly pidFile: string
  private readonly logFile: string

  constructor(
    private readonly ctx: PostgresArchiveContext,
    private readonly dir: string,
  ) {
    this.pidFile = join(ctx.paths.run, 'pg_receivewal.pid')
    this.logFile = join(ctx.paths.log, 'pg_receivewal.log')
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    // The store's archive/ parent: traversable by each instance's user, listable by none.
    await mkdir(dirname(this.dir), { recursive: true, mode: 0o711 })
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    await chown(this.dir, this.ctx.user.uid, this.ctx.user.gid)
    await this.stopStale()
    this.schedule(0)
  }

  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    await this.ticking
    const r = this.receiver
    if (r) {
      process.kill(r.pid, 'SIGTERM')
      // settledWithin ends its timer: a sleep raced here kept a stopping agent alive for its 10 s (every PostgreSQL
      // delete took ~7 s, the server's grace before SIGKILL).
      await settledWithin(r.exited, 10_000)
    }
    this.receiver = undefined
  }

  status(): ArchiveStatus {
    return { ...this.state }
  }

  private schedule(ms: number): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .catch((e: Error) => this.ctx.log(`archive: ${oneLine(e.message)}`))
        .finally(() => {
          this.ticking = undefined
          this.schedule(TICK_MS)
        })
    }, ms)
    this.timer.unref()
  }

  private async tick(): Promise<void> {
    const pg = await this.ctx.client()
    let row: string[]
    // A commit stamped at or after `at` (an empty transactional message), then the WAL
    // position: once the archive has that position it has a commit later than any time
    // before `at`, so recovery to such a time finds where to stop (PostgreSQL stops only
    // at a commit, and refuses to end before its target on an idle instance).
    // Not while a standby streams from this primary: a promote takes the primary's last position and
    // waits for the candidate to replay it; a message written after that reaches the other replicas but
    // not the promoted one, which then forks its timeline behind them (they could not follow it).
    const at = Date.now()
    try {
      await pg.query(
        `SELECT CASE WHEN pg_is_in_recovery() OR EXISTS (SELECT 1 FROM pg_stat_replication WHERE application_name <> '${ARCHIVE_SLOT}') THEN NULL ELSE pg_logical_emit_message(true, '${ARCHIVE_SLOT}', '') END`,
      )
      row =
        (
          await pg.query(`SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END,
  (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'),
  (SELECT coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = '${ARCHIVE_SLOT}'),
  (SELECT r.flush_lsn FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = '${ARCHIVE_SLOT}')`)
        )[0] ?? []
    } catch {
      // The engine is down or restarting: nothing is committed meanwhile; the receiver ends on its own.
      await this.seal()
      return
    }
    const [recovery, lsn, segSize, slot, flush] = row
    this.segSize = Number(segSize) || 16 << 20
    if (recovery === 't') {
      this.state = { state: 'off', latest_time: null, detail: 'a replica does not archive: its primary does' }
      return
    }
    if (slot === 'lost') {
      this.state = { ...this.state, state: 'gap', detail: `replication slot ${ARCHIVE_SLOT} lost WAL the archive did not have yet (max_slot_wal_keep_size)` }
      return
    }
    if (slot === undefined || slot === '') await pg.query(`SELECT pg_create_physical_replication_slot('${ARCHIVE_SLOT}', true)`)
    if (!this.receiver) await this.spawnReceiver()
    const now = Date.now()
    if (lsn) this.samples.push({ at: at - 1, lsn: lsnValue(lsn) })
    const hole = await this.seal()
    const flushed = flush ? lsnValue(flush) : undefined
    // Drop samples older than the newest one the receiver has flushed past (keep that one).
    let newest: number | undefined
    if (flushed !== undefined) {
      let keep = 0
      this.samples.forEach((s, i) => {
        if (s.lsn <= flushed) {
          newest = s.at
          keep = i
        }
      })
      this.samples.splice(0, keep)
    }
    if (this.samples.length > 600) this.samples.splice(0, this.samples.length - 600)
    const latest = newest !== undefined ? new Date(newest).toISOString() : this.state.latest_time
    if (hole) this.state = { state: 'gap', latest_time: latest, detail: hole }
    else if (!flushed) this.state = { state: 'lagging', latest_time: latest, detail: `pg_receivewal is not connected${await this.lastError()}` }
    else this.state = { state: newest !== undefined && now - newest <= LAG_MS ? 'streaming' : 'lagging', latest_time: latest }
  }

  /** Seals completed segments (sidecars) and returns the first hole in the sequence, if any. */
  private async seal(): Promise<string | undefined> {
    const list = await listArchive(this.dir)
    const segSize = this.segSize || (await segmentSizeIn(this.dir, list.complete)) || 16 << 20
    if (list.unsealed.length) {
      const waldump = await this.ctx.bin('pg_waldump')
      for (const name of list.unsealed) await writeSidecar(this.dir, name, segSize, waldump, this.ctx.user)
    }
    return firstHole([...list.complete, ...(list.partial ? [list.partial] : [])], segSize)
  }

  private async spawnReceiver(): Promise<void> {
    const cmd = {
      file: await this.ctx.bin('pg_receivewal'),
      args: ['-D', DIR_FD_PATH, '-S', ARCHIVE_SLOT, '--synchronous', '--no-loop', '-w', '-d', `host=${this.ctx.paths.run} port=${this.ctx.port} user=postgres application_name=${ARCHIVE_SLOT}`],
      asUser: true,
    }
    const log = await open(this.logFile, 'a', 0o600)
    const dirFd = await openDir(this.dir)
    try {
      await log.chown(this.ctx.user.uid, this.ctx.user.gid)
      // Its own session: a signal to the agent's group does not cut the stream.
      const child = spawn('/bin/sh', wrapperArgs(cmd, this.ctx.user, []), { detached: true, stdio: ['ignore', log.fd, log.fd, dirFd.fd], env: ENGINE_ENV })
      if (child.pid === undefined) throw new Error(`could not start pg_receivewal: ${await new Promise<string>((r) => child.once('error', (e) => r(e.message)))}`)
      child.unref()
      const pid = child.pid
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      this.receiver = { pid, exited }
      void exited.then(async () => {
        if (this.receiver?.pid === pid) this.receiver = undefined
        await rm(this.pidFile, { force: true })
      })
      await writeFile(this.pidFile, `${pid}\n`, { mode: 0o600 })
      this.ctx.log(`archive: pg_receivewal started, pid ${pid}`)
    } finally {
      await log.close()
      await dirFd.close()
    }
  }

  /** The receiver's last error line (its log), as ': ...', or ''. */
  private async lastError(): Promise<string> {
    const line = lastMatchingLine(await readTail(this.logFile, 4096), /pg_receivewal: error:/)
    return line ? `: ${oneLine(line.replace(/^.*pg_receivewal: error: /, ''), 200)}` : ''
  }

  /** A receiver an earlier agent started (and was killed before it stopped it). */
  private async stopStale(): Promise<void> {
    const pid = Number.parseInt(await readFile(this.pidFile, 'utf8').catch(() => ''), 10)
    if (!Number.isInteger(pid) || !(await isAlive(pid))) return
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    if (!cmdline.includes('pg_receivewal') || !cmdline.includes(`application_name=${ARCHIVE_SLOT}`)) return
    process.kill(pid, 'SIGTERM')
    for (let i = 0; i < 500 && (await isAlive(pid)); i++) await sleep(20)
    this.ctx.log(`archive: stopped the pg_receivewal (pid ${pid}) an earlier agent left running`)
  }
}

function lsnValue(lsn: string): bigint {
  const [hi, lo] = lsn.split('/')
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`)
}
