import { existsSync, lstatSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GB } from '../../common/units.js'
import { INSTANCE_FILES, type AgentBootstrap, type BrokerLocation, type EngineManager } from '../../protocol/index.js'
import type { AccessSpec } from '../../protocol/resize.js'
import type { Compute, Isolation, LaunchSpec } from './compute.js'
import { AGENT_NODE_FLAGS, ENGINE_PORTS, LocalCompute, TROVE_BIN, type LocalComputeOptions } from './local.js'
import { DEFAULT_CLAIM_DIR, ensureLabNetwork, type LabNetwork } from './network.js'
import { destroySandbox, sandboxCgroupParent, sandboxCgroupPath, type SandboxRuntime } from './sandbox.js'
import { SandboxTemplates } from './sandbox-template.js'
import { Sweeper } from './sandbox-sweep.js'
import { destroySandboxedInstance } from './sandbox-destroy.js'
import { recoverSandboxes } from './sandbox-recover.js'
import { launchInSandbox } from './sandbox-launch.js'
import { hostSeccomp, type OciSeccomp } from './seccomp.js'
import type { UidOptions } from './uids.js'
import { readInVolume, writeInVolume } from './volume-files.js'
import { firewallCidrs, labIdOf, SANDBOX_HOST_HINT, SANDBOX_RECORD, sandboxedInstanceIds, sandboxHostProblem, sweepOrphanLabs } from './sandbox-host.js'
import {
  AGENT_PID_FILE,
  agentArgs,
  agentBinds,
  guestBootstrap,
  livePidIn,
  readSandboxRecord,
  SANDBOX_BROKER_FILE,
  SANDBOX_ENV,
  type SandboxRecord,
  sandboxLimits,
  writeSandboxRecord,
} from './sandbox-guest.js'
import { destroyVolume, mountVolume, type VolumePaths } from './volume.js'
import { claimedNetKeys, poolSizeFrom, SandboxPools } from './sandbox-pool.js'
import { WARM_MAX, WarmSandboxes, warmLimits } from './sandbox-warm.js'
import { LabRules } from './sandbox-rules.js'
import { makeWarm, newVolume, reserveParts, startSandbox } from './sandbox-build.js'
import { stopSandboxAgent } from './sandbox-stop.js'
import { growSandboxVolume, updateSandboxLimits, volumeGrowthProblem } from './sandbox-resize.js'
import { injectSandboxFault, type FaultKind } from './faults.js'

export { SANDBOX_BROKER_FILE, SANDBOX_USER } from './sandbox-guest.js'

export interface SandboxedComputeOptions extends LocalComputeOptions {
  /** The range the lab's /24 is carved from (network.ts; default 10.213.0.0/16). */
  networkRange?: string
  /** Machine-wide subnet claims (network.ts; default /run/trove/subnets). */
  subnetClaimDir?: string
  uids?: UidOptions
  /** A sandbox template dir shared with other labs of this host (sandbox-template.ts); default DIR/sandbox/templates, the lab's own. */
  sandboxTemplatesDir?: string
  /** Network namespaces and 1 GB volumes kept ready, of each (sandbox-pool.ts; default TROVE_SANDBOX_POOL, else 2); 0: none. */
  poolSize?: number
  /** Warm sandboxes kept (sandbox-warm.ts; default 1 while the pools are on, at most WARM_MAX); 0: none. */
  warmSize?: number
}

const ms = (x: number) => `${Math.round(x)} ms`

/**
 * Where instances live under `isolation: 'sandbox'` (docs/isolation.md): per instance a uid (uids.ts),
 * a volume (volume.ts) mounted at the instance's data, a network namespace on the lab bridge
 * (network.ts) behind the lab's packet filter (firewall.ts), and a runc sandbox (sandbox.ts) whose init
 * is catatonit; the agent runs in it (the init's first child, or `runc exec` for a new agent) as the instance's uid
 * and starts the engine, which outlives it. One sandbox is kept warm for the next create (sandbox-warm.ts).
 * Everything here runs as root on paths it made: the instance directory (root 0700) holds the record, the volume's
 * image and mount point, the bundle and the sandbox's log; the only file written inside the volume is the agent's
 * bootstrap, opened without following links (the volume is a filesystem of its own: no hard link can
 * reach a host file). Instances an earlier `none` run made keep running through a LocalCompute.
 */
