import { chown, mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { ArchiveStart, BackupInfo, RestoreSpec } from '../../../protocol/index.js'
import type { InstancePaths, RunUser } from '../types.js'
import { AGENT_DB_USER } from './driver.js'
import { BackupError, checkTool, metaFor, removePartial, streamTool, toolToStore, unpackVerified, writeMeta, type StoredBackup } from '../backup-files.js'

/** What the MariaDB backup code needs from the service. */
export interface MariadbBackupContext {
  cnf: string
  paths: InstancePaths
  user: RunUser
  bin(name: string): string
  log(m: string): void
}

/** Metadata of a MariaDB backup: the LSN range (xtrabackup_checkpoints). */
interface MariadbMeta {
  engine: 'mariadb'
  type: 'full' | 'incremental'
  from_lsn: string
  to_lsn: string
  /** Where the backup's consistent point is in the binlog (PITR replays the archive from there). */
  archive?: ArchiveStart
  /** The GTID position of that point. */
  gtid?: string
}

const EXT = '.xbstream'
/** mariadb-backup's --log-copy-interval (default 1000 ms). */
const LOG_COPY_INTERVAL_MS = 10

/**
 * An online backup with mariadb-backup, streamed as xbstream straight into the store
 * (engines.md 1: `--stream=xbstream`, no copy on disk). An incremental starts at its
 * parent's to_lsn (`--incremental-lsn`, the stream form of --incremental-basedir);
 * `--extra-lsndir` leaves this backup's checkpoints beside the stream, and its
 * to_lsn goes into the metadata for the next incremental. Runs as OS root, which the
 * engine's root@localhost admits by unix_socket.
 */
export async function mariadbBackup(ctx: MariadbBackupContext, info: BackupInfo, storeDir: string): Promise<StoredBackup> {
  const work = join(ctx.paths.tmp, `backup-${info.id}`)
  await rm(work, { recursive: true, force: true })
  await mkdir(join(work, 'lsn'), { recursive: true, mode: 0o700 })
  try {
    // --log-copy-interval: the redo log copier checks every 10 ms, not every second: the
    // backup's end waits for it to reach the final LSN (up to 1 s more on a busy instance).
    const args = [
      `--defaults-file=${ctx.cnf}`,
      '--backup',
      // root on the host; in a sandbox the instance's user, the other unix_socket superuser (driver.ts).
      `--user=${AGENT_DB_USER}`,
      '--stream=xbstream',
      `--log-copy-interval=${LOG_COPY_INTERVAL_MS}`,
      `--target-dir=${work}`,
      `--extra-lsndir=${join(work, 'lsn')}`,
    ]
    if (info.backup_type === 'incremental') {
      if (!info.parent) throw new BackupError('an incremental backup needs its parent')
      const parent = await metaFor<MariadbMeta>(info.parent.location, info.parent.id)
      if (parent?.engine !== 'mariadb' || !/^\d+$/.test(parent.to_lsn ?? '')) throw new BackupError(`the parent backup ${info.parent.id} has no MariaDB checkpoint metadata`)
      args.push(`--incremental-lsn=${parent.to_lsn}`)
    }
    const { tool, stored } = await toolToStore({ file: ctx.bin('mariadb-backup'), args, asUser: false }, ctx.user, storeDir, info.id, EXT)
    checkTool('mariadb-backup --backup', tool)
    const at = new Date().toISOString()
    const cp = parseCheckpoints(await readFile(join(work, 'lsn', 'xtrabackup_checkpoints'), 'utf8'))
    const start = binlogStart(await readFile(join(work, 'lsn', 'xtrabackup_info'), 'utf8').catch(() => ''), at)
    await writeMeta(storeDir, info.id, {
      engine: 'mariadb',
      type: info.backup_type,
      from_lsn: cp.from_lsn ?? '0',
      to_lsn: cp.to_lsn ?? '',
      ...(start ? { archive: start.archive, gtid: start.gtid } : {}),
    } satisfies MariadbMeta)
    return stored
  } catch (e) {
    await removePartial(storeDir, info.id, [EXT])
    throw e
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/**
 * The backup's binlog position from xtrabackup_info (`binlog_pos = filename
 * 'mysql-bin.000002', position '605', GTID of the last change '0-7-9'`), taken while
 * commits were blocked. Its time is when the backup ended: later than the consistent
 * point, so a restore to it or after has everything the backup holds.
 */
export function binlogStart(info: string, time: string): { archive: ArchiveStart; gtid: string } | undefined {
  const m = /^binlog_pos = filename '(mysql-bin\.(\d+))', position '(\d+)'(?:, GTID of the last change '([^']*)')?/m.exec(info)
  if (!m) return undefined
  return { archive: { seq: Number(m[2]), position: `${m[1]}:${m[3]}`, time }, gtid: m[4] ?? '' }
}

function parseCheckpoints(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^\s*(\w+)\s*=\s*(.*?)\s*$/.exec(line)
    if (m) out[m[1]!] = m[2]!
  }
  return out
}

/**
 * Restore (engines.md 1): each stream unpacked with mbstream into a scratch dir while
 * its MD5 is checked (nothing reaches the data dir before every file matched), the
 * full prepared, each incremental applied in order (`--prepare --incremental-dir`),
 * then moved (renamed: same filesystem) into the empty data dir. The run user unpacks,
 * prepares and moves, so the files are its own with no chown pass. The restored
 * mysql.* tables come from the source, whose root@localhost is unix_socket: the
 * agent's admin access keeps working.
 */
export async function mariadbRestore(ctx: MariadbBackupContext, spec: RestoreSpec): Promise<void> {
  if (!spec.chain.length) throw new BackupError(`backup ${spec.backupId} has no files to restore`)
  const work = join(ctx.paths.tmp, 'restore')
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { mode: 0o700 })
  await chown(work, ctx.user.uid, ctx.user.gid)
  try {
    const dirs = spec.chain.map((_, i) => join(work, String(i)))
    for (const dir of dirs) {
      await mkdir(dir, { mode: 0o700 })
      await chown(dir, ctx.user.uid, ctx.user.gid)
    }
    const t0 = Date.now()
    // Independent files: unpacked (and checked) side by side.
    await Promise.all(spec.chain.map((b, i) => unpackVerified(b, `unpacking backup ${b.id} (mbstream)`, { file: ctx.bin('mbstream'), args: ['-x', '-C', dirs[i]!], asUser: true }, ctx.user)))
    const t1 = Date.now()
    const tool = ctx.bin('mariadb-backup')
    checkTool('mariadb-backup --prepare', await streamTool({ file: tool, args: ['--no-defaults', '--prepare', `--target-dir=${dirs[0]}`], asUser: true }, ctx.user))
    for (const [i, dir] of dirs.slice(1).entries()) {
      const r = await streamTool({ file: tool, args: ['--no-defaults', '--prepare', `--target-dir=${dirs[0]}`, `--incremental-dir=${dir}`], asUser: true }, ctx.user)
      checkTool(`mariadb-backup --prepare of incremental backup ${spec.chain[i + 1]!.id}`, r)
    }
    const r = await streamTool({ file: tool, args: ['--no-defaults', '--move-back', `--target-dir=${dirs[0]}`, `--datadir=${ctx.paths.data}`], asUser: true }, ctx.user)
    checkTool('mariadb-backup --move-back', r)
    ctx.log(`restore: ${spec.chain.length} file(s) unpacked and verified in ${t1 - t0} ms, prepared and moved back in ${Date.now() - t1} ms`)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
