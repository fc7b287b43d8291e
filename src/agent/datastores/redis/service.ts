import { randomBytes } from 'node:crypto'
import { chown, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { RedisReplication } from './replication.js'
import { replicaContextOf, type ReplicaSpec } from '../../../protocol/index.js'
import type { Datastore, EngineCommand, EngineContext } from '../types.js'
import { lastMatchingLine } from '../../engine-process.js'
import { renderRedisAcl, renderRedisConf } from './config.js'
import { redisPing } from './probe.js'
import { redisClient } from './driver.js'
import { RedisAccounts } from './users.js'
import type { AgentBootstrap } from '../../../protocol/index.js'
import type { Accounts } from '../accounts.js'
import type { Overrides } from '../overrides.js'
import type { BackupInfo, RestoreSpec } from '../../../protocol/index.js'
import type { StoredBackup } from '../backup-files.js'
import { redisApplyOverrides, redisOverridesFile, redisUpdateOverrides } from './overrides.js'
import { keepIncluded } from '../reconfigure.js'
import { keepHaSettings, redisHaSettings } from './ha-settings.js'
import { redisGuestLogs } from './logs.js'
import type { GuestLogDef } from '../../guest-log.js'

/** File (root, 0600) with the agent's admin password: the ACL `default` user's. */
export const REDIS_ADMIN_SECRET = 'admin.secret'

/**
 * Redis has no user option, so it runs under setpriv as the run user, `daemonize no`
 * keeping the spawned PID. Files it rewrites (ACL SAVE, CONFIG REWRITE) stay 0600
 * because the launcher sets umask 077.
 */
export class RedisService implements Datastore {
  readonly name = 'redis'
  readonly pidFiles: string[]
  readonly logFile: string
  readonly sockets: string[]
  readonly stopSignal = 'SIGTERM' as const
  readonly staleFiles: string[] = []
  private readonly conf: string
  private readonly secretFile: string
  private password: string | undefined

  constructor(private readonly ctx: EngineContext) {
    const p = ctx.paths
    this.conf = join(p.conf, 'redis.conf')
    this.secretFile = join(p.conf, REDIS_ADMIN_SECRET)
    this.pidFiles = [join(p.run, 'redis.pid')]
    this.logFile = join(p.log, 'redis.log')
    this.sockets = [join(p.run, 'redis.sock')]
  }

  async writeConfig(): Promise<void> {
    const b = this.ctx.bootstrap
    const { uid, gid } = this.ctx.user
    // A fresh password per prepare: a re-prepare starts from an empty data dir anyway.
    this.password = randomBytes(24).toString('hex')
    await writeFile(this.secretFile, this.password + '\n', { mode: 0o600 })
    const acl = join(this.ctx.paths.conf, 'users.acl')
    await writeFile(acl, renderRedisAcl(this.password), { mode: 0o600 })
    await chown(acl, uid, gid)
    await writeFile(this.conf, renderRedisConf({ paths: this.ctx.paths, address: b.address, port: b.port, ramMb: b.flavor.ramMb }), {
      mode: 0o600,
    })
    await chown(this.conf, uid, gid)
  }

  async initCommand(): Promise<undefined> {
    return undefined
  }

  async serverCommand(): Promise<EngineCommand> {
    const dir = this.ctx.bootstrap.datastore.binDir
    return { file: dir ? join(dir, 'redis-server') : 'redis-server', args: [this.conf], asUser: true }
  }

  async probe(timeoutMs: number): Promise<boolean> {
    if (this.password === undefined) {
      try {
        this.password = (await readFile(this.secretFile, 'utf8')).trim()
      } catch {
        return false
      }
    }
    return redisPing(this.sockets[0]!, this.password, timeoutMs)
  }

  async accounts(): Promise<Accounts> {
    return new RedisAccounts(redisClient(this.sockets[0]!, this.secretFile))
  }

  /** Redis has no users or databases to create; only a root password (an ACL user, not requirepass). */
  async applyPreparePayload(payload: AgentBootstrap['prepare']): Promise<void> {
    if ((payload.databases ?? []).length + (payload.users ?? []).length > 0) this.ctx.log('prepare: redis has no databases or users; those of the payload are ignored')
    if (payload.rootPassword) await (await this.accounts()).enableRoot(payload.rootPassword)
  }

  updateOverrides(overrides: Overrides, remove: boolean): Promise<void> {
    return redisUpdateOverrides(this.ctx.paths, this.conf, this.ctx.user, overrides, remove)
  }

  applyOverrides(overrides: Overrides): Promise<void> {
    return redisApplyOverrides(redisClient(this.sockets[0]!, this.secretFile), overrides)
  }

  guestLogs(): GuestLogDef[] {
    return redisGuestLogs(this.ctx, this.logFile)
  }

  /**
   * Resize/upgrade: redis.conf again (maxmemory from the flavor), with the group's
   * include kept. Not the password or the ACL file: those stay as they are.
   */
  async rewriteConfig(): Promise<void> {
    const b = this.ctx.bootstrap
    await writeFile(this.conf, renderRedisConf({ paths: this.ctx.paths, address: b.address, port: b.port, ramMb: b.flavor.ramMb }), { mode: 0o600 })
    await chown(this.conf, this.ctx.user.uid, this.ctx.user.gid)
    const file = redisOverridesFile(this.ctx.paths)
    await keepIncluded(this.conf, file, `include ${file}`)
    await this.replication.keepIncluded()
    await keepHaSettings(this.conf, this.ctx.paths)
  }

  haSettings(linkTimeoutS: number | undefined): Promise<string | undefined> {
    return redisHaSettings(this.conf, this.ctx.paths, this.ctx.user, redisClient(this.sockets[0]!, this.secretFile), linkTimeoutS)
  }

  /**
   * Redis authenticates users, not addresses: it has no per-client address check
   * (only `bind`, which picks the listening address, and protected-mode, which only
   * matters without passwords). allowed_cidrs are recorded but not enforced here.
   */
  async applyAccess(): Promise<boolean> {
    return false
  }

  private repl: RedisReplication | undefined
  /** REPLICAOF replication (replication.ts). */
  get replication(): RedisReplication {
    return (this.repl ??= new RedisReplication(this.ctx, this.conf, this.sockets[0]!, this.secretFile))
  }

  /** A new replica: REPLICAOF the source and wait for the first sync. */
  async attachReplica(spec: ReplicaSpec): Promise<void> {
    await this.replication.attach(replicaContextOf(spec.snapshot))
  }

  // Backups (redis/backup.ts).
  async backup(info: BackupInfo, storeDir: string): Promise<StoredBackup> {
    // ACL users are not in the RDB: root's rule (a hash, not the password) goes in the metadata.
    const line = (await redisClient(this.sockets[0]!, this.secretFile).run([['ACL', 'LIST']])).find((l) => l.startsWith('user root on '))
    return (await import('./backup.js')).redisBackup({ ...this.backupContext(), rootAcl: line?.slice('user root '.length) }, info, storeDir)
  }

  async restoreBackup(spec: RestoreSpec): Promise<void> {
    return (await import('./backup.js')).redisRestore(this.backupContext(), spec)
  }

  /** A restored instance keeps the root its backup's instance had (same password). */
  async afterRestore(spec: RestoreSpec): Promise<void> {
    const rules = await (await import('./backup.js')).redisRootOfBackup(spec)
    if (rules)
      await redisClient(this.sockets[0]!, this.secretFile).run([
        ['ACL', 'SETUSER', 'root', 'reset', ...rules.split(' ')],
        ['ACL', 'SAVE'],
      ])
  }

  private backupContext() {
    return { paths: this.ctx.paths, user: this.ctx.user, client: () => redisClient(this.sockets[0]!, this.secretFile), socket: this.sockets[0]!, secretFile: this.secretFile }
  }

  faultLine(text: string): string | undefined {
    // Redis logs why it gives up as its last line (config errors end with the reason too);
    // skip advisory "# WARNING ..." lines (overcommit, THP), which are no reason to fail.
    return lastMatchingLine(text, /^(?!.*# WARNING)\S/)
  }
}
