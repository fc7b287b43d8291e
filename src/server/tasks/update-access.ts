import { RPC_TIMEOUT } from '../broker/rpc.js'
import type { Lab } from '../lab.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { InstanceTask } from './instance-tasks.js'
import { accessSpec, agentReady } from './resize-instance.js'

/**
 * The access change's flow (PUT /instances/{id} `access`; task UPDATING): the API
 * has stored the new access. agent.json gets it (an agent started later renders its
 * config with it), and the guest call `update_access` makes the engine enforce it
 * at once: PostgreSQL through pg_hba.conf (reload), MariaDB through init_connect;
 * Redis has no client-address check and answers `enforced: false` (logged).
 * Success: task NONE. Failure: task UPDATING_ERROR_ACCESS (upstream's) with a fault;
 * the stored access stays the one asked for, agent.json holds it too, so the next
 * agent start enforces it; an admin reset_status clears the task.
 */
export async function runUpdateAccess(lab: Lab, task: TaskRow): Promise<void> {
  const id = task.instance_id
  const inst = lab.instances.get(id)
  if (inst?.task_id !== InstanceTask.UPDATING.id) return
  const resumed = task.resumed === true || task.step !== 'start'
  const access = accessSpec(inst.access) ?? { isPublic: false, allowedCidrs: [] }
  let failure: Error | undefined
  try {
    lab.tasks.step(task, 'update_access')
    if (lab.compute.hasBootstrap(id))
      lab.compute.updateBootstrap(id, (b) => {
        b.access = access
      })
    await lab.compute.applyAccess(id, access)
    await agentReady(lab, id, resumed)
    const r = await lab.rpc.call(id, 'update_access', { access }, RPC_TIMEOUT.high)
    if (r && r.enforced === false) lab.log(`instance ${id}: access recorded; ${inst.ds_name ?? 'this datastore'} cannot check client addresses, allowed_cidrs not enforced`)
  } catch (e) {
    failure = e as Error
  }
  if (lab.tasks.isClosed) throw new Error('server shutting down')
  if (lab.instances.get(id)?.task_id !== InstanceTask.UPDATING.id) return
  if (!failure) {
    lab.instances.setTask(id, 'NONE')
    return
  }
  lab.db.transaction(() => {
    lab.instances.addFault(id, `Updating the access of the instance failed: ${failure.message}`)
    lab.instances.setTask(id, 'UPDATING_ERROR_ACCESS')
  })()
  throw failure
}

/** The access change's flow (task UPDATING): runUpdateAccess above. A task row makes it survive a restart. */
export class UpdateAccessFlow implements FlowHandler {
  readonly kind = 'update_access'
  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    await runUpdateAccess(this.lab, task)
  }
}
