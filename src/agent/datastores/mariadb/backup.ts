import { chown, mkdir, readFile, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { BackupInfo, RestoreSpec } from '../../../protocol/index.js'
import type { InstancePaths, RunUser } from '../types.js'
import { BackupError, checkTool, metaFor, removePartial, storeSink, streamTool, verifyChain, writeMeta, type StoredBackup } from '../backup-files.js'

/** What the MariaDB backup code needs from the service. */
export interface MariadbBackupContext {
  cnf: string
  paths: InstancePaths
  user: RunUser
  bin(name: string): string
  log(m: string): void
}

/** Metadata of a MariaDB backup: the LSN range (xtrabackup_checkpoints). */
interface MariadbMeta { engine: 'mariadb'; type: 'full' | 'incremental'; from_lsn: string; to_lsn: string }

const EXT = '.xbstream'

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
    const args = [`--defaults-file=${ctx.cnf}`, '--backup', '--user=root', '--stream=xbstream', `--target-dir=${work}`, `--extra-lsndir=${join(work, 'lsn')}`]
    if (info.backup_type === 'incremental') {
      if (!info.parent) throw new BackupError('an incremental backup needs its parent')
      const parent = await metaFor<MariadbMeta>(info.parent.location, info.parent.id)
      if (parent?.engine !== 'mariadb' || !/^\d+$/.test(parent.to_lsn ?? '')) throw new BackupError(`the parent backup ${info.parent.id} has no MariaDB checkpoint metadata`)
      args.push(`--incremental-lsn=${parent.to_lsn}`)
    }
    const out = storeSink(storeDir, info.id, EXT)
    const r = await streamTool({ file: ctx.bin('mariadb-backup'), args, asUser: false }, ctx.user, { sink: out.sink })
    checkTool('mariadb-backup --backup', r)
    const cp = parseCheckpoints(await readFile(join(work, 'lsn', 'xtrabackup_checkpoints'), 'utf8'))
    await writeMeta(storeDir, info.id, { engine: 'mariadb', type: info.backup_type, from_lsn: cp.from_lsn ?? '0', to_lsn: cp.to_lsn ?? '' } satisfies MariadbMeta)
    return out.result()
  } catch (e) {
    await removePartial(storeDir, info.id, [EXT])
    throw e
  } finally {
    await rm(work, { recursive: true, force: true })
  }
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
 * Restore (engines.md 1): every file's MD5 checked first; each stream unpacked with
 * mbstream, the full prepared, each incremental applied in order
 * (`--prepare --incremental-dir`), then moved into the (empty) data dir and given to
 * the run user. The restored mysql.* tables come from the source, whose
 * root@localhost is unix_socket: the agent's admin access keeps working.
 */
export async function mariadbRestore(ctx: MariadbBackupContext, spec: RestoreSpec): Promise<void> {
  await verifyChain(spec)
  const work = join(ctx.paths.tmp, 'restore')
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { recursive: true, mode: 0o700 })
  try {
    const dirs: string[] = []
    for (const [i, b] of spec.chain.entries()) {
      const dir = join(work, String(i))
      await mkdir(dir, { mode: 0o700 })
      const r = await streamTool({ file: ctx.bin('mbstream'), args: ['-x', '-C', dir], asUser: false }, ctx.user, { input: b.location })
      checkTool(`unpacking backup ${b.id} (mbstream)`, r)
      dirs.push(dir)
    }
    const tool = ctx.bin('mariadb-backup')
    checkTool('mariadb-backup --prepare', await streamTool({ file: tool, args: ['--no-defaults', '--prepare', `--target-dir=${dirs[0]}`], asUser: false }, ctx.user))
    for (const [i, dir] of dirs.slice(1).entries()) {
      const r = await streamTool({ file: tool, args: ['--no-defaults', '--prepare', `--target-dir=${dirs[0]}`, `--incremental-dir=${dir}`], asUser: false }, ctx.user)
      checkTool(`mariadb-backup --prepare of incremental backup ${spec.chain[i + 1]!.id}`, r)
    }
    const r = await streamTool({ file: tool, args: ['--no-defaults', '--move-back', `--target-dir=${dirs[0]}`, `--datadir=${ctx.paths.data}`], asUser: false }, ctx.user)
    checkTool('mariadb-backup --move-back', r)
    await chownTree(ctx.paths.data, ctx.user)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** chown -R (the files mariadb-backup wrote are root's). */
async function chownTree(dir: string, user: RunUser): Promise<void> {
  await chown(dir, user.uid, user.gid)
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) await chownTree(p, user)
    else await chown(p, user.uid, user.gid)
  }
}