export class SandboxedCompute implements Compute {
  readonly isolation = 'sandbox' as const
  readonly local: LocalCompute
  readonly labId: string
  readonly runtime: SandboxRuntime
  private net: LabNetwork | undefined
  private broker: BrokerLocation | undefined
  private store: BrokerLocation | undefined
  /** The lab's packet filter from the records (sandbox-rules.ts). */
  private readonly rules = new LabRules({
    net: () => this.net,
    records: () => this.records(),
    hostPorts: () => [this.broker?.port, this.store?.port].filter((p): p is number => p !== undefined),
  })
  /** Sweeps of orphan parts, one at a time; creates wait for a running one (sandbox-sweep.ts). */
  private readonly sweeper = new Sweeper(() => ({
    ...{ instancesDir: this.instancesDir, runtime: this.runtime, net: this.net, uids: this.opts.uids },
    building: [...this.templates.building, ...(this.pools?.keys() ?? []), ...claimedNetKeys(this.instancesDir, this.sandboxedIds())],
  }))
  /** Parts made ahead of creates (after prepareLab). */
  pools: SandboxPools | undefined
  /** Whole sandboxes made ahead of creates, their agent waiting (sandbox-warm.ts; after setBroker). */
  warm: WarmSandboxes | undefined
  readonly seccomp: OciSeccomp | undefined
  /** MariaDB's and PostgreSQL's pre-initialised data dirs (sandbox-template.ts). */
  readonly templates: SandboxTemplates

  constructor(private readonly opts: SandboxedComputeOptions) {
    this.local = new LocalCompute(opts)
    this.labId = labIdOf(opts.dataDir)
    this.runtime = { root: join(opts.dataDir, 'sandbox', 'runc'), cgroupParent: sandboxCgroupParent(this.labId) }
    this.seccomp = hostSeccomp()
    this.templates = new SandboxTemplates({
      dir: opts.sandboxTemplatesDir ?? join(opts.dataDir, 'sandbox', 'templates'),
      shared: opts.sandboxTemplatesDir !== undefined,
      runtime: this.runtime,
      seccomp: this.seccomp,
      uids: opts.uids,
      agentCommand: [process.execPath, ...AGENT_NODE_FLAGS, TROVE_BIN],
      agentBinds,
      env: SANDBOX_ENV,
      log: opts.log,
      sweeping: () => this.sweeping(),
    })
  }

  /** Stops what the driver runs for itself (the standby agent, template builds) and removes the pools' parts; instances keep running. */
  async close(): Promise<void> {
    await this.local.close()
    this.templates.stop()
    await this.warm?.drain()
    await this.pools?.drain()
  }

  get instancesDir(): string {
    return this.local.instancesDir
  }
  get templatesDir(): string {
    return this.local.templatesDir
  }
  get backupsDir(): string {
    return this.local.backupsDir
  }
  get storageDir(): string {
    return this.local.storageDir
  }
  /** The lab's network (after prepareLab). */
  get network(): LabNetwork {
    if (!this.net) throw new Error('the lab network is not set up (server not started)')
    return this.net
  }

  instanceDir(id: string): string {
    return this.local.instanceDir(id)
  }

  private recordFile(id: string): string {
    return join(this.instanceDir(id), SANDBOX_RECORD)
  }

  isolationOf(id: string): Isolation {
    return existsSync(this.recordFile(id)) ? 'sandbox' : 'none'
  }

  private sandboxed(id: string): boolean {
    return this.isolationOf(id) === 'sandbox'
  }

  /** Every sandbox record, by id (one being written or cut short: left out). */
  private records(): Map<string, SandboxRecord> {
    const records = new Map<string, SandboxRecord>()
    for (const id of this.sandboxedIds()) {
      try {
        records.set(id, this.readRecord(id))
      } catch {
        /* no entry */
      }
    }
    return records
  }

  readRecord(id: string): SandboxRecord {
    return readSandboxRecord(this.instanceDir(id))
  }

  writeRecord(r: SandboxRecord): void {
    writeSandboxRecord(this.instanceDir(r.instanceId), r)
  }

  volumePaths(id: string): VolumePaths {
    return { image: join(this.instanceDir(id), 'volume.img'), mountPoint: join(this.instanceDir(id), 'mnt') }
  }

