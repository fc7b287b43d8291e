import type { FastifyRequest } from 'fastify'
import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import type { ResizeFlavorPayload, ResizeVolumePayload } from '../tasks/resize-instance.js'
import { Fault, badRequest } from '../errors.js'
import { flavors } from '../db/flavors.js'
import { validateCanPerformAction } from './actions.js'
import { checkVolumeLimit } from './allocation.js'
import { validateCanResizeVolume } from './volume-full.js'

/** The `resize` action's body (the route's schema has checked its shape). */
export interface ResizeBody {
  flavorRef?: string | number
  volume?: { size: number | string }
}

/**
 * POST /instances/{id}/action `resize` (api.md 6.3, internals.md 1.2): a volume
 * size (api.md: volume wins over flavorRef) or a new flavor. Everything is checked
 * and the quota committed before the 202; the flows do the work.
 */
export function resizeAction(lab: Lab, req: FastifyRequest, inst: InstanceJoined, body: ResizeBody): void {
  if (body.volume !== undefined) resizeVolume(lab, req, inst, Number(body.volume.size))
  else resizeFlavor(lab, req, inst, String(body.flavorRef))
}

/**
 * Upstream's Instance.resize_flavor: can act, a different flavor that exists, no
 * ephemeral storage (every lab datastore uses a volume: LocalStorageNotSupported,
 * 501), quota `ram` += new - old, task RESIZING, then the flow.
 */
function resizeFlavor(lab: Lab, req: FastifyRequest, inst: InstanceJoined, flavorRef: string): void {
  validateCanPerformAction(lab, inst)
  const newId = flavorRef.split('/').pop() ?? ''
  if (newId === inst.flavor_id) throw badRequest(`The new flavor id must be different than the current flavor id of '${inst.flavor_id}'.`)
  const newF = flavors(lab.db).get(newId)
  if (!newF) throw badRequest(`Resource ${newId} cannot be found.`)
  if (newF.ephemeral) throw new Fault('notImplemented', 'Local storage not supported.')
  const oldF = flavors(lab.db).get(inst.flavor_id)
  const ramDelta = newF.ram - (oldF?.ram ?? 0)
  const payload: ResizeFlavorPayload = { oldFlavorId: inst.flavor_id, newFlavorId: newF.id, ramDelta }
  // Checked, reserved and committed with the task change: a 413 leaves nothing behind.
  lab.quotas.run(inst.tenant_id, { ram: ramDelta }, () => lab.instances.setTask(inst.id, 'RESIZING'))
  lab.notifications.start(req, 'instance_resize_instance', inst.id, { instance_id: inst.id, new_flavor_id: newF.id })
  lab.tasks.submit('resize_flavor', inst.id, payload as unknown as Record<string, unknown>)
}

/**
 * Upstream's Instance.resize_volume: the instance must have a volume (400), the size
 * stay within max_accepted_volume_size (413), the quota `volumes` take the delta
 * for the instance and each of its replicas (413); then can act and a size larger
 * than the current one (400). Each member gets task RESIZING and its own flow.
 */
function resizeVolume(lab: Lab, req: FastifyRequest, inst: InstanceJoined, size: number): void {
  if (!inst.volume_size) throw badRequest(`Instance ${inst.id} has no volume.`)
  checkVolumeLimit(lab, size)
  const members = [inst, ...lab.instances.replicasOf(inst.id).filter((r) => (r.volume_size ?? 0) < size)]
  const deltas = members.map((m) => size - (m.volume_size ?? 0))
  const total = deltas.reduce((a, b) => a + b, 0)
  lab.quotas.run(inst.tenant_id, { volumes: total }, () => {
    // A full volume (ERROR, volume-full.ts) is what a resize cures: allowed then.
    for (const m of members) validateCanResizeVolume(lab, m)
    if (size <= inst.volume_size!) throw badRequest(`The new volume 'size' must be larger than the current volume size of '${inst.volume_size}'.`)
    // A sandbox's volume is a sparse image on the host's filesystem: the growth must fit there.
    for (const m of members) {
      const problem = lab.compute.volumeGrowthProblem?.(m.id, size)
      if (problem) throw badRequest(`Resizing the volume of instance ${m.id} to ${size} GB is refused: ${problem}.`)
    }
    for (const m of members) lab.instances.setTask(m.id, 'RESIZING')
  })
  members.forEach((m, i) => {
    const payload: ResizeVolumePayload = { oldSize: m.volume_size ?? 0, newSize: size, volumesDelta: deltas[i]! }
    lab.notifications.start(req, 'instance_resize_volume', m.id, { instance_id: m.id, new_size: size })
    lab.tasks.submit('resize_volume', m.id, payload as unknown as Record<string, unknown>)
  })
}
