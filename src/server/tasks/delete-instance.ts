import type { Lab } from '../lab.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import type { FlowHandler, TaskRow } from './engine.js'

/**
 * Delete: ask the agent to stop its engine and exit (a clean shutdown flushes the
 * engine's data), then remove whatever is left: processes, cgroups, the instance
 * directory, the address claim and the agent's credentials. Every step is safe to
 * repeat, so a resumed delete just runs again.
 */
export class DeleteInstanceFlow implements FlowHandler {
  readonly kind = 'delete_instance'

  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const inst = lab.instances.get(task.instance_id)
    if (!inst) return
    lab.tasks.step(task, 'stop')
    if (lab.compute.agentAlive(inst.id)) {
      try {
        await lab.rpc.call(inst.id, 'shutdown_agent', {}, RPC_TIMEOUT.low * 2)
      } catch (e) {
        lab.log(`instance ${inst.id}: agent did not shut down cleanly (${(e as Error).message}); stopping its processes`)
      }
    }
    if (lab.tasks.isClosed) throw new Error('server shutting down')
    lab.tasks.step(task, 'destroy')
    await lab.compute.destroy(inst.id, inst.address)
    lab.credentials.revoke(inst.id)
    lab.instances.setServiceStatus(inst.id, 'DELETED')
    lab.instances.markDeleted(inst.id)
    lab.notifications.instanceDeleted(lab.instances.getAny(inst.id))
    lab.log(`instance ${inst.id} deleted`)
  }
}
