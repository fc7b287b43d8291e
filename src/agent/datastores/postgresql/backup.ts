import { chmod, chown, mkdir, readdir, rm, writeFile, appendFile, access } from 'node:fs/promises'
import { join } from 'node:path'
import type { BackupInfo, RestoreSpec } from '../../../protocol/index.js'
import type { InstancePaths, RunUser } from '../types.js'
import { BackupError, checkTool, metaFor, removePartial, storeSink, streamTool, verifyChain, writeMeta, type StoredBackup } from '../backup-files.js'
import { pgLit, type PostgresClient } from './users.js'

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
interface PostgresMeta { engine: 'postgresql'; type: 'full' | 'incremental'; timeline: number; end_lsn: string; target_lsn?: string; segment_size: number }

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
  const segSize = Number((await pg.query("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size';"))[0]?.[0] ?? 16777216)
  if (info.backup_type === 'full') {
    // From now on every completed segment is archived: the next incremental starts here.
    await mkdir(archive, { recursive: true, mode: 0o700 })
    await chown(archive, ctx.user.uid, ctx.user.gid)
    const out = storeSink(storeDir, info.id, FULL_EXT)
    try {
      const r = await streamTool({
        file: await ctx.bin('pg_basebackup'),
        args: ['-h', ctx.paths.run, '-p', String(ctx.port), '-U', 'postgres', '-D', '-', '-Ft', '-Xfetch', '-c', 'fast', '-v', '--no-manifest'],
        asUser: true,
      }, ctx.user, { sink: out.sink })
      checkTool('pg_basebackup', r)
      const end = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/i.exec(r.stderr)?.[1]
      const tli = Number(/on timeline (\d+)/.exec(r.stderr)?.[1] ?? 1)
      if (!end) throw new BackupError('pg_basebackup did not report its write-ahead log end point')
      await writeMeta(storeDir, info.id, { engine: 'postgresql', type: 'full', timeline: tli, end_lsn: end, segment_size: segSize } satisfies PostgresMeta)
      await pruneArchive(archive, segmentName(tli, lsnToBig(end), segSize), segSize)
      return out.result()
    } catch (e) {
      await removePartial(storeDir, info.id, [FULL_EXT])
      throw e
    }
  }

  if (!info.parent) throw new BackupError('an incremental backup needs its parent')
  const parent = await metaFor<PostgresMeta>(info.parent.location, info.parent.id)
  if (parent?.engine !== 'postgresql') throw new BackupError(`the parent backup ${info.parent.id} has no PostgreSQL WAL metadata`)
  if (!(await access(archive).then(() => true, () => false))) throw new BackupError('this instance has no WAL archive (it was created before WAL archiving was enabled): take a full backup first')
  const [[lsn, tliText]] = (await pg.query('SELECT pg_current_wal_lsn(), (SELECT timeline_id FROM pg_control_checkpoint());')) as [[string, string]]
  const tli = Number(tliText)
  if (tli !== parent.timeline) throw new BackupError(`the instance is on timeline ${tli}, its parent backup on ${parent.timeline}: take a full backup`)
  // A record at or after `lsn` for recovery to stop at, even when nothing was written
  // since the last switch (a switch into an empty segment writes nothing).
  const rows = await pg.query(`SELECT pg_logical_emit_message(false, 'trove', ${pgLit(`backup ${info.id}`)}); SELECT pg_switch_wal();`)
  const switched = rows[rows.length - 1]?.[0] ?? ''
  // The switched segment (the byte before the switch's end) is complete now; wait for the archiver.
  const end = lsnToBig(switched)
  const last = segmentName(tli, end > 0n ? end - 1n : 0n, segSize)
  const deadline = Date.now() + 120_000
  while (!(await access(join(archive, last)).then(() => true, () => false))) {
    if (Date.now() > deadline) {
      const st = (await pg.query('SELECT last_failed_wal, last_failed_time FROM pg_stat_archiver;'))[0] ?? []
      throw new BackupError(`WAL segment ${last} was not archived within 120 s${st[0] ? ` (archiving ${st[0]} failed)` : ''}`)
    }
    await new Promise((r) => setTimeout(r, 100))
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
  const out = storeSink(storeDir, info.id, WAL_EXT)
  try {
    const r = await streamTool({ file: 'tar', args: ['-c', '-f', '-', '-C', archive, ...names], asUser: false }, ctx.user, { sink: out.sink })
    checkTool('tar of the archived WAL', r)
    await writeMeta(storeDir, info.id, { engine: 'postgresql', type: 'incremental', timeline: tli, end_lsn: lsn, target_lsn: lsn, segment_size: segSize } satisfies PostgresMeta)
    return out.result()
  } catch (e) {
    await removePartial(storeDir, info.id, [WAL_EXT])
    throw e
  }
}

