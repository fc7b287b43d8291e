import { chown, lstat, mkdir, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { MariadbReplication } from './replication.js'
import { replicaContextOf, type ReplicaSpec } from '../../../protocol/index.js'
import type { Archiver, Datastore, EngineCommand, EngineContext, TemplateInit } from '../types.js'
import { lastMatchingLine } from '../../engine-process.js'
import { mariadbFilesDir, renderMariadbCnf, renderMariadbTemplateCnf } from './config.js'
import { mariadbPing } from './probe.js'
import { AGENT_DB_USER, mariadbClient } from './driver.js'
import { MariadbAccounts } from './users.js'
import type { AgentBootstrap } from '../../../protocol/index.js'
import { applyPreparePayload, type Accounts } from '../accounts.js'
import type { Overrides } from '../overrides.js'
import type { BackupInfo, RestoreSpec } from '../../../protocol/index.js'
import type { StoredBackup } from '../backup-files.js'
import { mariadbApplyOverrides, mariadbOverridesFile, mariadbUpdateOverrides } from './overrides.js'
import { keepIncluded } from '../reconfigure.js'
import { mariadbInitConnect } from './access.js'
import { keepHaSettings, mariadbHaSettings } from './ha-settings.js'
import { mariadbGuestLogs } from './logs.js'
import { MariadbArchiver } from './archive.js'
import type { PreparedReplay } from './pitr.js'
import type { GuestLogDef } from '../../guest-log.js'

/**
 * MariaDB (and `mysql`, which on Debian is the same server): mariadbd runs as root in
 * the foreground and drops to the run user itself (`user=` in the cnf), and
 * `--defaults-file` first on every command line keeps /etc/mysql out (engines.md 1).
 */
export class MariadbService implements Datastore {
  readonly name: string
  readonly pidFiles: string[]
  readonly logFile: string
  readonly sockets: string[]
  readonly stopSignal = 'SIGTERM' as const
  readonly staleFiles: string[] = []
  private readonly cnf: string

  constructor(
    private readonly ctx: EngineContext,
    private readonly flavour: 'mariadb' | 'mysql',
  ) {
    const p = ctx.paths
    this.name = flavour
    this.cnf = join(p.conf, 'my.cnf')
    this.pidFiles = [join(p.run, 'mysqld.pid')]
    this.logFile = join(p.log, 'error.log')
    this.sockets = [join(p.run, 'mysqld.sock')]
  }

  private bin(name: string): string {
    const dir = this.ctx.bootstrap.datastore.binDir
    return dir ? join(dir, name) : name
  }

  async writeConfig(): Promise<void> {
    const b = this.ctx.bootstrap
    const text = renderMariadbCnf({
      paths: this.ctx.paths,
      address: b.address,
      port: b.port,
      runUser: b.runUser,
      serverId: b.serverId,
      ramMb: b.flavor.ramMb,
      access: b.access,
    })
    await writeFile(this.cnf, text, { mode: 0o600 })
    await chown(this.cnf, this.ctx.user.uid, this.ctx.user.gid)
    await this.filesDir()
  }

  /**
   * secure_file_priv's directory (config.ts), made before the server starts (it refuses
   * a missing one). In the instance's base dir, which only root writes, so nothing there
   * is the tenant's link; still checked with lstat, never followed.
   */
  private async filesDir(): Promise<void> {
    const dir = mariadbFilesDir(this.ctx.paths)
    await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e
    })
    const st = await lstat(dir)
    if (!st.isDirectory()) throw new Error(`${dir} is not a directory`)
    await chown(dir, this.ctx.user.uid, this.ctx.user.gid)
  }

  async initCommand(): Promise<EngineCommand> {
    return this.installDb(this.cnf)
  }

  private installDb(cnf: string): EngineCommand {
    const tool = this.flavour === 'mysql' ? 'mysql_install_db' : 'mariadb-install-db'
    return {
      file: this.bin(tool),
      args: [`--defaults-file=${cnf}`, `--user=${this.ctx.user.name}`, '--skip-test-db', '--auth-root-authentication-method=socket', `--auth-root-socket-user=${AGENT_DB_USER}`],
      asUser: false,
    }
  }

  /** install-db is a script; the server binary it runs in bootstrap mode writes the files. */
  async versionCommand(): Promise<EngineCommand> {
    return { ...(await this.serverCommand()), args: ['--version'] }
  }

  /**
   * The template's cnf sits beside its data dir (not in it: it would be copied) and has
   * only what shapes install-db's files. root@localhost (unix_socket) is host-independent,
   * but install-db also writes a proxies_priv row for this host, hence the host name.
   */
  async templateInit(dataDir: string): Promise<TemplateInit> {
    const cnf = `${dataDir}.cnf`
    return {
      command: this.installDb(cnf),
      files: [{ path: cnf, text: renderMariadbTemplateCnf({ dataDir, runUser: this.ctx.user.name }) }],
      extra: { hostname: hostname() },
    }
  }

  async serverCommand(): Promise<EngineCommand> {
    return { file: this.bin(this.flavour === 'mysql' ? 'mysqld' : 'mariadbd'), args: [`--defaults-file=${this.cnf}`], asUser: false }
  }

  probe(timeoutMs: number): Promise<boolean> {
    return mariadbPing(this.sockets[0]!, timeoutMs)
  }

  async accounts(): Promise<Accounts> {
    return new MariadbAccounts(mariadbClient(this.sockets[0]!))
  }

  /** The create-time databases, users and root password, before prepare reports HEALTHY. */
  async applyPreparePayload(payload: AgentBootstrap['prepare']): Promise<void> {
    await applyPreparePayload(await this.accounts(), payload)
  }

  updateOverrides(overrides: Overrides, remove: boolean): Promise<void> {
    return mariadbUpdateOverrides(this.ctx.paths, this.cnf, this.ctx.user, overrides, remove)
  }

  applyOverrides(overrides: Overrides): Promise<void> {
    return mariadbApplyOverrides(mariadbClient(this.sockets[0]!), overrides)
  }

  guestLogs(): GuestLogDef[] {
    return mariadbGuestLogs(this.ctx, this.cnf, this.logFile, mariadbClient(this.sockets[0]!))
  }

  /** Resize/access/upgrade: my.cnf again (no secrets in it), with the group's include kept. */
  async rewriteConfig(): Promise<void> {
    await this.writeConfig()
    const file = mariadbOverridesFile(this.ctx.paths)
    await keepIncluded(this.cnf, file, `!include ${file}`)
    await this.replication.keepIncluded()
    await keepHaSettings(this.cnf, this.ctx.paths)
  }

  haSettings(linkTimeoutS: number | undefined): Promise<string | undefined> {
    return mariadbHaSettings(this.cnf, this.ctx.paths, this.ctx.user, mariadbClient(this.sockets[0]!), linkTimeoutS)
  }

  /** update_access: my.cnf for the next start, SET GLOBAL init_connect for new connections now. */
  async applyAccess(): Promise<boolean> {
    await this.rewriteConfig()
    await mariadbClient(this.sockets[0]!).query({ sql: 'SET GLOBAL init_connect = ?', values: [mariadbInitConnect(this.ctx.bootstrap.access) ?? ''] })
    return true
  }

  private repl: MariadbReplication | undefined
  /** GTID replication (replication.ts). */
  get replication(): MariadbReplication {
    return (this.repl ??= new MariadbReplication(this.ctx, this.cnf, this.sockets[0]!))
  }

  /** A new replica: initialised normally, then loaded from the source and attached. */
  async attachReplica(spec: ReplicaSpec): Promise<void> {
    await this.replication.attach(replicaContextOf(spec.snapshot))
  }

  // Backups (mariadb/backup.ts), loaded only when used.
  async backup(info: BackupInfo, storeDir: string): Promise<StoredBackup> {
    return (await import('./backup.js')).mariadbBackup(this.backupContext(), info, storeDir)
  }

  /** A restore to a point in time: the archive's copies, stop position and plan, made beside the base restore. */
  private replayPrepared: Promise<PreparedReplay> | undefined

  async restoreBackup(spec: RestoreSpec): Promise<void> {
    if (spec.pitr) {
      const prepared = import('./pitr.js').then((m) => m.prepareMariadbReplay(this.archiveContext(), spec.pitr!))
      // Awaited by afterRestore; handled here too, so that a fault before then is not an unhandled rejection.
      prepared.catch(() => undefined)
      this.replayPrepared = prepared
    }
    try {
      await (await import('./backup.js')).mariadbRestore(this.backupContext(), spec)
    } catch (e) {
      // No replay follows: its copies go.
      await this.replayPrepared?.then(
        (p) => p.discard(),
        () => undefined,
      )
      this.replayPrepared = undefined
      throw e
    }
  }

  private backupContext() {
    return { cnf: this.cnf, paths: this.ctx.paths, user: this.ctx.user, bin: (n: string) => this.bin(n), log: this.ctx.log }
  }

  private archiveContext() {
    return { paths: this.ctx.paths, user: this.ctx.user, socket: this.sockets[0]!, db: mariadbClient(this.sockets[0]!), bin: (n: string) => this.bin(n), log: this.ctx.log }
  }

  /** Binlogs streamed into the archive (mariadb/archive.ts). */
  archiver(archiveDir: string): Archiver {
    return new MariadbArchiver({ ...this.archiveContext(), archiveDir })
  }

  /** Point-in-time recovery: the source's archive replayed on the restored data, the engine up (mariadb/pitr.ts). */
  async afterRestore(spec: RestoreSpec): Promise<void> {
    if (!spec.pitr) return
    const prepared = this.replayPrepared
    this.replayPrepared = undefined
    await (await import('./pitr.js')).mariadbReplay(this.archiveContext(), spec.pitr, prepared)
  }

  faultLine(text: string): string | undefined {
    // Its last [ERROR] lines are follow-ups ("Do you already have another server...",
    // "Aborting"); the reason comes before them.
    return lastMatchingLine(text, /^(?!.*\[ERROR\] (Aborting|Do you already have another))(.*(\[ERROR\]|ERROR:|FATAL))/)
  }
}
