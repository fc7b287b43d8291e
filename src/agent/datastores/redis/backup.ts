import { chown, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { BackupInfo, RestoreSpec } from '../../../protocol/index.js'
import type { InstancePaths, RunUser } from '../types.js'
import { BackupError, copyVerified, fileToStore, move, removePartial, writeMeta, type StoredBackup } from '../backup-files.js'
import type { RedisClient } from './users.js'

/** What the Redis backup code needs from the service. */
export interface RedisBackupContext {
  paths: InstancePaths
  user: RunUser
  client(): RedisClient
}

const EXT = '.rdb'
const DUMP = 'dump.rdb'

/** `INFO persistence` as a map. */
async function persistence(redis: RedisClient): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const line of await redis.run(['INFO persistence'])) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim()
  }
  return out
}

/**
 * engines.md 3: note the save counter, BGSAVE, poll until it moves and no save is in
 * progress, check the save succeeded, then stream dump.rdb into the store. Redis
 * writes a new RDB under a temporary name and renames it, so the file opened here
 * stays whole even if a save point fires meanwhile. Redis has no incremental backup
 * (the API refuses one with a 400 before it gets here).
 */
export async function redisBackup(ctx: RedisBackupContext, info: BackupInfo, storeDir: string): Promise<StoredBackup> {
  if (info.backup_type !== 'full') throw new BackupError('redis has no incremental backups')
  const redis = ctx.client()
  // rdb_saves (Redis 7) counts finished saves; LASTSAVE has one-second resolution, so two
  // saves within a second would look like none.
  const counter = (p: Record<string, string>) => Number(p.rdb_saves ?? NaN)
  const before = counter(await persistence(redis))
  const beforeLast = (await redis.run(['LASTSAVE']))[0]
  let started = false
  for (let i = 0; i < 100 && !started; i++) {
    try {
      await redis.run(['BGSAVE'])
      started = true
    } catch (e) {
      // A save (a save point, or an AOF rewrite) already running: wait for it, then ours.
      if (!/in progress|already/i.test((e as Error).message)) throw new BackupError(`BGSAVE failed: ${(e as Error).message}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const deadline = Date.now() + 600_000
  for (;;) {
    const p = await persistence(redis)
    const done = Number.isNaN(before) ? (await redis.run(['LASTSAVE']))[0] !== beforeLast : counter(p) > before
    if (p.rdb_bgsave_in_progress === '0' && done) {
      if (p.rdb_last_bgsave_status !== 'ok') throw new BackupError(`BGSAVE failed (rdb_last_bgsave_status ${p.rdb_last_bgsave_status}); see the redis log`)
      break
    }
    if (Date.now() > deadline) throw new BackupError('BGSAVE did not finish within 600 s')
    // INFO over the unix socket is cheap: a fine poll keeps a small save from waiting on it.
    await new Promise((r) => setTimeout(r, 5))
  }
  try {
    const stored = await fileToStore(join(ctx.paths.data, DUMP), storeDir, info.id, EXT)
    await writeMeta(storeDir, info.id, { engine: 'redis', type: 'full' })
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
 * config/ACL file, not in the data.
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
