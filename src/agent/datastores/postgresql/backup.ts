import { chmod, chown, mkdir, readdir, rm, stat, writeFile, appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import { exists } from '../../engine-process.js'
import type { ArchiveStart, BackupInfo, RestoreSpec } from '../../../protocol/index.js'
import { PITR_SCRIPT, PITR_WAL, pitrRecoveryConf } from './restore-pitr.js'
import type { InstancePaths, RunUser } from '../types.js'
import { BackupError, checkTool, metaFor, moveEntries, removePartial, toolToStore, unpackVerified, writeMeta, type StoredBackup } from '../backup-files.js'
import type { PostgresClient } from './driver.js'
import { pgLit } from './users.js'
import { setTimeout as sleep } from 'node:timers/promises'

/** What the PostgreSQL backup code needs from the service. */
export interface PostgresBackupContext {
  paths: InstancePaths
  user: RunUser
  port: number
  bin(name: string): Promise<string>
  client(): Promise<PostgresClient>
  log(m: string): void
}

/**
 * Metadata of a PostgreSQL backup. A full records its WAL end point; an incremental
 * (the WAL since its parent, engines.md 2) records the LSN recovery must reach, and
 * both record the timeline and the last segment they cover.
 */
interface PostgresMeta {
  engine: 'postgresql'
  type: 'full' | 'incremental'
  timeline: number
  end_lsn: string
  target_lsn?: string
  segment_size: number
  /** Where the backup starts in the continuous archive (point-in-time recovery). */
  archive?: ArchiveStart
}

const FULL_EXT = '.tar'
const WAL_EXT = '.wal.tar'

/** WAL archive of the instance: created by the first backup; until then archive_command archives nothing. */
export const walArchiveDir = (paths: InstancePaths): string => join(paths.base, 'wal-archive')

/**
 * postgresql.conf lines for incrementals: WAL archiving into the instance's own
 * archive directory, but only once a backup created it, so that an instance nobody
 * backs up never fills its volume with WAL. The copy goes through `.part` + rename,
 * so a crash never leaves a truncated segment under its real name.
 */
export function postgresArchiveConf(paths: InstancePaths): string {
  const a = walArchiveDir(paths)
  return `# Backups (incrementals = archived WAL since the parent backup).
archive_mode = on
archive_command = '[ ! -d "${a}" ] || [ -f "${a}/%f" ] || { cp "%p" "${a}/%f.part" && mv "${a}/%f.part" "${a}/%f"; }'
`
}

const lsnToBig = (lsn: string): bigint => {
  const m = /^([0-9A-F]+)\/([0-9A-F]+)$/i.exec(lsn.trim())
  if (!m) throw new BackupError(`not an LSN: ${lsn}`)
  return (BigInt('0x' + m[1]) << 32n) + BigInt('0x' + m[2])
}
const hex8 = (n: bigint | number): string => BigInt(n).toString(16).toUpperCase().padStart(8, '0')
/** The WAL file name holding byte `lsn` (XLByteToSeg). */
function segmentName(timeline: number, lsn: bigint, segSize: number): string {
  const segno = lsn / BigInt(segSize)
  const perId = 0x100000000n / BigInt(segSize)
  return hex8(timeline) + hex8(segno / perId) + hex8(segno % perId)
}
const segnoOf = (name: string, segSize: number): bigint => BigInt('0x' + name.slice(8, 16)) * (0x100000000n / BigInt(segSize)) + BigInt('0x' + name.slice(16, 24))

/**
 * Full: `pg_basebackup -Ft -Xfetch -D -` as the run user, the tar streamed straight
 * into the store; `-v` reports the WAL start and end points. Incremental: force the
 * current segment out (pg_switch_wal), wait until the archiver has it, and store a
 * tar of the archived segments from the parent's end point up to it, after checking
 * none is missing (engines.md 2's silent-data-loss trap). The restore replays them
 * up to `target_lsn`, the WAL position before the switch.
 */
export async function postgresBackup(ctx: PostgresBackupContext, info: BackupInfo, storeDir: string): Promise<StoredBackup> {
  const pg = await ctx.client()
  const archive = walArchiveDir(ctx.paths)
  const segSizeQuery = walSegmentSize(ctx, pg)
  segSizeQuery.catch(() => undefined)
  if (info.backup_type === 'full') {
    // From now on every completed segment is archived: the next incremental starts here.
    await mkdir(archive, { recursive: true, mode: 0o700 })
    await chown(archive, ctx.user.uid, ctx.user.gid)
    try {
      const { tool: r, stored } = await toolToStore(
        {
          file: await ctx.bin('pg_basebackup'),
          args: ['-h', ctx.paths.run, '-p', String(ctx.port), '-U', 'postgres', '-D', '-', '-Ft', '-Xfetch', '-c', 'fast', '-v', '--no-manifest'],
          asUser: true,
        },
        ctx.user,
        storeDir,
        info.id,
        FULL_EXT,
      )
      checkTool('pg_basebackup', r)
      const end = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/i.exec(r.stderr)?.[1]
      const tli = Number(/on timeline (\d+)/.exec(r.stderr)?.[1] ?? 1)
      if (!end) throw new BackupError('pg_basebackup did not report its write-ahead log end point')
      const segSize = await segSizeQuery
      await writeMeta(storeDir, info.id, { engine: 'postgresql', type: 'full', timeline: tli, end_lsn: end, segment_size: segSize, archive: archiveStart(tli, end, segSize) } satisfies PostgresMeta)
      await pruneArchive(archive, segmentName(tli, lsnToBig(end), segSize), segSize)
      return stored
    } catch (e) {
      await removePartial(storeDir, info.id, [FULL_EXT])
      throw e
    }
  }

  const segSize = await segSizeQuery
  if (!info.parent) throw new BackupError('an incremental backup needs its parent')
  const parent = await metaFor<PostgresMeta>(info.parent.location, info.parent.id)
  if (parent?.engine !== 'postgresql') throw new BackupError(`the parent backup ${info.parent.id} has no PostgreSQL WAL metadata`)
  if (!(await exists(archive))) throw new BackupError('this instance has no WAL archive (it was created before WAL archiving was enabled): take a full backup first')
  const [[lsn, tliText]] = (await pg.query('SELECT pg_current_wal_lsn(), (SELECT timeline_id FROM pg_control_checkpoint())')) as [[string, string]]
  const tli = Number(tliText)
  if (tli !== parent.timeline) throw new BackupError(`the instance is on timeline ${tli}, its parent backup on ${parent.timeline}: take a full backup`)
  // A record at or after `lsn` for recovery to stop at, even when nothing was written
  // since the last switch (a switch into an empty segment writes nothing).
  const rows = await pg.query([{ sql: `SELECT pg_logical_emit_message(false, 'trove', $1)`, values: [`backup ${info.id}`] }, 'SELECT pg_switch_wal()'])
  const switched = rows[rows.length - 1]?.[0] ?? ''
  // The switched segment (the byte before the switch's end) is complete now; wait for the archiver.
  const end = lsnToBig(switched)
  const last = segmentName(tli, end > 0n ? end - 1n : 0n, segSize)
  const deadline = Date.now() + 120_000
  while (!(await exists(join(archive, last)))) {
    if (Date.now() > deadline) {
      const st = (await pg.query('SELECT last_failed_wal, last_failed_time FROM pg_stat_archiver'))[0] ?? []
      throw new BackupError(`WAL segment ${last} was not archived within 120 s${st[0] ? ` (archiving ${st[0]} failed)` : ''}`)
    }
    await sleep(100)
  }
  const first = segmentName(tli, lsnToBig(parent.end_lsn), segSize)
  const from = segnoOf(first, segSize)
  const to = segnoOf(last, segSize)
  const names = (await readdir(archive)).filter((n) => /^[0-9A-F]{24}$/.test(n) && n.startsWith(hex8(tli)) && segnoOf(n, segSize) >= from && segnoOf(n, segSize) <= to).sort()
  if (BigInt(names.length) !== to - from + 1n) {
    const have = new Set(names)
    let missing = ''
    for (let s = from; s <= to && !missing; s++) {
      const perId = 0x100000000n / BigInt(segSize)
      const n = hex8(tli) + hex8(s / perId) + hex8(s % perId)
      if (!have.has(n)) missing = n
    }
    throw new BackupError(`WAL segment ${missing} since the parent backup is no longer in the archive: take a full backup`)
  }
  try {
    const { tool: r, stored } = await toolToStore({ file: 'tar', args: ['-c', '-f', '-', '-C', archive, ...names], asUser: false }, ctx.user, storeDir, info.id, WAL_EXT)
    checkTool('tar of the archived WAL', r)
    await writeMeta(storeDir, info.id, {
      engine: 'postgresql',
      type: 'incremental',
      timeline: tli,
      end_lsn: lsn,
      target_lsn: lsn,
      segment_size: segSize,
      archive: archiveStart(tli, lsn, segSize),
    } satisfies PostgresMeta)
    return stored
  } catch (e) {
    await removePartial(storeDir, info.id, [WAL_EXT])
    throw e
  }
}

/**
 * The backup's consistent point in the log: the segment holding it, and a time taken
 * once the tool reported it, so every commit before that point is at or before the time
 * (a restore to any time from it on reaches consistency first).
 */
function archiveStart(tli: number, lsn: string, segSize: number): ArchiveStart {
  return { seq: Number(segnoOf(segmentName(tli, lsnToBig(lsn), segSize), segSize)), position: `${tli}/${lsn}`, time: new Date().toISOString() }
}

/**
 * wal_segment_size (fixed at initdb): the size of any segment in pg_wal (segments are
 * created at full size), without a psql process beside the backup; else asked.
 */
async function walSegmentSize(ctx: PostgresBackupContext, pg: PostgresClient): Promise<number> {
  const walDir = join(ctx.paths.data, 'pg_wal')
  const name = (await readdir(walDir).catch(() => [] as string[])).find((n) => /^[0-9A-F]{24}$/.test(n))
  const size = name ? (await stat(join(walDir, name)).catch(() => undefined))?.size : undefined
  // A power of two from 1 MB to 1 GB, as initdb allows.
  if (size && size >= 1 << 20 && size <= 1 << 30 && (size & (size - 1)) === 0) return size
  return Number((await pg.query("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'"))[0]?.[0] ?? 16777216)
}

/** After a full backup, segments before its end point are needed by no later incremental of this instance. */
async function pruneArchive(archive: string, keepFrom: string, segSize: number): Promise<void> {
  const from = segnoOf(keepFrom, segSize)
  for (const n of await readdir(archive)) {
    if (/^[0-9A-F]{24}$/.test(n) && n.slice(0, 8) === keepFrom.slice(0, 8) && segnoOf(n, segSize) < from) await rm(join(archive, n), { force: true })
  }
}

/**
 * Restore: the base tar unpacked as the run user into a scratch dir beside the data dir
 * while its MD5 is checked, then (every file of the chain matched) its entries renamed
 * into the empty data dir (0700): one read of the file, no copy. With incrementals,
 * their WAL goes to tmp/restore-wal (the run user's: restore_command runs as it), and
 * the data dir gets recovery.signal plus restore_command / recovery_target_lsn /
 * promote in postgresql.auto.conf: recovery that cannot reach the target fails instead
 * of promoting early, and afterRestore waits for the promotion and removes those
 * settings again.
 */
export async function postgresRestore(ctx: PostgresBackupContext, spec: RestoreSpec): Promise<void> {
  if (!spec.chain.length) throw new BackupError(`backup ${spec.backupId} has no files to restore`)
  const [full, ...incs] = spec.chain
  const data = ctx.paths.data
  const base = join(ctx.paths.tmp, 'restore-base')
  const wal = restoreWalDir(ctx.paths)
  for (const dir of incs.length ? [base, wal] : [base]) {
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { mode: 0o700 })
    await chown(dir, ctx.user.uid, ctx.user.gid)
  }
  try {
    // Independent files: unpacked (and checked) side by side, none into the data dir yet.
    await Promise.all([
      unpackVerified(full!, `unpacking backup ${full!.id}`, { file: 'tar', args: ['-x', '-f', '-', '-C', base], asUser: true }, ctx.user),
      ...incs.map((b) => unpackVerified(b, `unpacking the WAL of backup ${b.id}`, { file: 'tar', args: ['-x', '-f', '-', '-C', wal], asUser: true }, ctx.user)),
    ])
    await moveEntries(base, data)
  } catch (e) {
    await rm(wal, { recursive: true, force: true })
    throw e
  } finally {
    await rm(base, { recursive: true, force: true })
  }
  await chmod(data, 0o700)
  let recovery: string
  if (spec.pitr) {
    // Point in time: the source's archive (then the chain's own WAL) up to the target.
    const fullMeta = await metaFor<PostgresMeta>(full!.location, full!.id)
    recovery = await pitrRecoveryConf(ctx, spec.pitr, incs.length ? wal : undefined, fullMeta?.segment_size ?? 16 << 20)
  } else {
    if (!incs.length) return
    const last = await metaFor<PostgresMeta>(incs[incs.length - 1]!.location, incs[incs.length - 1]!.id)
    if (!last?.target_lsn) throw new BackupError(`backup ${spec.backupId} has no recovery target in its metadata`)
    recovery = `restore_command = ${pgLit(`cp "${wal}/%f" "%p"`)}\nrecovery_target_lsn = ${pgLit(last.target_lsn)}\nrecovery_target_action = 'promote'\n`
  }
  const auto = join(data, 'postgresql.auto.conf')
  await appendFile(auto, `${RESTORE_MARK}\n${recovery}`)
  await chown(auto, ctx.user.uid, ctx.user.gid)
  await writeFile(join(data, 'recovery.signal'), '', { mode: 0o600 })
  await chown(join(data, 'recovery.signal'), ctx.user.uid, ctx.user.gid)
}

