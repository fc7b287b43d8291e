import type { ReplicaSpec } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { answering } from './agent-health.js'
import { InstanceTask } from './instance-tasks.js'

/** Upstream's agent_replication_snapshot_timeout (internals.md 2): 1800 s. */
export const SNAPSHOT_TIMEOUT_MS = 1_800_000

/** The guest error or timeout of a failed call, as one line. */
export function guestMessage(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim()
}

/**
 * Create replica, step 1 (internals.md 1.6): the source's get_replication_snapshot
 * (it creates the replication account and answers master{host,port} and
 * replica_conf{replication_user}); the replica's agent.json (0600) carries it as
 * `prepare.replica`. No backup is taken: each engine seeds its replica natively
 * (pg_basebackup, mariadb-dump, Redis full sync). A failure leaves the replica in
 * BUILDING_ERROR_REPLICA (ERROR) with the fault, stored on the source too as upstream does.
 */
export async function replicaSnapshot(lab: Lab, replicaId: string, sourceId: string): Promise<ReplicaSpec> {
  try {
    const source = lab.instances.get(sourceId)
    if (!source) throw new Error(`the replica source ${sourceId} no longer exists`)
    if (!(await answering(lab, sourceId))) throw new Error(`the guest agent of ${sourceId} does not answer`)
    const snapshot = await lab.rpc.call(
      sourceId,
      'get_replication_snapshot',
      { snapshot_info: { id: replicaId, name: `replication snapshot for ${replicaId}`, instance_id: sourceId }, replica_source_config: {} },
      SNAPSHOT_TIMEOUT_MS,
    )
    return { sourceId, snapshot }
  } catch (e) {
    if (lab.tasks.isClosed) throw e
    const message = `Failed to create the replication snapshot of ${sourceId}: ${guestMessage(e)}`
    if (lab.instances.get(sourceId)) lab.instances.addFault(sourceId, message)
    if (lab.instances.get(replicaId)?.task_id === InstanceTask.BUILDING.id) {
      lab.instances.addFault(replicaId, message)
      lab.instances.setTask(replicaId, 'BUILDING_ERROR_REPLICA')
      lab.instances.setServerStatus(replicaId, 'ERROR')
      lab.notifications.end('instance_create', replicaId, message)
    }
    lab.log(`instance ${replicaId} is ERROR: ${message}`)
    throw new Error(message)
  }
}
