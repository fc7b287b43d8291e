import { chown, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { ArchiveStatus } from '../../../protocol/index.js'
import { isAlive, oneLine } from '../../engine-process.js'
import type { Archiver, InstancePaths, RunUser } from '../types.js'
import { binlogName, binlogSeq, type BinlogUnit } from './binlog-parse.js'
import { scanUnits } from './binlog-replay.js'
import { growCopy } from './binlog-copy.js'
import { archiveFiles, holes, readSidecar, sealSegment, type ArchiveFile, type BinlogTool } from './binlog-segments.js'
import type { MariadbClient } from './driver.js'
import { ACCOUNT, ARCHIVER_DB_USER } from './users.js'

/**
 * How often the server's new binlog bytes are copied into the archive (and the archive looked at:
 * sealing, gaps, the latest time). Not a wait for a test: a kill -9 of the whole instance loses at
 * most this much of commits from the archive until the agent is back.
 */
const TICK_MS = 200
/** Caught up longer ago than this: lagging. */
const LAG_MS = 1000

export interface MariadbArchiverContext {
  archiveDir: string
  paths: InstancePaths
  user: RunUser
  /** Root over the socket (the agent's own access). */
  db: MariadbClient
  bin(name: string): string
  log(m: string): void
}

/** A binlog file as SHOW BINARY LOGS lists it. */
interface ServerLog {
  name: string
  seq: number
  size: number
}

/**
 * Continuous binlog archiving (protocol/archive.ts): the agent (root, or the instance's own
 * user in a sandbox: it reads the engine's data dir) copies the new bytes of the server's
 * binlog files into the archive itself, every TICK_MS. A tick asks the server, over the
 * agent's own connection, SHOW MASTER STATUS (the current file and the end of its last whole
 * event group) and, when that is not the file the archive is copying, SHOW BINARY LOGS (names
 * and sizes); each copy then grows (binlog-copy.ts) from its size up to its file's size when the server has
 * closed that file (a later one exists), up to SHOW MASTER STATUS's position for the current
 * one (never past it: the bytes beyond may be a group half-written), read from the binlog dir
 * (a regular file of the run user, never through a link) and appended to the archive's file
 * (0600, the run user's, never a link), which is then fdatasynced. A later file is begun only
 * once the earlier one is whole, and a file is sealed (sha256, commit times: binlog-segments.ts)
 * once a later one exists.
 *
 * The archive holds the server's files byte for byte under their names, but for the format
 * description's LOG_EVENT_BINLOG_IN_USE_F (bit 0 of byte 21), which the server sets while a
 * file is open and clears in place when it closes it: it is copied cleared, as the dump stream
 * before sent it (its CRC32 is computed without it). A copy's bytes then never change once
 * written (the sandbox's shipper sends only what was added, and the seal alone when the
 * store's bytes are the sealed file's: archive-ship.ts), and a sealed copy is the server's
 * closed file.
 *
 * Why a tail and not a stream: this was `mariadb-binlog --read-from-remote-server --raw
 * --stop-never`, whose dump thread the server wakes for every commit; on a write-heavy
 * instance (2,600-3,800 one-row commits/s on 2 cores) that archiving cost 0.86-0.89x of the
 * throughput without it (the goal: >= 0.9x). A tick costs a few statements, reads and one
 * fdatasync whatever the commit rate. Its price: a kill -9 of the whole instance (engine and
 * agent) loses at most the last tick's commits until the agent is back; it then copies the
 * rest from the binlog files, which survive.
 *
 * Resume, after an agent or engine restart: each copy grows on from its size (the server never
 * rewrites a binlog's bytes; restarted, it opens a new file), once its last 4 KB were found to
 * be the server's (else `failed`: a copy that is no prefix of the server's file is never
 * appended to). A file the server purged before it was copied whole is set aside as
 * `<name>.partial` (never sealed as if whole) and its seq is a gap; a server whose binlogs are
 * older than the archive's (RESET MASTER) is `failed`. What an older agent's archiver (that
 * stream) left is removed at start: its account (dropped with sql_log_bin=0, as it was
 * created), its option file, its `.resume-*` files, and its mariadb-binlog if still running
 * (two writers on one file would corrupt it).
 */
export class MariadbArchiver implements Archiver {
  private running = false
  private timer: NodeJS.Timeout | undefined
  /** The copy and the upkeep (sealing, gaps, latest time) in flight: each runs one at a time, the copy never waits for a seal. */
  private copying: Promise<void> | undefined
  private keeping: Promise<void> | undefined
  private failed: string | undefined
  private lastError = ''
  private keepError = ''
  /** Why the engine did not answer the last tick, if it did not. */
  private unreachable: string | undefined
  private purged: string[] = []
  private gapDetail: string | undefined
  private accountChecked = false
  /** The server's binlog dir (@@log_bin_basename's), asked once a run. */
  private binlogDir: string | undefined
  /** Copies checked to be a prefix of the server's file in this run (again after the engine was unreachable). */
  private readonly verified = new Set<string>()
  private sealedLatest: number | null = null
  private open: { name: string; size: number; pos: number; latest: number | null; at: number } | undefined
  /** When the archive last held everything the server had written (epoch ms, taken before the look). */
  private caughtUpAt: number | undefined
  /** The same, in this run (the state: streaming while it is less than LAG_MS ago). */
  private reachedAt: number | undefined
  /** When this run started (epoch ms). */
  private startedAt = 0
  private readonly pidFile: string
  private readonly tool: BinlogTool

  constructor(private readonly ctx: MariadbArchiverContext) {
    this.pidFile = join(ctx.paths.run, 'archiver.pid')
    this.tool = { binary: ctx.bin('mariadb-binlog'), user: ctx.user }
  }

  async start(): Promise<void> {
    if (this.running) return
    this.failed = undefined
    this.unreachable = undefined
    this.reachedAt = undefined
    this.accountChecked = false
    this.binlogDir = undefined
    this.verified.clear()
    this.startedAt = Date.now()
    this.running = true
    try {
      await this.makeDir()
      await this.removeLeftovers()
    } catch (e) {
      this.running = false
      throw e
    }
    if (!this.running) return
    this.timer = setInterval(() => this.tick(), TICK_MS)
    this.tick()
  }

  /** Stops; nothing is written into the archive once it returned (the tick in flight ends first). */
  async stop(): Promise<void> {
    this.running = false
    clearInterval(this.timer)
    while (this.copying || this.keeping) await Promise.all([this.copying, this.keeping])
  }

  status(): ArchiveStatus {
    const latest_time = this.latestTime()
    if (this.failed) return { state: 'failed', latest_time, detail: this.failed }
    if (this.gapDetail) return { state: 'gap', latest_time, detail: this.gapDetail }
    if (!this.running) return { state: 'off', latest_time }
    if (this.reachedAt !== undefined && Date.now() - this.reachedAt <= LAG_MS) return { state: 'streaming', latest_time }
    if (this.unreachable) return { state: 'lagging', latest_time, detail: `engine not reachable: ${this.unreachable}` }
    return { state: 'lagging', latest_time, detail: `behind the server by more than a second${this.lastError ? ` (${this.lastError})` : ''}` }
  }

  /**
   * The newest commit stamp in the archive; and, once the archive held all the server had
   * written at a moment C, every second before C's too (an idle instance's window still
   * reaches the present: nothing stamped then is missing). Whole seconds, as the binlog.
   */
  private latestTime(): string | null {
    const seen = this.caughtUpAt === undefined ? -1 : Math.floor(this.caughtUpAt / 1000) - 1
    const t = Math.max(this.sealedLatest ?? -1, this.open?.latest ?? -1, seen)
    return t < 0 ? null : new Date(t * 1000).toISOString()
  }

  /** The archive dir: 0700, the run user's (as its files); parents the agent makes are 0711. */
  private async makeDir(): Promise<void> {
    const dir = this.ctx.archiveDir
    await mkdir(join(dir, '..'), { recursive: true, mode: 0o711 })
    await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e
    })
    const st = await stat(dir)
    if (!st.isDirectory()) throw new Error(`${dir} is not a directory`)
    if (st.uid !== this.ctx.user.uid) await chown(dir, this.ctx.user.uid, this.ctx.user.gid)
  }

  /**
   * What an older agent's archiver (a mariadb-binlog stream) left: its option file, its tool if
   * it still runs (killed before anything is written here), the files a resumed tool wrote
   * beside the archive's (partial copies of what the server still has). Its account goes at
   * the first tick the engine answers (dropOldAccount).
   */
  private async removeLeftovers(): Promise<void> {
    await rm(join(this.ctx.paths.run, 'archiver.cnf'), { force: true })
    await this.killStray()
    const dir = this.ctx.archiveDir
    for (const n of await readdir(dir)) if (n.startsWith('.resume-')) await rm(join(dir, n), { force: true })
  }

  /**
   * A mariadb-binlog left by an older agent that was killed still writes into the archive: two
   * writers on one file would corrupt it, so it is killed (and gone) first. Only a live process
   * of the run user running mariadb-binlog --stop-never is (the pid file is in a directory the
   * user writes).
   */
  private async killStray(): Promise<void> {
    const pid = Number.parseInt(await readFile(this.pidFile, 'utf8').catch(() => ''), 10)
    if (pid > 1) {
      try {
        const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
        const st = await stat(`/proc/${pid}`)
        if (st.uid === this.ctx.user.uid && cmd.some((a) => a.endsWith('mariadb-binlog')) && cmd.includes('--stop-never')) {
          process.kill(pid, 'SIGKILL')
          this.ctx.log(`archiver: killed mariadb-binlog ${pid} left by a previous agent`)
          const deadline = Date.now() + 10_000
          while ((await isAlive(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
        }
      } catch {
        /* gone already */
      }
    }
    await rm(this.pidFile, { force: true })
  }

  /**
   * The account an older agent's archiver logged in with (users.ts keeps its name hidden and
   * reserved): dropped once a run, with sql_log_bin=0 as it was made (each server had its own).
   * A read-only server (a replica) keeps it until the next start.
   */
  private async dropOldAccount(): Promise<void> {
    if (this.accountChecked) return
    this.accountChecked = true
    const who = [ARCHIVER_DB_USER, 'localhost']
    try {
      const [row] = await this.ctx.db.query({ sql: 'SELECT COUNT(*) FROM mysql.global_priv WHERE User = ? AND Host = ?', values: who })
      if (row?.[0] === '0') return
      await this.ctx.db.query({ sql: `SET STATEMENT sql_log_bin=0 FOR DROP USER IF EXISTS ${ACCOUNT}`, values: who })
      this.ctx.log(`archiver: dropped ${ARCHIVER_DB_USER}@localhost, an older agent's archiver account`)
    } catch (e) {
      const why = oneLine((e as Error).message)
      if (!/\b1290\b|read[-_ ]only/i.test(why)) this.ctx.log(`archiver: could not drop ${ARCHIVER_DB_USER}@localhost: ${why}`)
    }
  }

  private tick(): void {
    if (!this.running) return
    this.copying ??= this.copy()
      .then(() => {
        this.lastError = ''
      })
      .catch((e: Error) => {
        this.lastError = oneLine(e.message)
      })
      .finally(() => {
        this.copying = undefined
      })
    this.keeping ??= this.upkeep()
      .then(() => {
        this.keepError = ''
      })
      .catch((e: Error) => {
        const why = oneLine(e.message)
        if (why !== this.keepError) this.ctx.log(`archiver: ${why}`)
        this.keepError = why
      })
      .finally(() => {
        this.keeping = undefined
      })
  }

  /** The server's binlog files (SHOW BINARY LOGS), oldest first. */
  private async serverLogs(): Promise<ServerLog[]> {
    const rows = await this.ctx.db.query('SHOW BINARY LOGS')
    return rows.map((r) => ({ name: r[0]!, seq: binlogSeq(r[0]!) ?? Number.NaN, size: Number(r[1]) })).filter((l) => Number.isFinite(l.seq))
  }

  /** One tick's copy: the server's new bytes into the archive, up to what SHOW MASTER STATUS says is whole. */
  private async copy(): Promise<void> {
    if (this.failed) return
    const files = await archiveFiles(this.ctx.archiveDir)
    const last = files[files.length - 1]
    const looked = Date.now()
    let current: { name: string; pos: number } | undefined
    let logs: ServerLog[]
    try {
      const st = (await this.ctx.db.query('SHOW MASTER STATUS'))[0]
      if (st) current = { name: st[0]!, pos: Number(st[1]) }
      if (!this.binlogDir) {
        const base = (await this.ctx.db.query('SELECT @@log_bin_basename'))[0]?.[0]
        if (base && base !== 'NULL') this.binlogDir = dirname(base)
      }
      // The archive copies the current file: nothing was closed since, no other file's size is needed.
      logs = current && last && !last.sealed && last.name === current.name ? [{ name: current.name, seq: last.seq, size: current.pos }] : await this.serverLogs()
    } catch (e) {
      const why = oneLine((e as Error).message)
      if (this.unreachable === undefined) this.ctx.log(`archiver: engine not reachable: ${why}`)
      this.unreachable = why
      // It may come back on other files (a crash recovery): each copy is checked again before it grows.
      this.verified.clear()
      return
    }
    if (this.unreachable !== undefined) this.ctx.log('archiver: engine reachable again')
    this.unreachable = undefined
    if (!current || !logs.length || !this.binlogDir) throw new Error('the server has no binary log (log-bin is off)')
    await this.dropOldAccount()
    const from = await this.resumeFrom(last, logs)
    if (from === undefined) return
    let copied: number | undefined
    for (let i = from; i < logs.length && this.running && !this.failed; i++) {
      const l = logs[i]!
      const closed = i < logs.length - 1
      // Listed after the current file (a rotation between the two statements): its whole groups are not known yet.
      if (!closed && l.name !== current.name) break
      const target = closed ? l.size : current.pos
      const grown = await growCopy({ archiveDir: this.ctx.archiveDir, binlogDir: this.binlogDir, user: this.ctx.user, running: () => this.running, verified: this.verified }, l.name, target, closed)
      if (grown.failed) this.failed = grown.failed
      const size = grown.size
      if (l.name === current.name) copied = size
      // A later file only once this one is whole: every file but the newest is then complete (sealing).
      if (size < target) break
    }
    if (copied !== undefined && copied >= current.pos && !this.failed) {
      this.caughtUpAt = looked
      this.reachedAt = looked
    }
  }

  /**
   * Where copying goes on: the archive's newest file while the server has it and it is not
   * sealed (it may be cut short), else the server's next file; a seq the server no longer
   * has is a gap. Undefined: nothing to copy (failed).
   */
  private async resumeFrom(last: ArchiveFile | undefined, logs: ServerLog[]): Promise<number | undefined> {
    if (!last) return 0
    if (!last.sealed) {
      const i = logs.findIndex((l) => l.name === last.name)
      if (i >= 0) return i
      // Cut short and gone from the server: never sealed as if whole; its seq becomes a hole.
      await rename(join(this.ctx.archiveDir, last.name), join(this.ctx.archiveDir, `${last.name}.partial`))
      this.notePurged(last.name)
      this.ctx.log(`archiver: ${last.name} was purged on the server before it was archived whole`)
    }
    const next = logs.findIndex((l) => l.seq > last.seq)
    if (next < 0) {
      this.failed = `the server's binlogs (up to ${logs[logs.length - 1]!.name}) are older than the archive's (${last.name}): was the binlog reset?`
      return undefined
    }
    for (let s = last.seq + 1; s < logs[next]!.seq; s++) this.notePurged(binlogName(s))
    return next
  }

  private notePurged(name: string): void {
    if (!this.purged.includes(name)) this.purged.push(name)
  }

  /** Seals complete files, works out gaps and the latest commit time. */
  private async upkeep(): Promise<void> {
    const dir = this.ctx.archiveDir
    const files = await archiveFiles(dir)
    for (const f of files.slice(0, -1)) {
      if (f.sealed || !this.running) continue
      const seg = await sealSegment(dir, f.name, this.tool)
      this.ctx.log(`archiver: sealed ${f.name} (${seg.bytes} bytes, ${seg.first_time ?? '-'} .. ${seg.last_time ?? '-'})`)
      f.sealed = true
    }
    const missing = holes(files).map(binlogName)
    this.gapDetail = missing.length
      ? `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing from the archive${missing.some((m) => this.purged.includes(m)) ? ' (purged on the server before it was archived)' : ''}`
      : undefined
    await this.trackLatest(files)
  }

  private async trackLatest(files: ArchiveFile[]): Promise<void> {
    const dir = this.ctx.archiveDir
    for (const f of [...files].reverse()) {
      if (!f.sealed) continue
      const seg = await readSidecar(dir, f.name)
      if (seg?.last_time) {
        this.sealedLatest = Math.max(this.sealedLatest ?? -1, Date.parse(seg.last_time) / 1000)
        break
      }
    }
    const last = files[files.length - 1]
    if (!last || last.sealed) return
    const size = (await stat(join(dir, last.name))).size
    if (this.open?.name !== last.name || size < this.open.size) this.open = { name: last.name, size: 0, pos: 0, latest: this.open?.latest ?? null, at: 0 }
    const o = this.open
    // While the copy keeps up, the window's end comes from caughtUpAt: the open file is read only
    // once it has been behind for a while (since it last caught up, or since this start). Read at
    // each start instead (from its first byte: a new archiver knows no position in it), that scan
    // was the archiver's main cost on a busy instance: the open file grows to max_binlog_size, and
    // the agent reads it interpreted (~0.1 s a MB; each start of a bench's archiving-on run).
    const behind = Date.now() - Math.max(this.caughtUpAt ?? 0, this.startedAt)
    if (size === o.size || Date.now() - o.at < LAG_MS || behind < 2 * LAG_MS) return
    // The event headers read here (binlog-replay.ts): a mariadb-binlog decode each second was most of this cost.
    const read = await scanUnits(join(dir, last.name), o.pos)
    const units: BinlogUnit[] = read.units.filter((u) => u.start >= o.pos)
    if (units.length) {
      o.pos = units[units.length - 1]!.end
      o.latest = Math.max(o.latest ?? -1, units[units.length - 1]!.time)
    }
    o.size = size
    o.at = Date.now()
  }
}