const RESTORE_MARK = '# trove restore (removed once recovery is done)'
const restoreWalDir = (paths: InstancePaths): string => join(paths.tmp, 'restore-wal')

/** Once the restored engine answers: wait for the end of recovery, then drop the recovery settings. */
export async function postgresAfterRestore(ctx: PostgresBackupContext, spec: RestoreSpec): Promise<void> {
  if (spec.chain.length < 2 && !spec.pitr) return
  const pg = await ctx.client()
  const deadline = Date.now() + 600_000
  while ((await pg.query('SELECT pg_is_in_recovery()'))[0]?.[0] === 't') {
    if (Date.now() > deadline) throw new BackupError('recovery of the restored WAL did not finish within 600 s')
    await sleep(100)
  }
  // ALTER SYSTEM refuses a transaction block: one statement at a time.
  await pg.query([
    'ALTER SYSTEM RESET restore_command',
    'ALTER SYSTEM RESET recovery_target_lsn',
    'ALTER SYSTEM RESET recovery_target_time',
    'ALTER SYSTEM RESET recovery_target_inclusive',
    'ALTER SYSTEM RESET recovery_target_action',
    'SELECT pg_reload_conf()',
  ])
  await rm(restoreWalDir(ctx.paths), { recursive: true, force: true })
  if (spec.pitr) for (const f of [PITR_SCRIPT, PITR_WAL]) await rm(join(ctx.paths.tmp, f), { recursive: true, force: true })
  ctx.log(
    spec.pitr
      ? `restore: archive replayed to ${spec.pitr.target === 'latest' ? 'its end' : spec.pitr.target.time}, promoted`
      : `restore: WAL replayed up to the recovery target of backup ${spec.backupId}, promoted`,
  )
}
