import type { AgentBootstrap, ArchiveStatus, BackupInfo, ReplicaSpec, RestoreSpec } from '../../protocol/index.js'
import type { StoredBackup } from './backup-files.js'
import type { Accounts } from './accounts.js'
import type { Overrides } from './overrides.js'
import type { EngineReplication } from './replication.js'
import type { GuestLogDef } from '../guest-log.js'

export type { EngineCommand, EngineContext, InstancePaths, RunUser } from './context.js'
import type { EngineCommand } from './context.js'

/** An init command for a template data dir, and what else shapes the files it writes. */
export interface TemplateInit {
  command: EngineCommand
  /** Files the command reads (its config), at paths derived from the data dir's; written before it runs, removed after. */
  files: Array<{ path: string; text: string }>
  /** Anything else the output depends on (e.g. the host name MariaDB writes into its grant tables). */
  extra: Record<string, string>
}

/**
 * The engine's log archiver (protocol/archive.ts): streams the log into the archive
 * directory while the engine runs and resumes where the archive stops after any
 * restart. Started by the agent once the engine answers, stopped before the engine is.
 */
export interface Archiver {
  start(): Promise<void>
  stop(): Promise<void>
  /** For each heartbeat; never throws. */
  status(): ArchiveStatus
}

/**
 * One database engine as the agent drives it: files, commands and a readiness probe.
 * Process handling (spawn, cgroups, adopt, stop, crash restarts) is common to all
 * engines and lives in the supervisor.
 */
export interface Datastore {
  readonly name: string
  /** Pid files the engine writes, checked in order when re-adopting a running engine. */
  readonly pidFiles: string[]
  /** The engine's own log; its stdout/stderr are appended to it too. */
  readonly logFile: string
  /** Unix sockets the engine creates (checked against the 107-byte limit). */
  readonly sockets: string[]
  /** The signal that stops it gracefully. */
  readonly stopSignal: NodeJS.Signals
  /**
   * Lock files a killed engine leaves behind that would stop the next start when their
   * PID has been reused; removed only once no engine of this instance is running.
   */
  readonly staleFiles: string[]
  /** Writes the config files (and secrets) derived from the bootstrap. */
  writeConfig(): Promise<void>
  /** The command that initialises an empty data dir, if the engine needs one. */
  initCommand(): Promise<EngineCommand | undefined>
  /**
   * Engines with an init command: the command printing the exact version of the program
   * that writes the data files (initdb, mariadbd). Part of the template key.
   */
  versionCommand?(): Promise<EngineCommand>
  /**
   * Engines with an init command: how to initialise a data dir at `dataDir` that any
   * instance of this engine can start from (the shared template cache). It must not
   * depend on the flavor, port, address, server id or instance paths: whatever it
   * returns (with `dataDir` replaced by a placeholder) is hashed into the template key.
   */
  templateInit?(dataDir: string): Promise<TemplateInit>
  /** The server, run in the foreground so its PID is the one the agent supervises. */
  serverCommand(): Promise<EngineCommand>
  /** One readiness check: true when the engine answered a ping/query. Never throws. */
  probe(timeoutMs: number): Promise<boolean>
  /** The engine's own error line in a piece of its log or tool output, if any. */
  faultLine(text: string): string | undefined
  /**
   * Hook for the prepare payload (databases, users, root password). A later issue
   * implements it per engine; until then prepare ignores the payload.
   */
  applyPreparePayload?(payload: AgentBootstrap['prepare']): Promise<void>
  /** Databases, users and root of the running engine (the account RPCs). */
  accounts?(): Promise<Accounts>
  /** update_overrides: persist the attached group's values in the engine's config (remove: none). */
  updateOverrides?(overrides: Overrides, remove: boolean): Promise<void>
  /** apply_overrides: make the values live in the running engine. */
  applyOverrides?(overrides: Overrides): Promise<void>
  /**
   * Backup (create_backup): stream an online backup of the running engine into the
   * directory store `storeDir` (datastores/backup-files.ts), with its metadata. The
   * caller serialises it with other lifecycle operations (supervisor.maintenance).
   */
  backup?(info: BackupInfo, storeDir: string): Promise<StoredBackup>
  /**
   * Restore (create from a backup): fill the empty data dir from the chain, whose files
   * the caller has verified; the engine is not running. Replaces init.
   */
  restoreBackup?(spec: RestoreSpec): Promise<void>
  /**
   * Continuous archiving into `archiveDir` (protocol/archive.ts); engines without it
   * (Redis) leave it out and report no archive.
   */
  archiver?(archiveDir: string): Archiver
  /** After a restore, once the engine answers (e.g. re-create the agent's admin access). */
  afterRestore?(spec: RestoreSpec): Promise<void>
  /**
   * Replica: fill the empty data dir from the source (e.g. pg_basebackup); false when
   * the engine rather initialises normally and copies the data in attachReplica.
   */
  seedReplica?(spec: ReplicaSpec): Promise<boolean>
  /** Replica: once the engine answers, replicate from the source. */
  attachReplica?(spec: ReplicaSpec): Promise<void>
  /** The replication RPCs' engine side (replication.ts), for engines that replicate. */
  readonly replication?: EngineReplication
  /**
   * Re-renders the engine's config files from the bootstrap as it is now (a resize's
   * flavor, an access change, an upgrade's version), keeping secrets and the
   * configuration group's include; the caller restarts or reloads the engine.
   */
  rewriteConfig?(): Promise<void>
  /**
   * update_access on the running engine: make bootstrap.access live (pg_hba + reload,
   * init_connect); false when the engine has no way to check client addresses.
   */
  applyAccess?(): Promise<boolean>
  /** The guest logs this engine exposes (guest_log_list/guest_log_action). */
  guestLogs?(): GuestLogDef[]
  /**
   * An HA member's engine settings (docs/ha.md "Dead links", "Redis durability") on the running engine:
   * `linkTimeoutS` seconds of replication-link timeout (and keepalives well inside it), or the engine's
   * configured values again when `undefined` (the instance left its HA set). Idempotent; returns what it
   * changed (for the log), or undefined when nothing needed to.
   */
  haSettings?(linkTimeoutS: number | undefined): Promise<string | undefined>
}
