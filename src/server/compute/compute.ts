import type { AgentBootstrap, EngineManager } from '../../protocol/index.js'
import type { AccessSpec } from '../../protocol/resize.js'
import type { FaultKind } from './faults.js'

/** How an instance is kept apart from the others (docs/isolation.md). */
export type Isolation = 'none' | 'sandbox'

export const ISOLATIONS: readonly Isolation[] = ['none', 'sandbox']

/** What the server gives a compute driver to launch an agent with (the driver adds where things are). */
export type LaunchSpec = Omit<AgentBootstrap, 'baseDir' | 'cgroups'>

/**
 * Where instances live, as the API, the flows and the reconciler see it. Two drivers: LocalCompute
 * (local.ts: processes on this host, `none`) and SandboxedCompute (sandboxed.ts: a runc sandbox, a
 * uid, a volume and a network namespace per instance, `sandbox`), which keeps running the instances
 * an earlier `none` run made through a LocalCompute of its own.
 */
export interface Compute {
  /** What new instances get. */
  readonly isolation: Isolation
  readonly instancesDir: string
  readonly templatesDir: string
  readonly backupsDir: string
  readonly storageDir: string
  instanceDir(id: string): string
  /** What an existing instance has (an instance of an earlier `none` run keeps `none`). */
  isolationOf(id: string): Isolation
  /** Creates what the instance needs before its row exists, and its address. */
  reserve(id: string, manager: EngineManager, inUse: Set<string>): Promise<{ address: string; port: number }>
  /**
   * The id for a new instance with a volume of `volumeGb` when the driver has made its parts ahead (a warm
   * sandbox, sandbox-warm.ts): taken now, its reserve must follow. Undefined: the caller draws an id.
   */
  takeWarm?(volumeGb: number): string | undefined
  /** Whether the driver keeps `id`'s directory though no instance row names it (a warm sandbox); the reconciler leaves it. */
  keeps?(id: string): boolean
  /** Re-asserts an instance's address claim (server start, reconciler). */
  reclaim(id: string, address: string): boolean
  /** Writes the agent's bootstrap and starts the agent. */
  launch(boot: LaunchSpec): Promise<number>
  /** Changes the instance's bootstrap (read, changed, written whole). */
  updateBootstrap(id: string, change: (b: AgentBootstrap) => void): AgentBootstrap
  /** Where the driver reads the lab's replication sets (ids) from when it writes its packet filter. */
  followReplicationSets?(sets: () => string[][]): void
  /** A replication set changed (a member detached, promoted, ejected): the filter follows the records. */
  replicationChanged?(): Promise<void>
  /** Makes the host enforce the instance's access (a packet filter); nothing where the engine alone does. */
  applyAccess(id: string, access: AccessSpec | undefined): Promise<void>
  limitsText(): string
  /** Sets the instance's memory, CPU and pids limits to a flavor; returns the problems (never throws). */
  setLimits(id: string, ramMb: number, vcpus: number): string[] | Promise<string[]>
  /** Why the instance's volume cannot grow to `sizeGb` on this host (undefined: it can, or nothing to grow). */
  volumeGrowthProblem?(id: string, sizeGb: number): string | undefined
  /**
   * Grows the instance's volume to `sizeGb` where the driver made it a filesystem (undefined otherwise);
   * `stopGuest` stops the engine and agent cleanly when the grow must be offline.
   */
  growVolume?(id: string, sizeGb: number, stopGuest: () => Promise<void>): Promise<{ online: boolean } | undefined>
  /** Starts (or restarts) the agent of an instance whose bootstrap exists. */
  spawnAgent(id: string): Promise<number>
  /** The agent's pid on this host, while it runs. */
  agentPid(id: string): number | undefined
  agentAlive(id: string): boolean
  stopAgent(id: string): Promise<void>
  /** Starts what the driver runs for itself once the server runs (an agent ahead of the next create). */
  startStandby?(): void
  /** Stops what the driver runs for itself at server stop (instances keep running). */
  close?(): void | Promise<void>
  hasBootstrap(id: string): boolean
  /** Injects a fault into the instance (faults.ts; lab only, admin only): one line of what was done, or FaultRefused. */
  injectFault(id: string, kind: FaultKind): Promise<string>
  /** Removes an instance for good, every part of it. */
  destroy(id: string, address: string | null): Promise<void>
  /**
   * Removes the parts of instances whose directory is gone (a crash between steps): what the driver
   * finds by name on the host but no instance directory owns. Returns what it removed (the reconciler).
   */
  sweep?(): Promise<string[]>
}
