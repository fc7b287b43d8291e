import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chown, lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ArchiveStatus } from '../../../protocol/index.js'
import { ENGINE_ENV, isAlive, oneLine, wrapperArgs } from '../../engine-process.js'
import type { Archiver, InstancePaths, RunUser } from '../types.js'
import { BINLOG_FILE, binlogName, type BinlogUnit } from './binlog-parse.js'
import { scanUnits } from './binlog-replay.js'
import { archiveFiles, FD3, holes, openDir, readSidecar, sealSegment, type ArchiveFile, type BinlogTool } from './binlog-segments.js'
import type { MariadbClient } from './driver.js'
import { ACCOUNT, ARCHIVER_DB_USER, IDENTIFIED, nativePasswordHash } from './users.js'

/** The server id mariadb-binlog announces (one archiver per server: a restarted one replaces its dump thread). */
const DUMP_SERVER_ID = 4_000_000_001
/** How often the archive is looked at (sealing, gaps, lag); not a wait for a test. */
const TICK_MS = 250
const LAG_MS = 1000
/**
 * The name prefix of the files a resumed mariadb-binlog writes (it rewrites the file it resumes from
 * its start): beside the archive's copy, which stays whole until the new one is as long.
 */
export const RESUME_PREFIX = '.resume-'

export interface MariadbArchiverContext {
  archiveDir: string
  paths: InstancePaths
  user: RunUser
  socket: string
  /** Root over the socket (the agent's own access). */
  db: MariadbClient
  bin(name: string): string
  log(m: string): void
}

/**
 * Continuous binlog archiving (protocol/archive.ts): `mariadb-binlog
 * --read-from-remote-server --raw --stop-never` as the run user, over the local socket,
 * with an account that has only REPLICATION SLAVE and BINLOG MONITOR, its password in a
 * 0600 option file of the run user (never in argv). The tool writes each binlog file
 * under the server's own name and flushes every event; it is restarted whenever it
 * exits (engine restart, kill), each time from the first file the archive does not
 * hold whole, which it rewrites from its start: no hole, no duplicate, no file left
 * half-written once a later one exists. A resumed tool writes under RESUME_PREFIX beside
 * the archive's copy, and each of its files replaces (rename) the archive's once it is at
 * least as long: the archive's copy never shrinks, so a restore that reads it while the
 * source catches up after a restart gets all it held (it read nothing, silently, when the
 * copy was rewritten in place: bench/pitr.mjs's second restore to a time). A file is sealed (sha256, commit times:
 * binlog-segments.ts) once a later one exists. Missing seqs (a file purged on the
 * server before it was archived) are reported as a gap.
 *
 * The account is created and changed with sql_log_bin=0: nothing of it reaches the
 * binlog (a replica's own GTIDs would break gtid-strict-mode), each server has its own.
 */
export class MariadbArchiver implements Archiver {
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined
  private running = false
  private timer: NodeJS.Timeout | undefined
  private respawn: NodeJS.Timeout | undefined
  private backoffMs = 200
  private ticking = false
  private failed: string | undefined
  private lastError = ''
  private purged: string[] = []
  private gapDetail: string | undefined
  private needAccount = true
  private sealedLatest: number | null = null
  private open: { name: string; size: number; pos: number; latest: number | null; at: number } | undefined
  private behindSince: number | undefined
  private lagChecked = 0
  private caughtUp = false
  /** When the archive last held everything the server had written (epoch ms, taken before the look). */
  private caughtUpAt: number | undefined
  private readonly cnf: string
  private readonly pidFile: string
  private readonly tool: BinlogTool

  constructor(private readonly ctx: MariadbArchiverContext) {
    this.cnf = join(ctx.paths.run, 'archiver.cnf')
    this.pidFile = join(ctx.paths.run, 'archiver.pid')
    this.tool = { binary: ctx.bin('mariadb-binlog'), user: ctx.user }
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    this.failed = undefined
    this.needAccount = true
    await this.makeDir()
    this.timer = setInterval(() => void this.tick(), TICK_MS)
    await this.launch()
  }