  /** Makes (or finds again) the lab's bridge and subnet; returns the gateway address the broker must listen on. */
  async prepareLab(): Promise<string> {
    const problem = sandboxHostProblem()
    if (problem) throw Object.assign(new Error(problem), { hint: SANDBOX_HOST_HINT })
    const orphans = await sweepOrphanLabs(this.opts.subnetClaimDir ?? DEFAULT_CLAIM_DIR).catch((e: Error) => this.opts.log(`sweeping orphaned lab networks: ${e.message}`))
    if (orphans?.length) this.opts.log(`swept the bridges and packet filters of ${orphans.length} lab(s) whose data dir is gone: ${orphans.join(', ')}`)
    this.net = await ensureLabNetwork({
      labId: this.labId,
      dir: this.opts.dataDir,
      ...((this.opts.networkRange ?? process.env.TROVE_NETWORK_RANGE) ? { range: this.opts.networkRange ?? process.env.TROVE_NETWORK_RANGE } : {}),
      ...(this.opts.subnetClaimDir ? { claimDir: this.opts.subnetClaimDir } : {}),
    })
    mkdirSync(this.runtime.root, { recursive: true, mode: 0o700 })
    // Warm sandboxes of the last run that no create took: no row names them.
    for (const [id, r] of this.records()) {
      if (!r.warm) continue
      await this.destroy(id, null)
      this.opts.log(`swept warm sandbox ${id}`)
    }
    await recoverSandboxes({ instancesDir: this.instancesDir, ids: this.sandboxedIds(), net: this.net, uids: this.opts.uids, log: this.opts.log })
    const size = this.opts.poolSize ?? poolSizeFrom(process.env.TROVE_SANDBOX_POOL)
    this.pools = new SandboxPools({ size, dir: join(this.opts.dataDir, 'sandbox', 'pool'), net: this.net, log: this.opts.log, sweeping: () => this.sweeping() })
    for (const r of await this.pools.sweepLeftovers(claimedNetKeys(this.instancesDir, this.sandboxedIds()))) this.opts.log(`swept ${r}`)
    if (size > 0) this.pools.start()
    return this.net.gateway
  }

  /**
   * Where the broker listens for the lab's agents (the gateway and a port): the packet filter lets
   * instances reach that port only, and every sandbox's /etc/trove-broker.json says it.
   */
  async setBroker(loc: BrokerLocation, store?: BrokerLocation): Promise<void> {
    this.broker = loc
    this.store = store
    // A store on another port than the last run's: the bootstraps say the new one (agents read it per operation).
    for (const id of store ? this.sandboxedIds() : []) {
      if (!this.hasBootstrap(id)) continue
      try {
        if (this.updateBootstrapIf(id, (b) => b.objectStore?.url !== this.storeUrl() && (b.objectStore = { url: this.storeUrl()! }) !== undefined))
          this.opts.log(`instance ${id}: object store now at ${this.storeUrl()}`)
      } catch (e) {
        this.opts.log(`instance ${id}: bootstrap not updated: ${(e as Error).message}`)
      }
    }
    for (const id of this.sandboxedIds()) {
      const etc = join(this.instanceDir(id), 'bundle', 'etc')
      if (!existsSync(etc)) continue
      writeFileSync(join(etc, `${SANDBOX_BROKER_FILE}.tmp`), JSON.stringify(loc), { mode: 0o644 })
      renameSync(join(etc, `${SANDBOX_BROKER_FILE}.tmp`), join(etc, SANDBOX_BROKER_FILE))
    }
    await this.applyRules()
    this.startWarm()
  }

  /** Keeps warm sandboxes once agents can reach the broker (as many as the pools keep of each part, at most WARM_MAX). */
  private startWarm(): void {
    if (this.warm || !this.pools) return
    const size = Math.min(this.opts.warmSize ?? this.opts.poolSize ?? poolSizeFrom(process.env.TROVE_SANDBOX_POOL), WARM_MAX)
    this.warm = new WarmSandboxes({
      size,
      make: (id) => makeWarm(this, id),
      drop: (id) => this.destroy(id, null),
      alive: (id) => this.agentPid(id) !== undefined,
      log: this.opts.log,
      sweeping: () => this.sweeping(),
    })
    this.pools.follow(this.warm)
    this.warm.start()
  }

