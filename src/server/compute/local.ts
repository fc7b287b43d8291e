import { spawn } from 'node:child_process'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { INSTANCE_FILES, type AgentBootstrap, type EngineManager } from '../../protocol/index.js'
import { allocate, claim, release } from './addresses.js'
import { createInstanceGroups, groupPids, instanceGroupDirs, removeInstanceGroups, enforcementText, setInstanceLimits } from './cgroups.js'
import { isAlive, processesUnder, terminate } from './processes.js'
import { ensureBackupStore } from './backup-store.js'
import type { Compute, LaunchSpec } from './compute.js'
import { StandbyAgent } from './standby.js'
import { injectLocalFault, type FaultKind } from './faults.js'
import { Trash } from './trash.js'

/** Standard ports: each instance has its own address, so every engine keeps its usual port. */
export const ENGINE_PORTS: Record<EngineManager, number> = { mariadb: 3306, mysql: 3306, postgresql: 5432, redis: 6379 }

/** bin/trove of this package, whether running from dist/ or from src/ under a TS loader. */
export const TROVE_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bin/trove')

/**
 * V8 flags of every agent (issue 7: <= 60 MB RSS each). An agent mostly waits on the broker and on
 * engine tools, so it runs interpreted (--jitless: no optimising compilers, their threads and code;
 * ~10 MB less) with a 1 MB young generation (a guest call that walks the data directory otherwise
 * grows it by up to 32 MB). The agent loads no WebAssembly, which --jitless turns off.
 */
export const AGENT_NODE_FLAGS = ['--jitless', '--max-semi-space-size=1']

/**
 * The environment of every agent: nothing of the server's but a PATH, and Node's coverage directory
 * where a test run collects the coverage of the processes it starts (test/helpers/lab.ts).
 */
function agentEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', NODE_ENV: 'production' }
  if (process.env.NODE_V8_COVERAGE) env.NODE_V8_COVERAGE = process.env.NODE_V8_COVERAGE
  return env
}

export interface LocalComputeOptions {
  dataDir: string
  log: (m: string) => void
  /** Use cgroup limits (v1 or v2) when the machine allows them (default true). */
  cgroups?: boolean
  /**
   * false: write each agent's bootstrap but start no agent process; agents are run
   * by someone else (tests drive the protocol with scripted agents this way).
   */
  spawnAgents?: boolean
  /** Pre-initialised data dirs for the agents (default DIR/templates); root-owned, 0711. */
  templatesDir?: string
  /** Keep one agent started ahead of the next create (standby.ts); needs spawnAgents. */
  standbyAgent?: boolean
}

/**
 * Where instances live: processes on this host. Each instance is a directory
 * DIR/instances/<id> (its volume), a loopback address of its own, and a detached
 * `trove agent` that runs the engine and outlives the server.
 */
export class LocalCompute implements Compute {
  readonly isolation = 'none' as const
  readonly instancesDir: string
  readonly templatesDir: string
  /** The backup store (backup-store.ts): DIR/backups, root 0700. */
  readonly backupsDir: string
  /** The lab's object store (a directory store for Swift's containers, e.g. database_logs), root 0700. */
  readonly storageDir: string
  private readonly standby: StandbyAgent | undefined
  /** Deleted instances' directories, removed in the background (trash.ts). */
  private readonly trash: Trash
  constructor(private readonly opts: LocalComputeOptions) {
    this.instancesDir = join(opts.dataDir, 'instances')
    this.templatesDir = opts.templatesDir ?? join(opts.dataDir, 'templates')
    this.backupsDir = ensureBackupStore(opts.dataDir)
    this.storageDir = join(opts.dataDir, 'storage')
    mkdirSync(this.instancesDir, { recursive: true, mode: 0o711 })
    mkdirSync(this.templatesDir, { recursive: true, mode: 0o711 })
    // The engines run as an unprivileged user and must traverse down to their directories.
    chmodSync(opts.dataDir, 0o711)
    chmodSync(this.instancesDir, 0o711)
    this.trash = new Trash(join(opts.dataDir, 'trash'), opts.log)
    this.trash.sweep()
    if (opts.standbyAgent && opts.spawnAgents !== false) {
      this.standby = new StandbyAgent({ dataDir: opts.dataDir, instancesDir: this.instancesDir, command: [process.execPath, ...AGENT_NODE_FLAGS, TROVE_BIN], env: agentEnv(), log: opts.log })
    }
  }

  /** Once the server runs: start the standby agent (if the options ask for one). */
  startStandby(): void {
    this.standby?.ensure()
  }

  /** Stops what the driver runs for itself (the standby agent) and ends the trash's removals; instances keep running. */
  async close(): Promise<void> {
    this.standby?.stop()
    await this.trash.settled()
  }

  instanceDir(id: string): string {
    return join(this.instancesDir, id)
  }

  isolationOf(): 'none' {
    return 'none'
  }

  /** Creates the instance directory and claims a free loopback address for it. */
  async reserve(id: string, manager: EngineManager, inUse: Set<string>): Promise<{ address: string; port: number }> {
    const dir = this.instanceDir(id)
    mkdirSync(dir, { recursive: true, mode: 0o711 })
    const port = ENGINE_PORTS[manager]
    try {
      return { address: await allocate(port, dir, inUse), port }
    } catch (e) {
      rmSync(dir, { recursive: true, force: true })
      throw e
    }
  }

  /** Re-asserts an instance's address claim (at server start, e.g. after a reboot emptied /run). */
  reclaim(id: string, address: string): boolean {
    return claim(address, this.instanceDir(id))
  }

  /** Sets up limits, writes the agent's bootstrap (0600) and starts the agent. */
  async launch(boot: LaunchSpec): Promise<number> {
    return this.launchNow(boot)
  }

