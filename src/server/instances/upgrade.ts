import type { FastifyRequest } from 'fastify'
import type { InstanceJoined } from '../db/instances.js'
import { datastoreVersions, type VersionRow } from '../db/datastore-versions.js'
import type { Lab } from '../lab.js'
import type { UpgradePayload } from '../tasks/resize-instance.js'
import { badRequest } from '../errors.js'
import { validateCanPerformAction } from './actions.js'

/**
 * Upstream's DatastoreVersion.load within the instance's datastore: by id, then by
 * name; an unknown version is a 400 (DatastoreVersionNotFound is not in the fault
 * map), an inactive one too.
 */
export function upgradeTarget(lab: Lab, inst: InstanceJoined, ref: string): VersionRow {
  const versions = datastoreVersions(lab.db)
  const current = inst.datastore_version_id ? versions.get(inst.datastore_version_id) : undefined
  if (!current) throw badRequest(`Datastore version '${ref}' cannot be found.`)
  const all = versions.ofDatastore(current.datastore_id)
  const v = all.find((x) => x.id === ref) ?? all.find((x) => x.name === ref)
  if (!v) throw badRequest(`Datastore version '${ref}' cannot be found.`)
  if (!v.active) throw badRequest(`Datastore version '${v.name}' is not active.`)
  return v
}

/**
 * PATCH/PUT /instances/{id} `datastore_version` (upgrade): the target must be an
 * active version of the instance's datastore other than the current one, and the
 * instance must allow an action. Returns the DB writes (run in the route's
 * transaction: version id, task UPGRADING, service UPGRADING) and the step after it
 * (the start notification and the upgrade_instance task).
 */
export function upgradeChange(lab: Lab, req: FastifyRequest, inst: InstanceJoined, ref: string): { apply: () => void; after: () => void } {
  const v = upgradeTarget(lab, inst, ref)
  if (v.id === inst.datastore_version_id) throw badRequest(`Instance ${inst.id} already runs datastore version '${v.name}'.`)
  if (v.manager !== inst.dsv_manager) throw badRequest(`Datastore version '${v.name}' is for ${v.manager}, not ${inst.dsv_manager ?? "this instance's engine"}.`)
  validateCanPerformAction(lab, inst)
  const payload: UpgradePayload = { oldVersionId: inst.datastore_version_id ?? '', newVersionId: v.id }
  return {
    apply: () => {
      lab.instances.setDatastoreVersion(inst.id, v.id)
      lab.instances.setTask(inst.id, 'UPGRADING')
      lab.instances.setServiceStatus(inst.id, 'UPGRADING')
    },
    after: () => {
      lab.notifications.start(req, 'upgrade', inst.id, { instance_id: inst.id, datastore_version_id: v.id })
      lab.tasks.submit('upgrade_instance', inst.id, payload as unknown as Record<string, unknown>)
    },
  }
}
