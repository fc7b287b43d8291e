import { access, chown, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PostgresReplication } from './replication.js'
import { replicaContextOf, type ReplicaSpec } from '../../../protocol/index.js'
import type { Archiver, Datastore, EngineCommand, EngineContext, TemplateInit } from '../types.js'
import { PostgresArchiver } from './archive.js'
import { exists, lastMatchingLine } from '../../engine-process.js'
import { renderPgHba, renderPostgresConf } from './config.js'
import { postgresPing } from './probe.js'
import { postgresClient } from './driver.js'
import { PostgresAccounts, pgLit } from './users.js'
import type { AgentBootstrap } from '../../../protocol/index.js'
import { applyPreparePayload, type Accounts } from '../accounts.js'
import type { Overrides } from '../overrides.js'
import type { BackupInfo, RestoreSpec } from '../../../protocol/index.js'
import type { StoredBackup } from '../backup-files.js'
import { postgresArchiveConf } from './backup.js'
import { postgresApplyOverrides, postgresOverridesFile, postgresUpdateOverrides } from './overrides.js'
import { keepIncluded } from '../reconfigure.js'
import { postgresGuestLogs } from './logs.js'
import { keepHaSettings, postgresHaSettings } from './ha-settings.js'
import { controlSettings, currentMinimums, keepStandbyMinimums, raiseOverrides, raiseToPrimarySettings } from './standby-minimums.js'
import type { GuestLogDef } from '../../guest-log.js'

/**
 * PostgreSQL: initdb and postgres refuse root, so both run as the run user (setpriv).
 * `postgres -D CONFDIR` stays in the foreground (no pg_ctl daemonising), so the PID
 * the agent spawned is the postmaster it supervises.
 */
export class PostgresqlService implements Datastore {
  readonly name = 'postgresql'
  readonly pidFiles: string[]
  readonly logFile: string
  readonly sockets: string[]
  readonly staleFiles: string[]
  /** SIGINT is a fast shutdown (pg_ctl -m fast): sessions are rolled back, nothing is lost. */
  readonly stopSignal = 'SIGINT' as const

  constructor(private readonly ctx: EngineContext) {
    const p = ctx.paths
    this.pidFiles = [join(p.run, 'postgres.pid'), join(p.data, 'postmaster.pid')]
    this.logFile = join(p.log, 'postgresql.log')
    this.sockets = [join(p.run, `.s.PGSQL.${ctx.bootstrap.port}`)]
    // postgres refuses to start while the PID in these is alive, whoever it is now.
    this.staleFiles = [join(p.data, 'postmaster.pid'), `${this.sockets[0]}.lock`]
  }

  private async bin(name: string): Promise<string> {
    // Read at each use: an upgrade changes the bootstrap's binDir in place.
    const binDir = this.ctx.bootstrap.datastore.binDir
    if (binDir) return join(binDir, name)
    // Debian keeps the server binaries off PATH; use its versioned dir when it exists.
    const debian = `/usr/lib/postgresql/${this.ctx.bootstrap.datastore.version.split('.')[0]}/bin`
    return access(join(debian, name)).then(
      () => join(debian, name),
      () => name,
    )
  }

  async writeConfig(): Promise<void> {
    const b = this.ctx.bootstrap
    const conf = this.ctx.paths.conf
    const files: Array<[string, string]> = [
      ['postgresql.conf', renderPostgresConf({ paths: this.ctx.paths, address: b.address, port: b.port, ramMb: b.flavor.ramMb }) + postgresArchiveConf(this.ctx.paths)],
      ['pg_hba.conf', renderPgHba(b.access)],
      ['pg_ident.conf', ''],
    ]
    for (const [name, text] of files) {
      await writeFile(join(conf, name), text, { mode: 0o600 })
      await chown(join(conf, name), this.ctx.user.uid, this.ctx.user.gid)
    }
  }

  async initCommand(): Promise<EngineCommand> {
    return this.initdb(this.ctx.paths.data)
  }

  private async initdb(dataDir: string): Promise<EngineCommand> {
    return {
      file: await this.bin('initdb'),
      args: ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8', '--auth-local=trust', '--auth-host=scram-sha-256'],
      asUser: true,
    }
  }

  async versionCommand(): Promise<EngineCommand> {
    return { file: await this.bin('initdb'), args: ['--version'], asUser: true }
  }

  /**
   * initdb's output depends only on its arguments and version: the config it writes
   * into the data dir is unused (postgres -D points at conf/). Instances copied from one
   * template share its system identifier. That is fine: the identifier only has to tell
   * apart clusters that exchange WAL, i.e. a primary and its replicas, and a replica is
   * always made from a base backup of its primary, never from the template; backups are
   * kept per instance, so none are mixed up by a shared identifier.
   */
  async templateInit(dataDir: string): Promise<TemplateInit> {
    return { command: await this.initdb(dataDir), files: [], extra: {} }
  }

  async serverCommand(): Promise<EngineCommand> {
    return { file: await this.bin('postgres'), args: ['-D', this.ctx.paths.conf], asUser: true }
  }

  probe(timeoutMs: number): Promise<boolean> {
    return postgresPing(this.sockets[0]!, this.pidFiles[1]!, timeoutMs)
  }

  async accounts(): Promise<Accounts> {
    const b = this.ctx.bootstrap
    return new PostgresAccounts(postgresClient(this.ctx.paths.run, b.port))
  }

