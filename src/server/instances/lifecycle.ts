import { randomUUID } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { EngineManager } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { badRequest, notFound, unprocessable } from '../errors.js'
import type { InstanceJoined } from '../db/instances.js'
import { InstanceTask } from '../tasks/instance-tasks.js'
import { instanceDeltas } from '../quotas.js'
import { configurationStore } from '../db/configurations.js'
import { rootHistory } from '../db/root-history.js'
import { checkGroupForEngine } from '../configurations/attach.js'
import { loadModulesByIds, validateModulesFor } from '../modules/apply.js'
import { flavors } from '../db/flavors.js'
import { resolveDatastoreVersion } from '../datastores/resolve.js'
import { checkCreatePayload } from './accounts.js'
import { accessJson, checkCidrs, type AccessBody } from './access.js'
import { allocationLock, checkVolumeSize } from './allocation.js'
import type { Requester } from './load.js'
import { refuseDeleteOfSource } from './replicas.js'
import { resolveRestorePoint } from './restore-point.js'
import { resolveRestoreToTime } from './restore-to-time.js'
import { instanceStatus } from './status.js'
import { refuseNewInSandbox } from './sandbox-limits.js'
import { scheduleStore } from '../db/backup-schedules.js'
import { checkRetention } from '../backups/retention.js'

/** The create body (the route's schema has checked its shape; replicas.ts takes `replica_of` bodies). */
export interface CreateBody {
  name: string
  flavorRef?: string | number
  volume?: { size: number | string; type?: string | null }
  datastore?: { type?: string; version?: string; version_number?: string }
  databases?: Array<{ name: string; character_set?: string; collate?: string }>
  users?: Array<{ name: string; password: string; host?: string; databases?: Array<{ name: string }> }>
  restorePoint?: unknown
  replica_of?: string
  replica_count?: number
  configuration?: string | null
  modules?: unknown[]
  region_name?: string
  access?: AccessBody
  /** Lab extension: retention of automated backups (backups/retention.ts). */
  backup_retention?: unknown
  /** Lab extension (ha/flag.ts): only with replica_of. */
  auto_failover?: unknown
  sync_replication?: unknown
}

/**
 * POST /instances without `replica_of` (api.md 6.2, upstream's Instance.create checks in
 * their order): everything is checked, the quota reserved, an address reserved and the row
 * written under the allocation lock; then the create flow runs. Returns the new id.
 */