  /** A new instance's id: a warm sandbox's when one fits (its reserve then takes it), else undefined. */
  takeWarm(volumeGb: number): string | undefined {
    const id = this.warm?.take(volumeGb)
    if (id) this.pools?.quiet()
    return id
  }

  /** Whether the lab keeps `id`'s directory though no row names it (a warm sandbox). */
  keeps(id: string): boolean {
    return this.warm?.holds(id) ?? false
  }

  /** Where the broker listens for agents (after setBroker). */
  get brokerLocation(): BrokerLocation | undefined {
    return this.broker
  }

  log(m: string): void {
    this.opts.log(m)
  }

  hasNetwork(): boolean {
    return this.net !== undefined
  }

  get uidOptions(): UidOptions | undefined {
    return this.opts.uids
  }

  /** The instances (by directory) that have a sandbox record. */
  sandboxedIds(): string[] {
    return sandboxedInstanceIds(this.instancesDir)
  }

  followReplicationSets(sets: () => string[][]): void {
    this.rules.follow(sets)
  }

  replicationChanged(): Promise<void> {
    return this.applyRules()
  }

  private applyRules(): Promise<void> {
    return this.rules.apply()
  }

  /** A uid and an address on the lab network (its namespace attached); undone whole on failure. */
  async reserve(id: string, manager: EngineManager, _inUse: Set<string>): Promise<{ address: string; port: number }> {
    const port = ENGINE_PORTS[manager]
    if (this.warm?.reserved(id)) {
      // A warm sandbox taken for this create (takeWarm): it is the instance's from this record on.
      const rec = this.readRecord(id)
      delete rec.warm
      rec.port = port
      this.writeRecord(rec)
      return { address: rec.address!, port }
    }
    return reserveParts(this, id, port, `instance ${id}`)
  }

  reclaim(id: string, address: string): boolean {
    return this.sandboxed(id) || this.onLabNetwork(address) || this.local.reclaim(id, address)
  }

  /**
   * An address of the lab's /24 is host-local's lease, never a loopback claim. A delete removes the record before
   * the directory: the reconciler's reclaim in between took the instance for a `none` one and claimed its lab
   * address under /run/trove/addresses, a claim left behind (14 of 70 in the scale run).
   */
  private onLabNetwork(address: string): boolean {
    const subnet = this.net?.subnet
    return subnet !== undefined && address.startsWith(subnet.slice(0, subnet.lastIndexOf('.') + 1))
  }

  /**
   * The volume (its root the uid's, 0700), the packet filter's entry, the bootstrap inside the volume
   * (0600, the uid's) and the sandbox. On failure the volume and the sandbox made here are undone (the
   * uid and the address stay with the instance's row until delete).
   */
  async launch(boot: LaunchSpec): Promise<number> {
    const id = boot.instanceId
    if (!this.sandboxed(id)) return this.local.launchNow(boot)
    const rec = this.readRecord(id)
    if (rec.uid === undefined || rec.gid === undefined || !rec.address) throw new Error(`instance ${id}: its sandbox was not reserved whole`)
    const paths = this.volumePaths(id)
    // A warm sandbox (sandbox-warm.ts): its agent waits for this bootstrap (one a crash or a reboot ended goes the usual way).
    const warm = rec.awaiting === true && this.agentPid(id) !== undefined
    try {
      const t0 = performance.now()
      delete rec.awaiting
      rec.allowedCidrs = firewallCidrs(boot.access)
      rec.flavor = boot.flavor
      this.writeRecord(rec)
      // The volume (mkfs) or a warm sandbox's limits, and the filter (nft), are independent: made at once.
      let volumeMs = 0
      let filterMs = 0
      const fresh = warm || !existsSync(paths.image)
      let pooled = false
      const first = warm ? warmLimits(this.runtime, id, boot.flavor) : fresh ? newVolume(this, id, rec, boot.volumeSize).then((p) => void (pooled = p)) : mountVolume(paths)
      const volume = first.then(() => (volumeMs = performance.now() - t0))
      const filter = this.applyRules().then(() => (filterMs = performance.now() - t0))
      const [v, f] = await Promise.allSettled([volume, filter])
      if (v.status === 'rejected') throw v.reason
      if (f.status === 'rejected') throw f.reason
      // MariaDB and PostgreSQL: the lab's template into the new volume (a relaunch finds the volume made: its agent initialises).
      const template = fresh ? this.templates.take(boot) : undefined
      const t2 = performance.now()
      const copied = template ? await this.templates.copyInto(template, paths.mountPoint, rec.uid, rec.gid) : false
      const copyMs = copied ? `, template copied in ${ms(performance.now() - t2)}` : ''
      const full = guestBootstrap(boot, rec.address, copied, this.storeUrl(), { backupDir: this.backupsDir, storageDir: this.storageDir })
      writeInVolume(paths.mountPoint, INSTANCE_FILES.bootstrap, JSON.stringify(full, null, 2), rec.uid, rec.gid)
      const t3 = performance.now()
      const pid = warm ? this.agentPid(id) : await startSandbox(this, id, rec)
      if (pid === undefined) throw new Error(`instance ${id}: the warm sandbox's agent ended`)
      this.pools?.quiet()
      if (warm) this.warm?.refill()
      const part1 = warm ? `warm sandbox, limits in ${ms(volumeMs)}` : `volume${pooled ? ' (pooled)' : ''} in ${ms(volumeMs)}`
      this.opts.log(`instance ${id}: ${part1}, filter in ${ms(filterMs)} (at once)${copyMs}, ${warm ? 'bootstrap handed over' : `sandbox (runc) in ${ms(performance.now() - t3)}`}`)
      return pid
    } catch (e) {
      await destroySandbox(this.runtime, id).catch(() => undefined)
      await destroyVolume(paths).catch(() => undefined)
      throw e
    }
  }

