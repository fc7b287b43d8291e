import { randomUUID } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { EngineManager } from '../../protocol/index.js'
import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import type { ReplicationSetPayload } from '../tasks/promote-replica.js'
import { instanceDeltas } from '../quotas.js'
import { Fault, badRequest, resourceNotFound, unprocessable } from '../errors.js'
import { flavors } from '../db/flavors.js'
import { allocationLock } from './allocation.js'
import { checkIdle, validateCanPerformAction } from './actions.js'
import type { Requester } from './load.js'
import { accessJson, type AccessBody } from './access.js'
import { refuseNewInSandbox } from './sandbox-limits.js'

/** Datastore managers whose guests replicate (upstream's replication_strategy per datastore). */
const REPLICATING = new Set(['mariadb', 'mysql', 'postgresql', 'redis'])

/** The create body fields that matter to a replica (api.md 6.2). */
export interface ReplicaCreateBody {
  name: string
  replica_of?: string
  replica_count?: number
  flavorRef?: unknown
  datastore?: unknown
  volume?: unknown
  locality?: unknown
  databases?: unknown[]
  users?: unknown[]
  restorePoint?: unknown
  nics?: Array<Record<string, unknown>>
  access?: AccessBody
}

const slaveOf = (inst: InstanceJoined): string | null => inst.slave_of_id ?? null

/**
 * POST /instances with `replica_of` (internals.md 1.6, upstream's create checks in
 * their order): no flavor, datastore, volume or locality of its own (all copied from
 * the source), the source visible to the caller (404), not itself a replica (401, as
 * upstream's Forbidden maps), no users or databases, a datastore that replicates, and
 * a source that can act (422). `replica_count` rows named `<name>-1..N` when more than
 * one; quota is taken for every one of them (upstream counts one: a quirk). Returns the
 * last one created (the one upstream answers with).
 */
export async function createReplicas(lab: Lab, req: FastifyRequest, who: Requester, body: ReplicaCreateBody): Promise<string> {
  const { projectId, isAdmin } = who
  const sourceId = String(body.replica_of)
  if (body.flavorRef !== undefined) throw badRequest('Cannot specify flavor when creating replicas.')
  if (body.datastore !== undefined) throw badRequest('Cannot specify datastore when creating replicas.')
  if (body.volume !== undefined) throw badRequest('Cannot specify volume when creating replicas.')
  if (body.locality !== undefined) throw badRequest('Cannot specify locality when creating replicas.')
  const source = lab.instances.get(sourceId)
  if (!source || (source.tenant_id !== projectId && !isAdmin)) throw resourceNotFound(sourceId)
  if (slaveOf(source)) throw new Fault('unauthorized', `Cannot create a replica of a replica ${sourceId}`)
  if ((body.databases ?? []).length || (body.users ?? []).length) throw badRequest('Cannot create a replica with users or databases.')
  if (body.restorePoint !== undefined) throw badRequest('Cannot specify restorePoint when creating replicas.')
  if ((body.nics ?? []).some((n) => n.ip_address !== undefined)) throw badRequest('Cannot specify IP address when creating replicas.')
  const manager = source.dsv_manager ?? ''
  refuseNewInSandbox(lab, { manager, replicaOf: source.id })
  if (!REPLICATING.has(manager)) throw badRequest(`Replication is not supported for the '${source.ds_name ?? manager}' datastore.`)
  const flavor = flavors(lab.db).get(source.flavor_id)
  if (!flavor) throw badRequest(`Resource ${source.flavor_id} cannot be found.`)
  validateCanPerformAction(lab, source)

  const count = body.replica_count ?? 1
  const size = source.volume_size ?? 1
  const ids = Array.from({ length: count }, () => randomUUID())
  const names = ids.map((_, i) => (count > 1 ? `${body.name}-${i + 1}` : body.name))
  const deltas = instanceDeltas(flavor.ram * count, size * count)
  deltas.instances = count
  const reservation = lab.quotas.reserve(projectId, deltas)
  const access = body.access ? accessJson(body.access) : source.access
  const reserved: Array<{ id: string; address: string }> = []
  await lab.quotas.settle(
    reservation,
    allocationLock.run(async () => {
      try {
        const inUse = lab.instances.addressesInUse()
        const addrs: Array<{ address: string; port: number }> = []
        for (const id of ids) {
          const a = await lab.compute.reserve(id, manager as EngineManager, inUse)
          reserved.push({ id, address: a.address })
          inUse.add(a.address)
          addrs.push(a)
        }
        lab.quotas.commitWith(reservation, () =>
          lab.db.transaction(() => {
            ids.forEach((id, i) => {
              lab.instances.create({
                id,
                name: names[i]!,
                tenant_id: projectId,
                flavor_id: flavor.id,
                volume_size: size,
                volume_type: source.volume_type,
                datastore_version_id: source.datastore_version_id,
                address: addrs[i]!.address,
                port: addrs[i]!.port,
                region_id: lab.config.region,
                access,
              })
              lab.instances.setSlaveOf(id, source.id)
            })
          })(),
        )
      } catch (e) {
        // Nothing was written: give back the addresses already claimed.
        for (const r of reserved) await lab.compute.destroy(r.id, r.address).catch(() => undefined)
        throw e
      }
    }),
  )
  for (const id of ids) {
    lab.notifications.instanceCreateStarted(req, lab.instances.get(id), {})
    lab.tasks.submit('create_instance', id, { databases: [], users: [], replicaOf: source.id })
  }
  return ids[ids.length - 1]!
}

