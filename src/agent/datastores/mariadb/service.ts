import { chown, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Datastore, EngineCommand, EngineContext, TemplateInit } from '../types.js'
import { lastMatchingLine } from '../../engine-process.js'
import { renderMariadbCnf, renderMariadbTemplateCnf } from './config.js'
import { mariadbPing } from './probe.js'
import { MariadbAccounts, mariadbClient } from './users.js'
import type { AgentBootstrap } from '../../../protocol/index.js'
import { applyPreparePayload, type Accounts } from '../accounts.js'
import type { Overrides } from '../overrides.js'
import { mariadbApplyOverrides, mariadbUpdateOverrides } from './overrides.js'

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
    })
    await writeFile(this.cnf, text, { mode: 0o600 })
    await chown(this.cnf, this.ctx.user.uid, this.ctx.user.gid)
  }

  async initCommand(): Promise<EngineCommand> {
    return this.installDb(this.cnf)
  }

  private installDb(cnf: string): EngineCommand {
    const tool = this.flavour === 'mysql' ? 'mysql_install_db' : 'mariadb-install-db'
    return {
      file: this.bin(tool),
      args: [
        `--defaults-file=${cnf}`,
        `--user=${this.ctx.user.name}`,
        '--skip-test-db',
        '--auth-root-authentication-method=socket',
        '--auth-root-socket-user=root',
      ],
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
    return new MariadbAccounts(mariadbClient(this.cnf, this.sockets[0]!))
  }

  /** The create-time databases, users and root password, before prepare reports HEALTHY. */
  async applyPreparePayload(payload: AgentBootstrap['prepare']): Promise<void> {
    await applyPreparePayload(await this.accounts(), payload)
  }

  updateOverrides(overrides: Overrides, remove: boolean): Promise<void> {
    return mariadbUpdateOverrides(this.ctx.paths, this.cnf, this.ctx.user, overrides, remove)
  }

  applyOverrides(overrides: Overrides): Promise<void> {
    return mariadbApplyOverrides(mariadbClient(this.cnf, this.sockets[0]!), overrides)
  }

  faultLine(text: string): string | undefined {
    // Its last [ERROR] lines are follow-ups ("Do you already have another server...",
    // "Aborting"); the reason comes before them.
    return lastMatchingLine(text, /^(?!.*\[ERROR\] (Aborting|Do you already have another))(.*(\[ERROR\]|ERROR:|FATAL))/)
  }
}
