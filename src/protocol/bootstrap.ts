/**
 * The agent's bootstrap file (upstream's guest_info.conf plus the prepare payload).
 * The server writes it (mode 0600) into the instance directory before it starts the
 * agent; the agent reads it at every start. Holding the prepare payload here lets the
 * agent start the engine at once, without waiting for an RPC round trip, and lets a
 * restarted agent finish an interrupted prepare on its own.
 */
import type { RestoreSpec } from './backup.js'
import type { ReplicaSpec } from './replication.js'
import type { AccessSpec } from './resize.js'
import type { EjectedFence, HaSpec } from './ha.js'

export type EngineManager = 'mariadb' | 'mysql' | 'postgresql' | 'redis'

export interface AgentBootstrap {
  instanceId: string
  datastore: {
    manager: EngineManager
    /** The datastore version name, e.g. '10.11'. */
    version: string
    /** Where the engine's binaries are (e.g. /usr/lib/postgresql/15/bin); PATH when absent. */
    binDir?: string
  }
  /** Path of the server's broker.json ({host, port}); re-read at every reconnect. */
  brokerFile: string
  /**
   * The agent's MQTT credential and `ca`, the PEM of the lab's broker CA: the agent
   * speaks TLS only, checks the broker's certificate against this CA (and the host it
   * dials) before it sends the password, and refuses to connect when `ca` is absent.
   */
  mqtt: { username: string; password: string; ca?: string }
  /** The instance directory: DIR/instances/<id>. */
  baseDir: string
  /** The instance's loopback address and its engine's port on it. */
  address: string
  port: number
  flavor: { ramMb: number; vcpus: number }
  /** Volume size in GB. */
  volumeSize: number
  /** The unprivileged system user the engine runs as. */
  runUser: string
  /** Stable server id for MySQL/MariaDB replication (1..2^31-1). */
  serverId: number
  /** Heartbeat period in milliseconds. */
  heartbeatMs: number
  /**
   * The agent appends its own log to baseDir/agent.log (the `guest` guest log) itself: in a sandbox its
   * output goes to a host file outside the instance. Absent: the server sends its output there.
   */
  ownLog?: boolean
  /** cgroup v1 directories to put the engine into (already created by the server), if any. */
  cgroups?: string[]
  /**
   * A directory shared by the lab's agents (DIR/templates, root 0711) for
   * pre-initialised engine data directories: prepare copies one instead of running
   * initdb/mariadb-install-db each time. Absent: always initialise from scratch.
   */
  templateDir?: string
  /** The lab's backup storage root (a directory store), where backups are written and read. */
  backupDir?: string
  /**
   * Continuous archiving of the engine's log into the store (archive.ts): on while the
   * instance's backup retention is more than 0 days. Absent: off.
   */
  archive?: boolean
  /**
   * The lab's object storage root (a directory store standing in for Swift): published
   * guest logs go to STORAGE/database_logs/<instance>/... Absent: log publishing is not supported.
   */
  storageDir?: string
  /**
   * A sandboxed instance's store (object-store.ts): backups and published logs go through the server's
   * object store at this URL (the lab's gateway, TLS pinned to `mqtt.ca`, the MQTT credential as the
   * login). `backupDir` then only names the store in the locations the agent reports; it never opens it.
   */
  objectStore?: { url: string }
  /**
   * Set by the server when this instance was ejected as its replication set's source (a dead primary
   * replaced by one of its replicas): the agent starts its engine fenced, read-only (PostgreSQL a standby,
   * MariaDB read_only, Redis a replica of `newSource`), until the server's rejoin flow has made it a
   * replica of the new primary (server/tasks/rejoin-replica.ts) and removes this.
   */
  ejected?: EjectedFence
  /**
   * A member of a replication set with automatic failover (ha.ts, docs/ha.md): its heartbeat
   * period, and for the primary the lease it must hold to keep its engine running. Absent: none.
   */
  ha?: HaSpec
  /** Who may connect over TCP (the instance's access); absent or no CIDRs: anyone. */
  access?: AccessSpec
  prepare: {
    databases: Array<{ name: string; character_set?: string; collate?: string }>
    users: Array<{ name: string; password: string; host?: string; databases: Array<{ name: string }> }>
    rootPassword?: string
    /** The configuration group attached at create: written into the engine's config before its first start. */
    overrides?: Record<string, string | number | boolean>
    /** Create from a backup: the data dir is restored from this chain instead of initialised. */
    restore?: RestoreSpec
    /** Create as a replica of another instance (seeded from it, then attached). */
    replica?: ReplicaSpec
    /**
     * A sandbox's data dir was copied by the server from the lab's template (with its template.json):
     * prepare starts the engine from it instead of initialising (and initialises when it does not come up).
     */
    fromTemplate?: boolean
  }
}

/** Broker location file written by the server. */
export interface BrokerLocation {
  host: string
  port: number
}

/** File names inside an instance directory, shared by server (cleanup) and agent. */
export const INSTANCE_FILES = {
  bootstrap: 'agent.json',
  agentPid: 'agent.pid',
  agentLog: 'agent.log',
  /** Written by the agent when prepare finished (upstream .guestagent.prepare.end). */
  prepareDone: 'prepare.done',
  /** Written by a warm sandbox's agent once it waits for its bootstrap (`--await-config`); removed when it has it. */
  awaiting: 'agent.awaiting',
  dataDir: 'data',
  runDir: 'run',
  logDir: 'log',
  confDir: 'conf',
  tmpDir: 'tmp',
} as const

export const DEFAULT_RUN_USER = 'troveguest'