/** After a full backup, segments before its end point are needed by no later incremental of this instance. */
async function pruneArchive(archive: string, keepFrom: string, segSize: number): Promise<void> {
  const from = segnoOf(keepFrom, segSize)
  for (const n of await readdir(archive)) {
    if (/^[0-9A-F]{24}$/.test(n) && n.slice(0, 8) === keepFrom.slice(0, 8) && segnoOf(n, segSize) < from) await rm(join(archive, n), { force: true })
  }
}

/**
 * Restore: MD5s first; the base tar unpacked into the empty data dir as the run user
 * (0700). With incrementals, their WAL goes to tmp/restore-wal (the run user's:
 * restore_command runs as it), and the data dir gets recovery.signal plus
 * restore_command / recovery_target_lsn / promote in postgresql.auto.conf: recovery
 * that cannot reach the target fails instead of promoting early, and afterRestore
 * waits for the promotion and removes those settings again.
 */
export async function postgresRestore(ctx: PostgresBackupContext, spec: RestoreSpec): Promise<void> {
  await verifyChain(spec)
  const [full, ...incs] = spec.chain
  const data = ctx.paths.data
  checkTool(`unpacking backup ${full!.id}`, await streamTool({ file: 'tar', args: ['-x', '-f', '-', '-C', data], asUser: true }, ctx.user, { input: full!.location }))
  await chmod(data, 0o700)
  if (!incs.length) return
  const last = await metaFor<PostgresMeta>(incs[incs.length - 1]!.location, incs[incs.length - 1]!.id)
  if (!last?.target_lsn) throw new BackupError(`backup ${spec.backupId} has no recovery target in its metadata`)
  const wal = restoreWalDir(ctx.paths)
  await rm(wal, { recursive: true, force: true })
  await mkdir(wal, { mode: 0o700 })
  await chown(wal, ctx.user.uid, ctx.user.gid)
  for (const b of incs) checkTool(`unpacking the WAL of backup ${b.id}`, await streamTool({ file: 'tar', args: ['-x', '-f', '-', '-C', wal], asUser: true }, ctx.user, { input: b.location }))
  const auto = join(data, 'postgresql.auto.conf')
  await appendFile(auto, `${RESTORE_MARK}\nrestore_command = ${pgLit(`cp "${wal}/%f" "%p"`)}\nrecovery_target_lsn = ${pgLit(last.target_lsn)}\nrecovery_target_action = 'promote'\n`)
  await chown(auto, ctx.user.uid, ctx.user.gid)
  await writeFile(join(data, 'recovery.signal'), '', { mode: 0o600 })
  await chown(join(data, 'recovery.signal'), ctx.user.uid, ctx.user.gid)
}

const RESTORE_MARK = '# trove restore (removed once recovery is done)'
const restoreWalDir = (paths: InstancePaths): string => join(paths.tmp, 'restore-wal')

/** Once the restored engine answers: wait for the end of recovery, then drop the recovery settings. */
export async function postgresAfterRestore(ctx: PostgresBackupContext, spec: RestoreSpec): Promise<void> {
  if (spec.chain.length < 2) return
  const pg = await ctx.client()
  const deadline = Date.now() + 600_000
  while ((await pg.query('SELECT pg_is_in_recovery();'))[0]?.[0] === 't') {
    if (Date.now() > deadline) throw new BackupError('recovery of the restored WAL did not finish within 600 s')
    await new Promise((r) => setTimeout(r, 100))
  }
  await pg.query('ALTER SYSTEM RESET restore_command; ALTER SYSTEM RESET recovery_target_lsn; ALTER SYSTEM RESET recovery_target_action; SELECT pg_reload_conf();')
  await rm(restoreWalDir(ctx.paths), { recursive: true, force: true })
  ctx.log(`restore: WAL replayed up to the recovery target of backup ${spec.backupId}, promoted`)
}
