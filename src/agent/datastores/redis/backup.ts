import { chown, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { BackupInfo, RestoreSpec } from '../../../protocol/index.js'
import type { InstancePaths, RunUser } from '../types.js'
import { BackupError, copyVerified, fileToStore, metaFor, move, removePartial, writeMeta, type StoredBackup } from '../backup-files.js'
import { safeRootRules } from './replication.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { RespConnection } from './resp.js'

/** What the Redis backup code needs from the service. */
export interface RedisBackupContext {
  paths: InstancePaths
  user: RunUser
  /** The admin unix socket and the file holding the admin password (for a direct connection). */
  socket: string
  secretFile: string
  /** Root's ACL rule when root is enabled (password as a hash): kept in the backup's metadata for a restore. */
  rootAcl?: string
}

const EXT = '.rdb'
const DUMP = 'dump.rdb'

/** `INFO persistence` as a map. */
async function persistence(redis: RespConnection): Promise<Record<string, string>> {
  const text = await redis.command(['INFO', 'persistence']).catch((e: Error) => e)
  if (typeof text !== 'string') throw new BackupError(`INFO persistence failed: ${text instanceof Error ? text.message : String(text)}`)
  const out: Record<string, string> = {}
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim()
  }
  return out
}

/**
 * engines.md 3: note the save counter, BGSAVE, poll until it moves and no save is in
 * progress, check the save succeeded, then copy dump.rdb into the store (MD5 on the
 * way). Redis writes a new RDB under a temporary name and renames it, so the file
 * opened here stays whole even if a save point fires meanwhile. Redis has no
 * incremental backup (the API refuses one with a 400 before it gets here).
 */
export async function redisBackup(ctx: RedisBackupContext, info: BackupInfo, storeDir: string): Promise<StoredBackup> {
  if (info.backup_type !== 'full') throw new BackupError('redis has no incremental backups')
  // One connection for the whole backup, so that polling the save every few milliseconds costs next to nothing.
  const redis = await RespConnection.open(ctx.socket, (await readFile(ctx.secretFile, 'utf8')).trim()).catch((e: NodeJS.ErrnoException) => {
    // A socket error (the engine is gone) as it is; an error reply is AUTH's.
    throw e.code ? e : new BackupError(`redis AUTH failed: ${e.message}`)
  })
  try {
    // rdb_saves (Redis 7) counts finished saves; LASTSAVE has one-second resolution, so two
    // saves within a second would look like none.
    const counter = (p: Record<string, string>) => Number(p.rdb_saves ?? NaN)
    const before = counter(await persistence(redis))
    const beforeLast = await redis.command(['LASTSAVE'])
    for (let i = 0; ; i++) {
      const r = await redis.command(['BGSAVE']).catch((e: Error) => e)
      if (!(r instanceof Error)) break
      // A save (a save point, or an AOF rewrite) already running: wait for it, then ours.
      if (!/in progress|already/i.test(r.message) || i >= 1000) throw new BackupError(`BGSAVE failed: ${r.message}`)
      await sleep(10)
    }
    const deadline = Date.now() + 600_000
    for (;;) {
      const p = await persistence(redis)
      const done = Number.isNaN(before) ? (await redis.command(['LASTSAVE'])) !== beforeLast : counter(p) > before
      if (p.rdb_bgsave_in_progress === '0' && done) {
        if (p.rdb_last_bgsave_status !== 'ok') throw new BackupError(`BGSAVE failed (rdb_last_bgsave_status ${p.rdb_last_bgsave_status}); see the redis log`)
        break
      }
      if (Date.now() > deadline) throw new BackupError('BGSAVE did not finish within 600 s')
      // INFO over the open socket is cheap: a fine poll keeps a small save from waiting on it.
      await sleep(2)
    }
  } finally {
    redis.close()
  }
  try {
    const stored = await fileToStore(join(ctx.paths.data, DUMP), storeDir, info.id, EXT)
    await writeMeta(storeDir, info.id, { engine: 'redis', type: 'full', ...(ctx.rootAcl ? { root_acl: ctx.rootAcl } : {}) })
    return stored
  } catch (e) {
    await removePartial(storeDir, info.id, [EXT])
    throw e
  }
}

/**
 * Restore: the RDB copied into tmp with its MD5 checked on the way (one read), then
 * renamed to the empty data dir's dump.rdb (the run user's, 0600), loaded at start
 * (the config has appendonly no: engines.md 3's trap). The admin password lives in the
 * config/ACL file, not in the data; root's rule comes from the backup's metadata
 * (redisRootAfterRestore, once the engine runs).
 */
export async function redisRestore(ctx: RedisBackupContext, spec: RestoreSpec): Promise<void> {
  if (!spec.chain.length) throw new BackupError(`backup ${spec.backupId} has no files to restore`)
  if (spec.chain.length !== 1) throw new BackupError('a redis backup is a single full backup')
  const tmp = join(ctx.paths.tmp, `restore-${DUMP}`)
  await rm(tmp, { force: true })
  await copyVerified(spec.chain[0]!, tmp)
  await chown(tmp, ctx.user.uid, ctx.user.gid)
  await move(tmp, join(ctx.paths.data, DUMP))
}

/** The root rule the restored backup's instance had (from its metadata), when it is safe to apply. */
export async function redisRootOfBackup(spec: RestoreSpec): Promise<string | undefined> {
  const full = spec.chain[0]
  if (!full) return undefined
  return safeRootRules((await metaFor<{ root_acl?: unknown }>(full.location, full.id))?.root_acl)
}
