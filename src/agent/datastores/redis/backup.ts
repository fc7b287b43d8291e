import { chown, readFile, rm } from 'node:fs/promises'
import { createConnection, type Socket } from 'node:net'
import { join } from 'node:path'
import type { BackupInfo, RestoreSpec } from '../../../protocol/index.js'
import type { InstancePaths, RunUser } from '../types.js'
import { BackupError, copyVerified, fileToStore, metaFor, move, removePartial, writeMeta, type StoredBackup } from '../backup-files.js'
import { safeRootRules } from './replication.js'
import { setTimeout as sleep } from 'node:timers/promises'

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

type Reply = string | number | null | Error

/**
 * A minimal RESP connection over the instance's unix socket: one connection for the
 * whole backup instead of a redis-cli process per command, so that polling the save
 * every few milliseconds costs next to nothing.
 */
class RespConnection {
  private buf = Buffer.alloc(0)
  private readonly waiting: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void }> = []
  private failure: Error | undefined

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d])
      this.drain()
    })
    const fail = (e: Error) => {
      this.failure ??= e
      for (const w of this.waiting.splice(0)) w.reject(e)
    }
    sock.on('error', fail)
    sock.on('close', () => fail(new Error('the redis connection closed')))
  }

  static async open(path: string, password: string): Promise<RespConnection> {
    const sock = createConnection(path)
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve)
      sock.once('error', reject)
    })
    const c = new RespConnection(sock)
    const auth = await c.command('AUTH', password)
    if (auth instanceof Error) {
      c.close()
      throw new BackupError(`redis AUTH failed: ${auth.message}`)
    }
    return c
  }

  command(...args: string[]): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject })
      this.sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''))
    })
  }

  close(): void {
    this.sock.destroy()
  }

  private drain(): void {
    for (;;) {
      const parsed = parseReply(this.buf)
      if (!parsed) return
      this.buf = this.buf.subarray(parsed.used)
      this.waiting.shift()?.resolve(parsed.value)
    }
  }
}

/** One RESP reply (simple string, error, integer, bulk string) at the start of buf, or undefined while incomplete. */
function parseReply(buf: Buffer): { value: Reply; used: number } | undefined {
  const eol = buf.indexOf('\r\n')
  if (eol < 0) return undefined
  const head = buf.subarray(1, eol).toString()
  switch (String.fromCharCode(buf[0]!)) {
    case '+':
      return { value: head, used: eol + 2 }
    case '-':
      return { value: new Error(head), used: eol + 2 }
    case ':':
      return { value: Number(head), used: eol + 2 }
    case '$': {
      const n = Number(head)
      if (n < 0) return { value: null, used: eol + 2 }
      if (buf.length < eol + 2 + n + 2) return undefined
      return { value: buf.subarray(eol + 2, eol + 2 + n).toString(), used: eol + 2 + n + 2 }
    }
    default:
      throw new BackupError(`unexpected redis reply: ${head.slice(0, 80)}`)
  }
}

/** `INFO persistence` as a map. */
async function persistence(redis: RespConnection): Promise<Record<string, string>> {
  const text = await redis.command('INFO', 'persistence')
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
  const redis = await RespConnection.open(ctx.socket, (await readFile(ctx.secretFile, 'utf8')).trim())
  try {
    // rdb_saves (Redis 7) counts finished saves; LASTSAVE has one-second resolution, so two
    // saves within a second would look like none.
    const counter = (p: Record<string, string>) => Number(p.rdb_saves ?? NaN)
    const before = counter(await persistence(redis))
    const beforeLast = await redis.command('LASTSAVE')
    for (let i = 0; ; i++) {
      const r = await redis.command('BGSAVE')
      if (!(r instanceof Error)) break
      // A save (a save point, or an AOF rewrite) already running: wait for it, then ours.
      if (!/in progress|already/i.test(r.message) || i >= 1000) throw new BackupError(`BGSAVE failed: ${r.message}`)
      await sleep(10)
    }
    const deadline = Date.now() + 600_000
    for (;;) {
      const p = await persistence(redis)
      const done = Number.isNaN(before) ? (await redis.command('LASTSAVE')) !== beforeLast : counter(p) > before
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
