import type { AccessSpec, FlavorSpec } from '../../protocol/index.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import { isoNow } from '../db/index.js'
import type { Lab } from '../lab.js'
import { datastoreVersions } from '../db/datastore-versions.js'
import { flavors } from '../db/flavors.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { InstanceTask, type InstanceTaskName } from './instance-tasks.js'
import { agentReachable, heardSince } from './agent-health.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { growInstanceVolume } from './sandbox-volume.js'

/** Payload of a resize_flavor task (written by the API). */
export interface ResizeFlavorPayload {
  oldFlavorId: string
  newFlavorId: string
  /** The quota `ram` delta the API committed; given back when the resize fails. */
  ramDelta: number
}

/** Payload of a resize_volume task (one per instance: the primary and each replica). */
export interface ResizeVolumePayload {
  oldSize: number
  newSize: number
  /** The quota `volumes` delta the API committed for this instance; given back on failure. */
  volumesDelta: number
}

/** Payload of an upgrade_instance task. */
export interface UpgradePayload {
  oldVersionId: string
  newVersionId: string
}

/** A flavor's RAM and vCPUs as the agent renders config from them. */
export function flavorSpec(lab: Lab, flavorId: string): FlavorSpec & { name: string } {
  const f = flavors(lab.db).get(flavorId)
  if (!f) throw new Error(`flavor ${flavorId} no longer exists`)
  return { ramMb: f.ram, vcpus: f.vcpus, name: f.name }
}

/** The stored `access` column as the agent's AccessSpec (absent: anyone may connect). */
export function accessSpec(stored: string | null): AccessSpec | undefined {
  if (!stored) return undefined
  const a = JSON.parse(stored) as { is_public?: boolean; allowed_cidrs?: string[] }
  return { isPublic: a.is_public === true, allowedCidrs: a.allowed_cidrs ?? [] }
}

/**
 * Before a guest call: the agent must be up. A resumed task (the server restarted
 * mid-flow) first waits, up to a heartbeat expiry, for the agent to report on the
 * new broker: a call published before it is back would be lost.
 */
export async function agentReady(lab: Lab, id: string, resumed: boolean): Promise<void> {
  if (resumed) {
    const since = Date.now()
    while (!heardSince(lab, id, since) && Date.now() - since < lab.config.heartbeatExpiryMs) {
      if (lab.tasks.isClosed) throw new Error('server shutting down')
      await sleep(100)
    }
    if (!heardSince(lab, id, since)) throw new Error('the guest agent did not report again after the server restarted')
  } else if (!agentReachable(lab, id)) {
    throw new Error(`the guest agent of instance ${id} is not running`)
  }
}

/** The task back to NONE, unless something else (a reset, a delete) took over meanwhile. */
export function endTask(lab: Lab, id: string, task: InstanceTaskName): void {
  if (lab.instances.get(id)?.task_id === InstanceTask[task].id) lab.instances.setTask(id, 'NONE')
}

/** Gives back usage an API call committed for work that then failed (best effort: logged, never thrown). */
export function releaseQuota(lab: Lab, tenantId: string, deltas: { ram?: number; volumes?: number }): void {
  const reverse = Object.fromEntries(
    Object.entries(deltas)
      .filter(([, v]) => v)
      .map(([k, v]) => [k, -(v as number)]),
  )
  if (!Object.keys(reverse).length) return
  try {
    lab.quotas.run(tenantId, reverse, () => undefined)
  } catch (e) {
    lab.log(`project ${tenantId}: quota usage ${JSON.stringify(reverse)} not given back: ${(e as Error).message}`)
  }
}

/**
 * Resize flavor (internals.md 1.2). The API checked, committed the `ram` quota delta
 * and set task RESIZING. Locally "compute resize" is: agent.json gets the new flavor
 * (read at the agent's next start), the instance's cgroup limits follow it, and the
 * guest call `start_db_with_conf_changes {flavor}` makes the running agent render
 * its config for the new RAM and restart the engine (stopped, rewritten, started and
 * waited for). Memory limits are raised before the engine restarts with bigger
 * buffers and lowered only after it restarted with smaller ones.
 *
 * On failure the old flavor comes back everywhere (agent.json, cgroups, and the
 * guest `reset_configuration` restarting the engine on the old config); the data
 * dir is never touched. Task NONE in every case (upstream's `finally`), a fault on
 * failure, and the quota delta given back. A resumed task sends the (idempotent)
 * call again.
 */