export async function createInstance(lab: Lab, req: FastifyRequest, who: Requester, body: CreateBody): Promise<string> {
  const { projectId, isAdmin } = who
  if (body.replica_count !== undefined && body.replica_count > 1) throw badRequest(`Replica count only valid when creating replicas. Cannot create ${body.replica_count} instances.`)
  if (body.flavorRef === undefined) throw badRequest('Validation error: instance flavorRef is required')
  const flavorRef = String(body.flavorRef).split('/').pop() ?? ''
  const flavor = flavors(lab.db).get(flavorRef)
  if (!flavor) throw badRequest(`Resource ${flavorRef} cannot be found.`)
  // Backups: a restore builds the backup's datastore version unless the body names one (restore-point.ts).
  const restore = body.restorePoint ? restorePointOf(lab, who, body) : undefined
  const version = restore?.version ?? resolveDatastoreVersion(lab, body.datastore)
  refuseNewInSandbox(lab, { manager: version.manager })
  // A configuration group at create (upstream's load + datastore version check): its values
  // are written into the engine's config before the first start (prepare's overrides).
  const group = body.configuration ? configurationStore(lab.db).groups.get(body.configuration) : undefined
  if (body.configuration && (!group || (group.tenant_id !== projectId && !isAdmin))) throw notFound(`Configuration group id: ${body.configuration} could not be found.`)
  if (group && group.datastore_version_id !== version.id)
    throw badRequest(`Datastore Version on Configuration ${group.datastore_version_id} does not match the Datastore Version on the instance ${version.id}.`)
  if (group) checkGroupForEngine(lab, group)
  if (!body.volume) throw badRequest('Volume size was not specified.')
  // Modules applied once the guest is up (modules/apply.ts); unknown or foreign ids are skipped (upstream).
  const createModules = loadModulesByIds(
    lab,
    ((body.modules ?? []) as Array<{ id: string }>).map((m) => m.id),
    projectId,
    isAdmin,
  )
  validateModulesFor(lab, createModules, version.id)
  const size = checkVolumeSize(lab, body.volume.size)
  if (body.region_name && body.region_name !== lab.config.region) throw badRequest(`Region '${body.region_name}' is not available; this lab has only '${lab.config.region}'.`)
  checkCreatePayload(version.manager, body.databases, body.users)
  const dbNames = new Set((body.databases ?? []).map((d) => d.name))
  for (const u of body.users ?? []) {
    for (const d of u.databases ?? []) {
      if (!dbNames.has(d.name)) throw badRequest(`Database '${d.name}' of user '${u.name}' is not in the databases to create.`)
    }
  }
  checkCidrs(body.access)
  const retention = body.backup_retention !== undefined ? checkRetention(body.backup_retention) : undefined

  // The id: a warm sandbox's when the driver has one that fits (taken in the allocation, right before its reserve).
  let id = ''
  // Quota (internals.md 6): reserved before anything is made (413 leaves nothing behind),
  // committed in the transaction that writes the row, rolled back if the create fails.
  const reservation = lab.quotas.reserve(projectId, instanceDeltas(flavor.ram, size))
  // Reserve an address and write the row under one lock, so two creates never pick the same address.
  await lab.quotas.settle(
    reservation,
    allocationLock.run(async () => {
      id = lab.compute.takeWarm?.(size) ?? randomUUID()
      const { address, port } = await lab.compute.reserve(id, version.manager as EngineManager, lab.instances.addressesInUse())
      lab.quotas.commitWith(reservation, () => {
        lab.instances.create({
          id,
          name: body.name,
          tenant_id: projectId,
          flavor_id: flavor.id,
          volume_size: size,
          volume_type: body.volume?.type ?? null,
          datastore_version_id: version.id,
          address,
          port,
          region_id: lab.config.region,
          access: body.access ? accessJson(body.access) : null,
        })
        if (retention) scheduleStore(lab.db).setRetention(id, retention.days, retention.count)
      })
    }),
  )
  lab.notifications.instanceCreateStarted(req, lab.instances.get(id), body)
  if (group) lab.instances.setConfiguration(id, group.id)
  // A restore has the root its backup's instance had (MariaDB and PostgreSQL keep it in the
  // data; Redis in the backup's metadata), so root show says so, as upstream records it.
  if (restore) rootHistory(lab.db).copyFromBackup(id, new Date().toISOString().slice(0, 19), restore.spec.backupId)
  lab.tasks.submit('create_instance', id, {
    databases: body.databases ?? [],
    users: body.users ?? [],
    ...(restore ? { restore: restore.spec } : {}),
    ...(group ? { configuration: group.id } : {}),
    ...(createModules.length ? { modules: createModules.map((m) => m.id) } : {}),
  })
  return id
}

/** restorePoint: a backup (upstream's backupRef), or a source instance and a time (restore-to-time.ts). */
function restorePointOf(lab: Lab, who: Requester, body: CreateBody) {
  const point = body.restorePoint as { backupRef?: string; instanceRef?: string; restoreTime?: unknown; latest?: unknown }
  const size = Number(body.volume?.size ?? lab.config.maxVolumeSize)
  if (point.backupRef !== undefined && point.instanceRef !== undefined) throw badRequest('restorePoint takes backupRef or instanceRef, not both.')
  if (point.instanceRef !== undefined) return resolveRestoreToTime(lab, who, point, body.datastore, size)
  if (point.backupRef === undefined) throw badRequest("restorePoint needs backupRef (a backup) or instanceRef with restoreTime or latest (trove lab's point-in-time restore).")
  return resolveRestorePoint(lab, who, point.backupRef, body.datastore, size)
}

/**
 * DELETE /instances/{id} (api.md 6.2): an instance already deleting is accepted again
 * (nothing more is done), BUILD refuses (422), a source with replicas refuses (403).
 * The quota usage is released when the delete is accepted, as upstream does.
 */
export function deleteInstance(lab: Lab, req: FastifyRequest, inst: InstanceJoined): void {
  const status = instanceStatus(inst)
  if (inst.task_id === InstanceTask.DELETING.id) return
  if (status === 'BUILD') throw unprocessable(`Instance ${inst.id} is not ready. (Status is ${status}).`)
  refuseDeleteOfSource(lab, inst)
  lab.quotas.run(inst.tenant_id, instanceDeltas(flavors(lab.db).get(inst.flavor_id)?.ram ?? 0, inst.volume_size, -1), () => lab.instances.setTask(inst.id, 'DELETING'))
  lab.notifications.start(req, 'instance_delete', inst.id, { instance_id: inst.id })
  lab.tasks.submit('delete_instance', inst.id)
}