  /** Starts the agent in the running sandbox (as its uid, with its profile: runc exec), a child of its init; its host pid. */
  private execAgent(id: string): Promise<number> {
    const bundle = join(this.instanceDir(id), 'bundle')
    return launchInSandbox(this.runtime, id, {
      args: agentArgs(),
      pidFile: join(bundle, AGENT_PID_FILE),
      logFile: join(this.instanceDir(id), 'sandbox.log'),
      runcLog: join(bundle, 'runc-exec.log'),
    })
  }

  /** The object store's URL for agents (after setBroker). */
  storeUrl(): string | undefined {
    return this.store ? `https://${this.store.host}:${this.store.port}` : undefined
  }

  /** updateBootstrap only when `change` changes something (read first: no write for nothing at every start). */
  private updateBootstrapIf(id: string, change: (b: AgentBootstrap) => boolean): boolean {
    const b = JSON.parse(readInVolume(this.volumePaths(id).mountPoint, INSTANCE_FILES.bootstrap)) as AgentBootstrap
    if (!change(b)) return false
    this.updateBootstrap(id, change)
    return true
  }

  /** Reads the bootstrap in the volume (never through a link), changes it, writes it back whole. */
  updateBootstrap(id: string, change: (b: AgentBootstrap) => void): AgentBootstrap {
    if (!this.sandboxed(id)) return this.local.updateBootstrap(id, change)
    const rec = this.readRecord(id)
    const mnt = this.volumePaths(id).mountPoint
    const b = JSON.parse(readInVolume(mnt, INSTANCE_FILES.bootstrap)) as AgentBootstrap
    change(b)
    writeInVolume(mnt, INSTANCE_FILES.bootstrap, JSON.stringify(b, null, 2), rec.uid!, rec.gid!)
    return b
  }

  async applyAccess(id: string, access: AccessSpec | undefined): Promise<void> {
    if (!this.sandboxed(id)) return
    const rec = this.readRecord(id)
    rec.allowedCidrs = firewallCidrs(access)
    this.writeRecord(rec)
    await this.applyRules()
  }

  limitsText(): string {
    return `memory, CPU and pids per sandbox (runc); ${this.local.limitsText()} for instances without a sandbox`
  }

  /** The sandbox's limits follow the flavor (`runc update`), and its record (a new sandbox starts with them). */
  async setLimits(id: string, ramMb: number, vcpus: number): Promise<string[]> {
    if (!this.sandboxed(id)) return this.local.setLimits(id, ramMb, vcpus)
    const rec = this.readRecord(id)
    rec.flavor = { ramMb, vcpus }
    this.writeRecord(rec)
    if (this.initPid(id) === undefined) return [] // no sandbox running: the next one starts with the record's
    return updateSandboxLimits(this.runtime, id, sandboxLimits(rec.flavor)).then(
      () => [],
      (e: Error) => [e.message],
    )
  }