export class ResizeFlavorFlow implements FlowHandler {
  readonly kind = 'resize_flavor'
  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const id = task.instance_id
    const inst = lab.instances.get(id)
    if (inst?.task_id !== InstanceTask.RESIZING.id) return // reset or deleted meanwhile
    const p = JSON.parse(task.payload) as ResizeFlavorPayload
    const resumed = task.resumed === true || task.step !== 'start'
    let failure: Error | undefined
    let oldF: ReturnType<typeof flavorSpec> | undefined
    let newF: ReturnType<typeof flavorSpec> | undefined
    try {
      oldF = flavorSpec(lab, p.oldFlavorId)
      newF = flavorSpec(lab, p.newFlavorId)
      lab.tasks.step(task, 'resize')
      await agentReady(lab, id, resumed)
      const flavor = { ramMb: newF.ramMb, vcpus: newF.vcpus }
      lab.compute.updateBootstrap(id, (b) => {
        b.flavor = flavor
      })
      if (newF.ramMb >= oldF.ramMb) await this.limits(id, flavor)
      await lab.rpc.call(id, 'start_db_with_conf_changes', { flavor }, RPC_TIMEOUT.high)
      await this.limits(id, flavor)
    } catch (e) {
      failure = e as Error
    }
    if (lab.tasks.isClosed) throw new Error('server shutting down')

    if (!failure) {
      const before = lab.instances.get(id)
      lab.db.transaction(() => {
        lab.instances.setFlavor(id, p.newFlavorId)
        endTask(lab, id, 'RESIZING')
      })()
      const after = lab.instances.get(id)
      if (after) {
        lab.notifications.emit(
          'trove.instance.modify_flavor',
          {
            ...lab.notifications.usage(after),
            old_instance_size: oldF!.ramMb,
            instance_size: newF!.ramMb,
            modify_at: isoNow(),
          },
          { instanceId: id },
        )
      }
      lab.notifications.end('instance_resize_instance', id)
      lab.log(`instance ${id}: flavor ${before?.flavor_id ?? p.oldFlavorId} -> ${p.newFlavorId} (${newF!.ramMb} MB)`)
      return
    }

    // Back to the old flavor: agent.json, cgroups, the engine's config.
    lab.log(`instance ${id}: resize to flavor ${p.newFlavorId} failed: ${failure.message}; back to flavor ${p.oldFlavorId}`)
    if (oldF) {
      const flavor = { ramMb: oldF.ramMb, vcpus: oldF.vcpus }
      try {
        lab.compute.updateBootstrap(id, (b) => {
          b.flavor = flavor
        })
        if (newF && newF.ramMb > oldF.ramMb) await this.limits(id, flavor) // shrinking back below usage may need the restart first
        await lab.rpc.call(id, 'reset_configuration', { flavor }, RPC_TIMEOUT.high)
        await this.limits(id, flavor)
      } catch (e) {
        lab.log(`instance ${id}: restoring the old configuration failed: ${(e as Error).message}`)
      }
    }
    lab.db.transaction(() => {
      lab.instances.addFault(id, `Resizing the instance to flavor ${p.newFlavorId} failed: ${failure.message}`)
      endTask(lab, id, 'RESIZING')
    })()
    releaseQuota(lab, inst.tenant_id, { ram: p.ramDelta })
    lab.notifications.end('instance_resize_instance', id, failure)
    throw failure
  }

  private async limits(id: string, f: FlavorSpec): Promise<void> {
    for (const problem of await this.lab.compute.setLimits(id, f.ramMb, f.vcpus)) this.lab.log(`instance ${id}: cgroup limit not set: ${problem}`)
  }
}

/**
 * Resize volume (internals.md 1.2, online): with `--isolation none` the volume is a directory
 * on the host, so growing it is bookkeeping: `volume_size` in the DB and agent.json, and the
 * guest call `resize_fs {volumeSize}` so the running agent reports the new total (and the
 * API's used_percent follows); the size is an allotment, not a filesystem limit (see the
 * agent's handlers/reconfigure.ts). A sandbox's volume is a filesystem, grown first by the
 * compute driver (sandbox-volume.ts: online, or offline with the sandbox restarted). On failure the old size stays, a fault is
 * recorded and the quota delta is given back; task NONE in every case.
 */