  /** The create-time databases, users and root password, before prepare reports HEALTHY. */
  async applyPreparePayload(payload: AgentBootstrap['prepare']): Promise<void> {
    await applyPreparePayload(await this.accounts(), payload)
  }

  /** A standby's group may not go below what its primary runs (standby-minimums.ts): those values are raised. */
  async updateOverrides(overrides: Overrides, remove: boolean): Promise<void> {
    const { overrides: kept, raised } = raiseOverrides(overrides, await currentMinimums(this.ctx.paths))
    if (raised.length && !remove) this.ctx.log(`configuration: raised to what the primary runs (a standby needs it): ${raised.join(', ')}`)
    return postgresUpdateOverrides(this.ctx.paths, this.ctx.user, kept, remove, await this.bin('postgres'))
  }

  async applyOverrides(): Promise<void> {
    const b = this.ctx.bootstrap
    await postgresApplyOverrides(postgresClient(this.ctx.paths.run, b.port))
  }

  guestLogs(): GuestLogDef[] {
    return postgresGuestLogs(this.ctx)
  }

  /** Resize/access/upgrade: postgresql.conf and pg_hba.conf again, with the group's include kept. */
  async rewriteConfig(): Promise<void> {
    await this.writeConfig()
    const file = postgresOverridesFile(this.ctx.paths)
    await keepStandbyMinimums(this.ctx.paths)
    await keepIncluded(join(this.ctx.paths.conf, 'postgresql.conf'), file, `include_if_exists = ${pgLit(file)}`)
    await this.replication.keepIncluded()
    await keepHaSettings(this.ctx.paths)
  }

  haSettings(linkTimeoutS: number | undefined): Promise<string | undefined> {
    return postgresHaSettings(this.ctx.paths, this.ctx.user, postgresClient(this.ctx.paths.run, this.ctx.bootstrap.port), linkTimeoutS)
  }

  /** update_access: pg_hba.conf again, then a reload (new connections are checked against it). */
  async applyAccess(): Promise<boolean> {
    await this.rewriteConfig()
    const b = this.ctx.bootstrap
    await postgresClient(this.ctx.paths.run, b.port).query('SELECT pg_reload_conf()')
    return true
  }

  private repl: PostgresReplication | undefined
  /** Streaming replication (replication.ts). */
  get replication(): PostgresReplication {
    return (this.repl ??= new PostgresReplication(
      this.ctx,
      (n) => this.bin(n),
      (primary) => this.keepPrimarySettings(primary),
    ))
  }

  /** A new replica's data dir is a pg_basebackup of the source (instead of initdb). */
  async seedReplica(spec: ReplicaSpec): Promise<boolean> {
    const seeded = await this.replication.seed(replicaContextOf(spec.snapshot))
    if (seeded) await this.raiseToPrimarySettings()
    return seeded
  }

  /** A hot standby needs the primary's max_connections etc. at least (standby-minimums.ts). */
  private async raiseToPrimarySettings(): Promise<void> {
    await this.keepPrimarySettings(await controlSettings(await this.bin('pg_controldata'), this.ctx.paths.data))
  }

  private async keepPrimarySettings(primary: Record<string, number>): Promise<void> {
    const raised = await raiseToPrimarySettings(this.ctx.paths, this.ctx.user, primary)
    if (raised.length) this.ctx.log(`the primary's settings kept for recovery: ${raised.join(', ')}`)
  }

  /** Once the standby answers: wait until it streams from the source. */
  async attachReplica(spec: ReplicaSpec): Promise<void> {
    await this.replication.attach(replicaContextOf(spec.snapshot))
  }

  // Backups (postgresql/backup.ts).
  async backup(info: BackupInfo, storeDir: string): Promise<StoredBackup> {
    return (await import('./backup.js')).postgresBackup(this.backupContext(), info, storeDir)
  }

  async restoreBackup(spec: RestoreSpec): Promise<void> {
    await (await import('./backup.js')).postgresRestore(this.backupContext(), spec)
    // A backup of a replica carries its standby.signal (pg_basebackup copies it): a restore is a primary.
    await rm(join(this.ctx.paths.data, 'standby.signal'), { force: true })
    // WAL replayed in archive recovery (an incremental chain) is checked like a standby's.
    if (await exists(join(this.ctx.paths.data, 'recovery.signal'))) await this.raiseToPrimarySettings()
  }

  async afterRestore(spec: RestoreSpec): Promise<void> {
    return (await import('./backup.js')).postgresAfterRestore(this.backupContext(), spec)
  }

  /** Continuous WAL archiving (archive.ts). */
  archiver(archiveDir: string): Archiver {
    return new PostgresArchiver(this.backupContext(), archiveDir)
  }

  private backupContext() {
    const b = this.ctx.bootstrap
    return {
      paths: this.ctx.paths,
      user: this.ctx.user,
      port: b.port,
      bin: (n: string) => this.bin(n),
      log: this.ctx.log,
      client: async () => postgresClient(this.ctx.paths.run, b.port),
    }
  }

  faultLine(text: string): string | undefined {
    // Not the "starting up"/"shutting down" refusals: those are clients', not the server's.
    return lastMatchingLine(text, /^(?!.*the database system is (starting up|shutting down)).*(\b(FATAL|PANIC):|initdb: error)/)
  }
}
