import type { FilesystemStats } from '../../protocol/index.js'
import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import { InstanceTask } from '../tasks/instance-tasks.js'
import { checkIdle, validateCanPerformAction } from './actions.js'

/**
 * A full volume (docs/isolation.md): a sandboxed instance's volume is a real filesystem, so once it is
 * full the engine's writes fail ("No space left on device") while it keeps answering. What an RDS user
 * sees as `storage-full`: the instance goes ERROR with a fault that says so and how to cure it, and is
 * ACTIVE again once the volume has room (after `resize volume`, or after data was deleted). Both come
 * from the agent's heartbeats, which carry the volume's statfs figures in a sandbox.
 */
export const VOLUME_FULL_FAULT = 'Volume full'

/** Full: less than 1% of the filesystem (at least 1 MiB) is left for the engine's writes. */
export function volumeIsFull(v: FilesystemStats): boolean {
  return v.free < Math.max(v.total * 1024 ** 3 * 0.01, 1024 ** 2)
}

/**
 * The instance is in ERROR because its volume is full: the latest fault says so, or is a failed volume resize
 * (the flow's fault: a resize fails without setting ERROR, so an ERROR instance got it only when it was
 * allowed to resize for a full volume), so that it may try again.
 */
export function erroredForFullVolume(inst: InstanceJoined): boolean {
  const f = inst.fault_message ?? ''
  return inst.server_status === 'ERROR' && (f.startsWith(VOLUME_FULL_FAULT) || /^Resizing the volume to \d+ GB failed/.test(f))
}

/** After a heartbeat with the volume's figures: ERROR and a fault when it became full, ACTIVE when it has room again. */
export function noteVolumeUsage(lab: Lab, id: string, v: FilesystemStats | undefined): void {
  if (!v || lab.compute.isolationOf(id) !== 'sandbox') return
  const inst = lab.instances.get(id)
  if (!inst) return
  const full = volumeIsFull(v)
  if (full && inst.server_status === 'ACTIVE' && inst.task_id === InstanceTask.NONE.id) {
    const message = `${VOLUME_FULL_FAULT}: ${v.used} of ${v.total} GB used, no space left for the database's writes (No space left on device). Resize the volume to write again.`
    lab.db.transaction(() => {
      lab.instances.setServerStatus(id, 'ERROR')
      lab.instances.addFault(id, message)
    })()
    lab.log(`instance ${id}: ${message}`)
  } else if (!full && erroredForFullVolume(inst)) {
    lab.instances.setServerStatus(id, 'ACTIVE')
    lab.log(`instance ${id}: volume no longer full (${v.used} of ${v.total} GB used): ACTIVE again`)
  }
}

/** A volume resize is what cures a full volume: allowed then (the task must be free), else as any action. */
export function validateCanResizeVolume(lab: Lab, inst: InstanceJoined): void {
  if (erroredForFullVolume(inst)) checkIdle(inst)
  else validateCanPerformAction(lab, inst)
}