/** DELETE of a source with replicas (internals.md 1.10): upstream's ReplicaSourceDeleteForbidden (403). */
export function refuseDeleteOfSource(lab: Lab, inst: InstanceJoined): void {
  if (lab.instances.replicasOf(inst.id).length) throw new Fault('forbidden', 'Detach replicas before deleting replica source.')
}

/**
 * promote_to_replica_source (internals.md 1.7): the target can act and is a replica;
 * its source and every replica of that source get task PROMOTING; the flow runs.
 */
export function promoteToReplicaSource(lab: Lab, req: FastifyRequest, inst: InstanceJoined): void {
  validateCanPerformAction(lab, inst)
  const sourceId = slaveOf(inst)
  if (!sourceId) throw badRequest(`Instance ${inst.id} is not a replica.`)
  const source = lab.instances.get(sourceId)
  if (!source) throw resourceNotFound(sourceId)
  const replicas = lab.instances.replicasOf(source.id)
  for (const m of [source, ...replicas]) checkIdle(m)
  const payload: ReplicationSetPayload = { source: source.id, replicas: replicas.map((r) => r.id) }
  lab.db.transaction(() => {
    for (const id of [source.id, ...payload.replicas]) lab.instances.setTask(id, 'PROMOTING')
  })()
  lab.notifications.start(req, 'instance_promote', inst.id, { instance_id: inst.id })
  lab.tasks.submit('promote_to_replica_source', inst.id, payload as unknown as Record<string, unknown>)
}

/**
 * eject_replica_source (internals.md 1.8): the target has replicas and its last
 * heartbeat is older than the expiry (it looks dead). The action check uses the
 * stored guest status, as upstream's does: a stale heartbeat alone does not refuse it.
 */
export function ejectReplicaSource(lab: Lab, req: FastifyRequest, inst: InstanceJoined): void {
  if (!['ACTIVE', 'HEALTHY'].includes(inst.server_status))
    throw unprocessable(`Instance ${inst.id} is not currently available for an action to be performed (instance status was ${inst.server_status}).`)
  checkIdle(inst)
  const replicas = lab.instances.replicasOf(inst.id)
  if (!replicas.length) throw badRequest(`Instance ${inst.id} is not a replica source.`)
  const age = inst.status_updated ? Date.now() - Date.parse(inst.status_updated + 'Z') : Number.POSITIVE_INFINITY
  if (age < lab.config.heartbeatExpiryMs) throw badRequest(`Replica Source ${inst.id} cannot be ejected as it has a current heartbeat`)
  for (const r of replicas) checkIdle(r)
  const payload: ReplicationSetPayload = { source: inst.id, replicas: replicas.map((r) => r.id) }
  lab.db.transaction(() => {
    for (const id of [inst.id, ...payload.replicas]) lab.instances.setTask(id, 'EJECTING')
  })()
  lab.notifications.start(req, 'instance_eject', inst.id, { instance_id: inst.id })
  lab.tasks.submit('eject_replica_source', inst.id, payload as unknown as Record<string, unknown>)
}

/**
 * PUT/PATCH `{"instance": {"replica_of": ...}}` (internals.md 1.9): checked now,
 * applied by the returned step (task DETACHING, the detach flow) after the rename.
 */
export function checkDetachReplica(lab: Lab, req: FastifyRequest, inst: InstanceJoined): () => void {
  validateCanPerformAction(lab, inst)
  if (!slaveOf(inst)) throw badRequest(`Instance ${inst.id} is not a replica.`)
  return () => {
    lab.instances.setTask(inst.id, 'DETACHING')
    lab.notifications.start(req, 'instance_detach', inst.id, { instance_id: inst.id })
  }
}
