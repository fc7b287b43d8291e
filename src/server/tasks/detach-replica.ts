import type { Lab } from '../lab.js'
import { InstanceTask } from './instance-tasks.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { guestMessage } from './replica-create.js'
import { awaitAgents, guest } from './promote-replica.js'
import { followReplicationChange } from '../instances/replication-sets.js'

/**
 * Detach a replica from its source (internals.md 1.9): the guest's
 * detach_replica(for_failover=false) makes it a standalone, writable primary, then
 * `slave_of_id` is cleared. The task goes back to NONE whatever happens (upstream's
 * `finally`); a failure leaves the instance a replica, with a fault.
 */
export class DetachReplicaFlow implements FlowHandler {
  readonly kind = 'detach_replica'

  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const id = task.instance_id
    if (lab.instances.get(id)?.task_id !== InstanceTask.DETACHING.id) return
    await awaitAgents(lab, task, [id])
    lab.tasks.step(task, 'detach')
    let failure: Error | undefined
    try {
      await guest(lab, id, 'detach_replica', { for_failover: false })
      lab.instances.setSlaveOf(id, null)
      lab.log(`instance ${id} detached from its replica source`)
    } catch (e) {
      if (lab.tasks.isClosed) throw e
      failure = new Error(`Failed to detach replica ${id}: ${guestMessage(e)}`)
      lab.instances.addFault(id, failure.message)
    }
    if (lab.instances.get(id)?.task_id === InstanceTask.DETACHING.id) lab.instances.setTask(id, 'NONE')
    // Out of the set: its peers' rule for it goes (and its own for them).
    await followReplicationChange(lab, `the detach of ${id}`)
    lab.notifications.end('instance_detach', id, failure)
    if (failure) throw failure
  }
}