export class ResizeVolumeFlow implements FlowHandler {
  readonly kind = 'resize_volume'
  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const id = task.instance_id
    const inst = lab.instances.get(id)
    if (inst?.task_id !== InstanceTask.RESIZING.id) return
    const p = JSON.parse(task.payload) as ResizeVolumePayload
    const resumed = task.resumed === true || task.step !== 'start'
    let failure: Error | undefined
    try {
      lab.tasks.step(task, 'resize_fs')
      await agentReady(lab, id, resumed)
      // A sandbox's volume is a filesystem: grown first (sandbox-volume.ts), the agent then reports it. First,
      // because agent.json is in that volume: a full one has no room for it until it grew.
      await growInstanceVolume(lab, id, p.newSize)
      lab.compute.updateBootstrap(id, (b) => {
        b.volumeSize = p.newSize
      })
      const stats = await lab.rpc.call(id, 'resize_fs', { volumeSize: p.newSize }, RPC_TIMEOUT.high)
      lab.log(`instance ${id}: volume ${p.oldSize} -> ${p.newSize} GB (${stats?.used ?? '?'} GB used)`)
    } catch (e) {
      failure = e as Error
    }
    if (lab.tasks.isClosed) throw new Error('server shutting down')
    if (!failure) {
      lab.db.transaction(() => {
        lab.instances.setVolumeSize(id, p.newSize)
        endTask(lab, id, 'RESIZING')
      })()
      lab.notifications.end('instance_resize_volume', id)
      return
    }
    try {
      lab.compute.updateBootstrap(id, (b) => {
        b.volumeSize = p.oldSize
      })
    } catch (e) {
      lab.log(`instance ${id}: agent.json not restored: ${(e as Error).message}`)
    }
    lab.db.transaction(() => {
      lab.instances.addFault(id, `Resizing the volume to ${p.newSize} GB failed: ${failure.message}`)
      endTask(lab, id, 'RESIZING')
    })()
    releaseQuota(lab, inst.tenant_id, { volumes: p.volumesDelta })
    lab.notifications.end('instance_resize_volume', id, failure)
    throw failure
  }
}

/**
 * Upgrade (PATCH datastore_version): the API checked the target, wrote the new
 * `datastore_version_id` and set task UPGRADING. Guest `pre_upgrade`, agent.json
 * switched to the new version's name and binaries, guest `upgrade` (engine stopped,
 * switched, started), `post_upgrade`. This machine has one installed version per
 * engine, so a second version of a datastore points at the same binaries: a real
 * major upgrade (pg_upgrade, mariadb-upgrade over the data dir) is not possible
 * here and is not attempted. On failure the old version comes back (DB, agent.json,
 * engine); if even that fails the task is BUILDING_ERROR_SERVER (ERROR) as upstream's.
 */
export class UpgradeInstanceFlow implements FlowHandler {
  readonly kind = 'upgrade_instance'
  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const id = task.instance_id
    if (lab.instances.get(id)?.task_id !== InstanceTask.UPGRADING.id) return
    const p = JSON.parse(task.payload) as UpgradePayload
    const resumed = task.resumed === true || task.step !== 'start'
    let failure: Error | undefined
    try {
      lab.tasks.step(task, 'upgrade')
      await agentReady(lab, id, resumed)
      await lab.rpc.call(id, 'pre_upgrade', {}, RPC_TIMEOUT.high)
      await this.switchTo(id, p.newVersionId)
      await lab.rpc.call(id, 'post_upgrade', {}, RPC_TIMEOUT.high)
    } catch (e) {
      failure = e as Error
    }
    if (lab.tasks.isClosed) throw new Error('server shutting down')
    if (!failure) {
      endTask(lab, id, 'UPGRADING')
      lab.notifications.end('upgrade', id)
      lab.log(`instance ${id}: upgraded to datastore version ${p.newVersionId}`)
      return
    }
    lab.log(`instance ${id}: upgrade failed: ${failure.message}; back to datastore version ${p.oldVersionId}`)
    let restored = true
    try {
      lab.instances.setDatastoreVersion(id, p.oldVersionId)
      await this.switchTo(id, p.oldVersionId)
    } catch (e) {
      restored = false
      lab.log(`instance ${id}: going back to the old version failed: ${(e as Error).message}`)
    }
    lab.db.transaction(() => {
      lab.instances.addFault(id, `Upgrading the datastore version failed: ${failure.message}`)
      if (lab.instances.get(id)?.task_id !== InstanceTask.UPGRADING.id) return
      if (restored) lab.instances.setTask(id, 'NONE')
      else {
        lab.instances.setTask(id, 'BUILDING_ERROR_SERVER')
        lab.instances.setServerStatus(id, 'ERROR')
      }
    })()
    lab.notifications.end('upgrade', id, failure)
    throw failure
  }

  /** agent.json and the running agent on a datastore version's name and binaries. */
  private async switchTo(id: string, versionId: string): Promise<void> {
    const v = datastoreVersions(this.lab.db).get(versionId)
    if (!v) throw new Error(`datastore version ${versionId} no longer exists`)
    const datastore = { version: v.name, ...(v.bin_dir ? { binDir: v.bin_dir } : {}) }
    this.lab.compute.updateBootstrap(id, (b) => {
      b.datastore.version = v.name
      if (v.bin_dir) b.datastore.binDir = v.bin_dir
      else delete b.datastore.binDir
    })
    await this.lab.rpc.call(id, 'upgrade', { datastore }, RPC_TIMEOUT.high)
  }
}