  /** launch(), synchronously (the sandboxed driver's legacy instances use it too). */
  launchNow(boot: LaunchSpec): number {
    const baseDir = this.instanceDir(boot.instanceId)
    const cgroups = this.opts.cgroups === false ? [] : createInstanceGroups(boot.instanceId, boot.flavor.ramMb, boot.flavor.vcpus, this.opts.log)
    const full: AgentBootstrap = { ...boot, baseDir, cgroups, templateDir: this.templatesDir, backupDir: this.backupsDir, storageDir: this.storageDir }
    const file = join(baseDir, INSTANCE_FILES.bootstrap)
    writeFileSync(file, JSON.stringify(full, null, 2), { mode: 0o600 })
    chmodSync(file, 0o600)
    return this.spawnNow(boot.instanceId)
  }

  /**
   * Changes an instance's agent.json (resize, upgrade, access): read, changed by
   * `change`, written to a temporary file (0600) and renamed over it, so an agent
   * starting meanwhile reads the old or the new file, never half of one.
   */
  updateBootstrap(id: string, change: (b: AgentBootstrap) => void): AgentBootstrap {
    const file = join(this.instanceDir(id), INSTANCE_FILES.bootstrap)
    const b = JSON.parse(readFileSync(file, 'utf8')) as AgentBootstrap
    change(b)
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(b, null, 2), { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, file)
    return b
  }

  /**
   * Sets the cgroup limits of an instance to a flavor (resize): memory from its RAM, CPU
   * quota from its vCPUs, in the groups its engine runs in (v1 or v2, cgroups.ts). Returns
   * the problems (a memory limit the kernel refuses because the group uses more than it:
   * EBUSY) instead of throwing; none when cgroups are off.
   */
  /** What of the flavor's limits this host enforces, in one line (banner, hwinfo). */
  limitsText(): string {
    return this.opts.cgroups === false ? 'not enforced (cgroups turned off)' : enforcementText()
  }

  setLimits(id: string, ramMb: number, vcpus: number): string[] {
    if (this.opts.cgroups === false) return []
    return setInstanceLimits(id, ramMb, vcpus)
  }

  /** Allowed CIDRs are the engine's to enforce here (every instance is on the host's loopback). */
  async applyAccess(): Promise<void> {}

  /** Starts (or restarts) the agent of an instance whose bootstrap exists. */
  async spawnAgent(id: string): Promise<number> {
    return this.spawnNow(id)
  }

  spawnNow(id: string): number {
    if (this.opts.spawnAgents === false) return 0
    const baseDir = this.instanceDir(id)
    const warm = this.standby?.take(baseDir)
    if (warm) {
      setImmediate(() => this.standby?.ensure())
      return warm
    }
    const log = openSync(join(baseDir, INSTANCE_FILES.agentLog), 'a', 0o600)
    try {
      // Detached in its own session: the agent and its engine outlive the server. Started
      // through `env -u NODE_OPTIONS` (which execs in place, so the pid is the agent's): an
      // agent must not inherit loaders or inspectors that a wrapper (a test runner, a
      // profiler) injects into the server's children.
      const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, ...AGENT_NODE_FLAGS, TROVE_BIN, 'agent', '--config', join(baseDir, INSTANCE_FILES.bootstrap)], {
        detached: true,
        stdio: ['ignore', log, log],
        cwd: baseDir,
        env: agentEnv(),
      })
      child.unref()
      return child.pid ?? 0
    } finally {
      closeSync(log)
    }
  }

  agentPid(id: string): number | undefined {
    try {
      const dir = this.instanceDir(id)
      const pid = Number(readFileSync(join(dir, INSTANCE_FILES.agentPid), 'utf8').trim())
      if (!Number.isInteger(pid) || pid <= 0) return undefined
      // A stale pid file may name a recycled pid: only a process started for this instance counts.
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir + '/') ? pid : undefined
    } catch {
      return undefined
    }
  }

  agentAlive(id: string): boolean {
    return isAlive(this.agentPid(id))
  }

  /** Stops the agent only (SIGTERM: the engine keeps running and is re-adopted). */
  async stopAgent(id: string): Promise<void> {
    const pid = this.agentPid(id)
    if (pid && isAlive(pid)) await terminate([pid], 5000)
  }

  /** An admin's fault verb (faults.ts): signals to the instance's own processes; no partition (no network of its own). */
  injectFault(id: string, kind: FaultKind): Promise<string> {
    return injectLocalFault({ id, dir: this.instanceDir(id), agentPid: this.agentPid(id), groupDirs: this.opts.cgroups === false ? [] : instanceGroupDirs(id) }, kind)
  }

  hasBootstrap(id: string): boolean {
    return existsSync(join(this.instanceDir(id), INSTANCE_FILES.bootstrap))
  }

  /**
   * Removes an instance for good: every process of it (agent first, so it cannot
   * restart the engine), its cgroups, its directory and its address claim.
   */
  async destroy(id: string, address: string | null): Promise<void> {
    const dir = this.instanceDir(id)
    const agent = this.agentPid(id)
    if (agent && isAlive(agent) && (await terminate([agent], 5000)).length) this.opts.log(`instance ${id}: its agent had not ended 5 s after SIGTERM: killed`)
    const groups = instanceGroupDirs(id)
    const pids = new Set([...processesUnder(dir), ...groupPids(groups)])
    if (pids.size) await terminate([...pids], 15_000)
    if (!(await removeInstanceGroups(groups))) this.opts.log(`instance ${id}: cgroups still busy, left in place: ${groups.join(' ')}`)
    this.trash.discard(dir)
    if (address) release(address, dir)
  }
}
