import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { GB } from '../../common/units.js'
import { type BrokerLocation, INSTANCE_FILES } from '../../protocol/index.js'
import { attachInstance, type LabNetwork, netnsName } from './network.js'
import { awaitFirstChild, initStarting } from './sandbox-launch.js'
import { AGENT_PID_FILE, agentArgs, agentBinds, SANDBOX_BROKER_FILE, SANDBOX_ENV, SANDBOX_INIT, type SandboxRecord, sandboxLimits } from './sandbox-guest.js'
import { POOL_VOLUME_GB, type SandboxPools } from './sandbox-pool.js'
import { agentAwaiting, WARM_FLAVOR } from './sandbox-warm.js'
import { createSandbox, destroySandbox, type SandboxRuntime } from './sandbox.js'
import type { OciSeccomp } from './seccomp.js'
import { allocateUid, type UidOptions } from './uids.js'
import { createVolume, ownVolumeRoot, type VolumePaths } from './volume.js'

/**
 * The parts of a sandboxed instance a create makes (docs/isolation.md, *How the driver lays an instance out*): its
 * directory, record, uid and namespace (reserveParts), its volume (newVolume), its runc sandbox with the agent as the
 * init's first child (startSandbox), and all of them ahead of a create for a warm sandbox (makeWarm). The driver
 * (sandboxed.ts) is the context.
 */
export interface BuildContext {
  readonly runtime: SandboxRuntime
  readonly network: LabNetwork
  readonly pools: SandboxPools | undefined
  readonly uidOptions: UidOptions | undefined
  readonly brokerLocation: BrokerLocation | undefined
  readonly seccomp: OciSeccomp | undefined
  log(m: string): void
  /** The lab's sweep running, if one does (a new directory waits for it). */
  sweeping(): Promise<unknown> | undefined
  instanceDir(id: string): string
  volumePaths(id: string): VolumePaths
  readRecord(id: string): SandboxRecord
  writeRecord(r: SandboxRecord): void
  agentPid(id: string): number | undefined
  destroy(id: string, address: string | null): Promise<void>
}

const ms = (x: number) => `${Math.round(x)} ms`

/** The instance's directory, record, uid and network namespace (a pooled one when ready); undone whole on failure. */
export async function reserveParts(c: BuildContext, id: string, port: number, what: string, extra: Partial<SandboxRecord> = {}): Promise<{ address: string; port: number }> {
  const net = c.network
  const dir = c.instanceDir(id)
  // Checked in the tick the directory is made (an await in between would let a sweep start first).
  while (c.sweeping()) await c.sweeping()
  mkdirSync(dir, { mode: 0o700 })
  // Recorded first: from here on destroy() finds every part made, whatever step fails or crashes.
  const rec: SandboxRecord = { instanceId: id, port, ...extra }
  try {
    const t0 = performance.now()
    c.writeRecord(rec)
    Object.assign(rec, allocateUid(dir, c.uidOptions))
    c.writeRecord(rec)
    const t1 = performance.now()
    // A pooled namespace is the instance's from the record written in this tick (a sweep keeps what records name).
    const pooled = c.pools?.claimNetns()
    const a = pooled ?? (await attachInstance(net, id))
    Object.assign(rec, { address: a.address, hostIf: a.hostIf }, pooled ? { netKey: pooled.instanceId } : {})
    c.writeRecord(rec)
    c.log(`${what}: uid ${rec.uid} in ${ms(t1 - t0)}, address ${a.address} (netns${pooled ? ', pooled' : ''}) in ${ms(performance.now() - t1)}`)
    return { address: a.address, port }
  } catch (e) {
    await c.destroy(id, null).catch(() => undefined)
    throw e
  }
}

/** A new volume for `id` (a pooled 1 GB one moved here, else made), its root the uid's; whether it came from the pool. */
export async function newVolume(c: BuildContext, id: string, rec: SandboxRecord, sizeGb: number): Promise<boolean> {
  const paths = c.volumePaths(id)
  const sizeBytes = Math.max(1, sizeGb) * GB
  // A pooled volume was never used: its mount and image moved here, its root made the uid's.
  if ((await c.pools?.takeVolume(sizeBytes / GB, paths)) === true) {
    await ownVolumeRoot(paths.mountPoint, rec.uid!, rec.gid!)
    return true
  }
  await createVolume({ ...paths, sizeBytes, uid: rec.uid!, gid: rec.gid! })
  return false
}

/**
 * A warm sandbox under the future instance id `id` (sandbox-warm.ts): what a reserve and a launch make, but the
 * bootstrap; its agent (`--await-config`) waits for one. Its pid; on failure nothing of it is left.
 */
export async function makeWarm(c: BuildContext, id: string): Promise<number> {
  await reserveParts(c, id, 0, `warm sandbox ${id}`, { warm: true, awaiting: true, flavor: { ...WARM_FLAVOR } })
  try {
    const rec = c.readRecord(id)
    const t0 = performance.now()
    await newVolume(c, id, rec, POOL_VOLUME_GB)
    const pid = await startSandbox(c, id, rec)
    await agentAwaiting(join(c.volumePaths(id).mountPoint, INSTANCE_FILES.awaiting), () => c.agentPid(id) !== undefined, join(c.instanceDir(id), 'sandbox.log'))
    c.log(`warm sandbox ${id}: ready in ${ms(performance.now() - t0)} (volume and sandbox; its agent waits)`)
    return pid
  } catch (e) {
    await c.destroy(id, null).catch(() => undefined)
    throw e
  }
}

/** The instance's runc sandbox (made again if one is left), the agent as its init's first child; the agent's host pid. */
export async function startSandbox(c: BuildContext, id: string, rec: SandboxRecord): Promise<number> {
  if (!c.brokerLocation) throw new Error('the broker does not listen on the lab network yet (server not started)')
  await destroySandbox(c.runtime, id)
  const dir = c.instanceDir(id)
  const state = await createSandbox(c.runtime, {
    id,
    bundleDir: join(dir, 'bundle'),
    uid: rec.uid!,
    gid: rec.gid!,
    volumeDir: c.volumePaths(id).mountPoint,
    netnsPath: `/run/netns/${netnsName(rec.netKey ?? id)}`,
    limits: sandboxLimits(rec.flavor),
    // The init starts the agent (its first child) and becomes catatonit: one runc call, not two.
    args: initStarting(SANDBOX_INIT, agentArgs(rec.awaiting === true)),
    env: SANDBOX_ENV,
    logFile: join(dir, 'sandbox.log'),
    seccomp: c.seccomp,
    extraBinds: agentBinds(),
    etcFiles: { [SANDBOX_BROKER_FILE]: JSON.stringify(c.brokerLocation) },
  })
  if (state.status !== 'running') throw new Error(`instance ${id}: the sandbox's init exited at once (see ${join(dir, 'sandbox.log')})`)
  const t0 = performance.now()
  const pid = await awaitFirstChild(c.runtime, id, state.pid, join(dir, 'bundle', AGENT_PID_FILE))
  c.log(`instance ${id}: agent (started by the init) seen in ${ms(performance.now() - t0)}`)
  return pid
}