  volumeGrowthProblem(id: string, sizeGb: number): string | undefined {
    return this.sandboxed(id) ? volumeGrowthProblem(this.volumePaths(id), sizeGb * GB) : undefined
  }

  /** Grows a sandboxed instance's volume (sandbox-resize.ts: online where the host allows, else with the sandbox restarted). */
  async growVolume(id: string, sizeGb: number, stopGuest: () => Promise<void>): Promise<{ online: boolean } | undefined> {
    if (!this.sandboxed(id)) return undefined
    const bundleDir = join(this.instanceDir(id), 'bundle')
    const restart = () => this.spawnAgent(id)
    return growSandboxVolume({ id, runtime: this.runtime, bundleDir, paths: this.volumePaths(id), sizeBytes: sizeGb * GB, stopGuest, restart, log: this.opts.log })
  }

  /**
   * A new agent: in the running sandbox when there is one (its engine keeps running and is re-adopted by
   * its pid file, as without a sandbox), else in a new sandbox (after a host reboot or a crash of the init).
   */
  async spawnAgent(id: string): Promise<number> {
    if (!this.sandboxed(id)) return this.local.spawnNow(id)
    await mountVolume(this.volumePaths(id))
    if (this.initPid(id) !== undefined) return this.execAgent(id)
    return startSandbox(this, id, this.readRecord(id))
  }

  sweeping(): Promise<unknown> | undefined {
    return this.sweeper.running()
  }

  /** The lab's parts that no instance directory owns any more (sandbox-sweep.ts), and the filter without them. */
  async sweep(): Promise<string[]> {
    const removed = await this.sweeper.sweep()
    if (removed.some((r) => r.startsWith('netns '))) await this.applyRules()
    return removed
  }

  /** The sandbox's init (catatonit), by runc's pid file, if it still runs in this instance's cgroup. */
  private initPid(id: string): number | undefined {
    return this.pidIn(id, 'init.pid')
  }

  /** The pid a runc pid file of the bundle names, if it still runs (not a zombie) in this instance's cgroup. */
  private pidIn(id: string, file: string): number | undefined {
    return livePidIn(join(this.instanceDir(id), 'bundle', file), sandboxCgroupPath(this.runtime, id))
  }

  agentPid(id: string): number | undefined {
    return this.sandboxed(id) ? this.pidIn(id, AGENT_PID_FILE) : this.local.agentPid(id)
  }

  agentAlive(id: string): boolean {
    return this.agentPid(id) !== undefined
  }

  /** Stops the agent only (sandbox-stop.ts): the engine keeps running under the sandbox's init. */
  stopAgent(id: string): Promise<void> {
    // A warm sandbox's agent, still waiting, has read no bootstrap and holds no credentials: launch hands it its own.
    if (this.sandboxed(id) && this.readRecord(id).awaiting) return Promise.resolve()
    return this.sandboxed(id) ? stopSandboxAgent(id, () => this.agentPid(id)) : this.local.stopAgent(id)
  }

  /** An admin's fault verb (faults.ts); a partition lives in the sandbox record, as the filter is rebuilt from the records. */
  injectFault(id: string, kind: FaultKind): Promise<string> {
    if (!this.sandboxed(id)) return this.local.injectFault(id, kind)
    const setPartitioned = async (on: boolean) => {
      const rec = this.readRecord(id)
      const was = rec.partitioned === true
      if (on) rec.partitioned = true
      else delete rec.partitioned
      this.writeRecord(rec)
      await this.applyRules()
      return was
    }
    return injectSandboxFault({ id, runtime: this.runtime, initPid: this.initPid(id), agentPid: this.agentPid(id), setPartitioned }, kind)
  }

  hasBootstrap(id: string): boolean {
    if (!this.sandboxed(id)) return this.local.hasBootstrap(id)
    return lstatSync(join(this.volumePaths(id).mountPoint, INSTANCE_FILES.bootstrap), { throwIfNoEntry: false })?.isFile() ?? false
  }

  /** Every part of a sandboxed instance (sandbox-destroy.ts); an instance without a sandbox by the local driver. */
  async destroy(id: string, address: string | null): Promise<void> {
    if (!this.sandboxed(id)) return this.local.destroy(id, address)
    await destroySandboxedInstance({ id, dir: this.instanceDir(id), runtime: this.runtime, net: this.net, uids: this.opts.uids, applyRules: () => this.applyRules() })
  }
}
