import { replicationSets } from '../compute/replication-rules.js'
import type { Lab } from '../lab.js'
import { InstanceTask } from '../tasks/instance-tasks.js'

/** The flows that move members between sources while they run (their payload names the whole set), and the task their instance has meanwhile. */
const SET_FLOWS = new Map([
  ['promote_to_replica_source', InstanceTask.PROMOTING.id],
  ['eject_replica_source', InstanceTask.EJECTING.id],
  // An ejected source rejoining (tasks/rejoin-replica.ts): payload { source: the new primary, replicas: [itself] }.
  ['rejoin_replica_set', InstanceTask.REJOINING.id],
])

/**
 * The lab's replication sets from its records (the packet filter's peers, compute/replication-rules.ts):
 * each live replica with its source (`slave_of_id`), and the members of a promote or eject still running
 * (a resumed flow still finds its candidate reachable from the members that follow it next).
 */
export function labReplicationSets(lab: Pick<Lab, 'instances' | 'tasks'>): string[][] {
  const all = lab.instances.listAll()
  const links: Array<[string, string]> = []
  for (const i of all) if (i.slave_of_id) links.push([i.id, i.slave_of_id])
  const tasks = new Map(all.map((i) => [i.id, i.task_id]))
  for (const task of lab.tasks.allRunning()) {
    // Until the flow sets its members' tasks back (NONE, or an error): then the records alone say the set.
    if (SET_FLOWS.get(task.kind) === undefined || tasks.get(task.instance_id) !== SET_FLOWS.get(task.kind)) continue
    try {
      const p = JSON.parse(task.payload) as { source?: string; replicas?: string[] } // ReplicationSetPayload (promote-replica.ts)
      for (const r of p.replicas ?? []) if (p.source) links.push([p.source, r])
      if (p.source) links.push([p.source, task.instance_id])
    } catch {
      /* a payload that is not a set: no link */
    }
  }
  // Only instances that still exist (a member deleted meanwhile has no address to allow).
  const live = new Set(all.map((i) => i.id))
  return replicationSets(links.filter(([a, b]) => live.has(a) && live.has(b)))
}

/**
 * After a flow changed a set (detach, promote, eject): the packet filter follows the records, in one
 * transaction. A failure is logged, not thrown: the flow's work is done, and the filter is written whole
 * again at the next change or server start.
 */
export async function followReplicationChange(lab: Pick<Lab, 'compute' | 'log'>, what: string): Promise<void> {
  try {
    await lab.compute.replicationChanged?.()
  } catch (e) {
    lab.log(`packet filter not updated after ${what}: ${(e as Error).message}`)
  }
}