  async stop(): Promise<void> {
    this.running = false
    clearInterval(this.timer)
    clearTimeout(this.respawn)
    this.child?.kill('SIGTERM')
    await this.exited
    while (this.ticking) await new Promise((r) => setImmediate(r))
  }

  status(): ArchiveStatus {
    const latest_time = this.latestTime()
    if (this.failed) return { state: 'failed', latest_time, detail: this.failed }
    if (this.gapDetail) return { state: 'gap', latest_time, detail: this.gapDetail }
    if (!this.running) return { state: 'off', latest_time }
    if (!this.child) return { state: 'lagging', latest_time, detail: `reconnecting${this.lastError ? `: ${this.lastError}` : ''}` }
    if (!this.caughtUp) return { state: 'lagging', latest_time, detail: 'behind the server by more than a second' }
    return { state: 'streaming', latest_time }
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

  /** The archive dir: 0700, the run user's (it writes there); parents the agent makes are 0711. */
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

  /** A fresh password for the archiver's account, and its option file (0600, the run user's). */
  private async ensureAccount(): Promise<void> {
    const password = randomBytes(24).toString('base64url')
    const who = [ARCHIVER_DB_USER, 'localhost']
    const hash = nativePasswordHash(password)
    const quiet = 'SET STATEMENT sql_log_bin=0 FOR'
    await this.ctx.db.query(
      { sql: `${quiet} CREATE USER IF NOT EXISTS ${ACCOUNT} ${IDENTIFIED}`, values: [...who, hash] },
      { sql: `${quiet} ALTER USER ${ACCOUNT} ${IDENTIFIED}`, values: [...who, hash] },
      { sql: `${quiet} GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO ${ACCOUNT}`, values: who },
    )
    const tmp = `${this.cnf}.tmp`
    const fh = await open(tmp, 'w', 0o600)
    try {
      await fh.writeFile(`# Generated by the trove agent: the binlog archiver's account.\n[client]\nuser=${ARCHIVER_DB_USER}\npassword=${password}\nsocket=${this.ctx.socket}\n`)
    } finally {
      await fh.close()
    }
    await chown(tmp, this.ctx.user.uid, this.ctx.user.gid)
    await rename(tmp, this.cnf)
    this.needAccount = false
  }

  /** The server's binlog files (SHOW BINARY LOGS), oldest first. */
  private async serverLogs(): Promise<Array<{ name: string; seq: number; size: number }>> {
    const rows = await this.ctx.db.query('SHOW BINARY LOGS')
    return rows.map((r) => ({ name: r[0]!, seq: Number(/\.(\d+)$/.exec(r[0]!)?.[1]), size: Number(r[1]) })).filter((l) => Number.isFinite(l.seq))
  }

  /**
   * Where streaming resumes: the archive's last file again when it is not sealed (it may
   * be cut short), else the next seq; a file the server no longer has is a gap.
   */
  private async resumeFrom(files: ArchiveFile[]): Promise<string | undefined> {
    const logs = await this.serverLogs()
    if (!logs.length) throw new Error('the server has no binary log (log-bin is off)')
    const last = files[files.length - 1]
    if (!last) return logs[0]!.name
    if (!last.sealed) {
      if (logs.some((l) => l.name === last.name)) return last.name
      // Cut short and gone from the server: never sealed as if whole; its seq becomes a hole.
      await rename(join(this.ctx.archiveDir, last.name), join(this.ctx.archiveDir, `${last.name}.partial`))
      this.purged.push(last.name)
      this.ctx.log(`archiver: ${last.name} was purged on the server before it was archived whole`)
    }
    const need = last.sealed ? last.seq + 1 : last.seq
    const next = logs.find((l) => l.seq >= need)
    if (!next) {
      this.failed = `the server's binlogs (up to ${logs[logs.length - 1]!.name}) are older than the archive's (${last.name}): was the binlog reset?`
      return undefined
    }
    for (let s = need; s < next.seq; s++) this.purged.push(binlogName(s))
    return next.name
  }

  private async launch(): Promise<void> {
    if (!this.running || this.child) return
    let from: string | undefined
    try {
      if (this.needAccount) await this.ensureAccount()
      from = await this.resumeFrom(await archiveFiles(this.ctx.archiveDir))
    } catch (e) {
      this.lastError = oneLine((e as Error).message)
      return this.retry()
    }
    if (!from) return
    await this.killStray()
    // Rewritten from its start: beside the archive's copy, not over it (adoptResumed).
    const resumed = await this.resuming(from)
    const args = [
      `--defaults-file=${this.cnf}`,
      '--read-from-remote-server',
      '--raw',
      '--stop-never',
      `--stop-never-slave-server-id=${DUMP_SERVER_ID}`,
      // The archive dir as fd 3: the store above it is root's (binlog-segments.ts).
      `--result-file=${FD3}/${resumed ? RESUME_PREFIX : ''}`,
      from,
    ]
    const cmd = { file: this.ctx.bin('mariadb-binlog'), args, asUser: true }
    let child: ChildProcess
    try {
      const dir = await openDir(this.ctx.archiveDir)
      try {
        child = spawn('/bin/sh', wrapperArgs(cmd, this.ctx.user, []), { stdio: ['ignore', 'ignore', 'pipe', dir.fd], env: ENGINE_ENV })
      } finally {
        await dir.close()
      }
    } catch (e) {
      this.lastError = oneLine((e as Error).message)
      return this.retry()
    }
    this.child = child
    // The wrapper execs into the tool: the same pid.
    await writeFile(this.pidFile, `${child.pid}\n`, { mode: 0o600 }).catch(() => undefined)
    this.caughtUp = false
    this.behindSince = Date.now()
    const t0 = Date.now()
    let stderr = ''
    child.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4096)
    })
    this.ctx.log(`archiver: streaming from ${from} (pid ${child.pid})${resumed ? `, into ${RESUME_PREFIX}${from} until it is as long as the archive's copy` : ''}`)
    this.exited = new Promise((resolve) => {
      child.once('error', (e) => {
        stderr += e.message
      })
      child.once('close', (code, signal) => {
        this.child = undefined
        const why = oneLine(stderr.trim().split('\n').pop() || `exit ${code ?? signal}`)
        if (this.running) {
          this.lastError = why
          if (/access denied/i.test(stderr)) this.needAccount = true
          this.ctx.log(`archiver: mariadb-binlog stopped (${why}); restarting`)
          if (Date.now() - t0 > 10_000) this.backoffMs = 200
          this.retry()
        }
        resolve()
      })
    })
  }

  /**
   * A mariadb-binlog left by a killed agent still writes into the archive: two writers on
   * one file would corrupt it, so it is killed (and gone) before a new one starts. Only a
   * live process of the run user running mariadb-binlog --stop-never is (the pid file is in
   * a directory the user writes).
   */
  private async killStray(): Promise<void> {
    const pid = Number.parseInt(await readFile(this.pidFile, 'utf8').catch(() => ''), 10)
    if (!(pid > 1) || pid === this.child?.pid) return
    try {
      const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
      const st = await stat(`/proc/${pid}`)
      if (st.uid !== this.ctx.user.uid || !cmd.some((a) => a.endsWith('mariadb-binlog')) || !cmd.includes('--stop-never')) return
      process.kill(pid, 'SIGKILL')
      this.ctx.log(`archiver: killed mariadb-binlog ${pid} left by a previous agent`)
      const deadline = Date.now() + 10_000
      while ((await isAlive(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    } catch {
      /* gone already */
    }
    await rm(this.pidFile, { force: true })
  }

  private retry(): void {
    if (!this.running) return
    clearTimeout(this.respawn)
    this.respawn = setTimeout(() => void this.launch(), this.backoffMs)
    this.backoffMs = Math.min(this.backoffMs * 2, 5000)
  }

  /** Seals complete files, works out gaps, the latest commit time and the lag. */
  private async tick(): Promise<void> {
    if (this.ticking) return
    this.ticking = true
    try {
      const dir = this.ctx.archiveDir
      await this.adoptResumed()
      const files = await archiveFiles(dir)
      for (const f of files.slice(0, -1)) {
        if (f.sealed) continue
        const seg = await sealSegment(dir, f.name, this.tool)
        this.ctx.log(`archiver: sealed ${f.name} (${seg.bytes} bytes, ${seg.first_time ?? '-'} .. ${seg.last_time ?? '-'})`)
        f.sealed = true
      }
      const missing = holes(files).map(binlogName)
      this.gapDetail = missing.length
        ? `missing from the archive: ${missing.join(', ')}${missing.some((m) => this.purged.includes(m)) ? ' (purged on the server before it was archived)' : ''}`
        : undefined
      await this.trackLatest(files)
      await this.trackLag(files)
    } catch (e) {
      this.lastError = oneLine((e as Error).message)
    } finally {
      this.ticking = false
    }
  }

  /**
   * Whether the tool resumes over a file the archive holds bytes of (it rewrites it from its
   * start); the resumed files a killed earlier run left are removed first (partial copies of
   * what the server still has: the new run writes them again).
   */
  private async resuming(from: string): Promise<boolean> {
    const dir = this.ctx.archiveDir
    for (const n of await readdir(dir)) if (n.startsWith(RESUME_PREFIX)) await rm(join(dir, n), { force: true })
    const size = await stat(join(dir, from)).then(
      (st) => st.size,
      () => 0,
    )
    return size > 0
  }

  /**
   * A resumed tool's files take the place of the archive's, by rename, each once it is at least as long
   * (the same binlog from its start: the longer holds all the shorter does), oldest first: a later file
   * exists only once the tool wrote the earlier one whole. The tool writes on into the renamed file.
   */
  private async adoptResumed(): Promise<void> {
    const dir = this.ctx.archiveDir
    const resumed = (await readdir(dir)).filter((n) => n.startsWith(RESUME_PREFIX) && BINLOG_FILE.test(n.slice(RESUME_PREFIX.length))).sort()
    for (const n of resumed) {
      const name = n.slice(RESUME_PREFIX.length)
      const [mine, theirs] = await Promise.all([lstat(join(dir, n)), lstat(join(dir, name)).catch(() => undefined)])
      // Only the tool's regular files (the directory is the run user's: a planted link is not adopted).
      if (!mine.isFile()) continue
      if (theirs && mine.size < theirs.size) return
      await rename(join(dir, n), join(dir, name))
      if (theirs) this.ctx.log(`archiver: ${n} caught up (${mine.size} bytes): in place of ${name}`)
    }
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
    // Caught up a moment ago, the window's end comes from caughtUpAt: the open file is read
    // only otherwise (reading it is the archiver's main cost on a busy instance).
    const fresh = this.caughtUpAt !== undefined && Date.now() - this.caughtUpAt < LAG_MS
    if (size === o.size || Date.now() - o.at < LAG_MS || fresh) return
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

  /** Caught up when the archive's newest file is as long as the server's current one. */
  private async trackLag(files: ArchiveFile[]): Promise<void> {
    if (!this.child || Date.now() - this.lagChecked < TICK_MS) return
    const looked = Date.now()
    this.lagChecked = looked
    const st = (await this.ctx.db.query('SHOW MASTER STATUS'))[0]
    const last = files[files.length - 1]
    if (!st || !last) return
    const size = (await stat(join(this.ctx.archiveDir, last.name))).size
    const behind = st[0] !== last.name || size < Number(st[1])
    if (!behind) {
      this.behindSince = undefined
      this.caughtUpAt = looked
    } else this.behindSince ??= Date.now()
    this.caughtUp = this.behindSince === undefined || Date.now() - this.behindSince <= LAG_MS
  }
}
