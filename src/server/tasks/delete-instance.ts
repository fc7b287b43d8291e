import type { Lab } from '../lab.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { heardSince } from './agent-health.js'
import { setTimeout as sleep } from 'node:timers/promises'

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
    // Resumed after a server restart: a call published before the agent is back on the new
    // broker would be lost (and waited for in vain), so wait briefly for it to report again.
    const since = Date.now()
    if (task.resumed && lab.compute.agentAlive(inst.id)) {
      while (!heardSince(lab, inst.id, since) && Date.now() - since < Math.min(lab.config.heartbeatExpiryMs, 3 * lab.config.heartbeatMs)) {
        if (lab.tasks.isClosed) throw new Error('server shutting down')
        await sleep(100)
      }
    }
    if (lab.compute.agentAlive(inst.id) && (!task.resumed || heardSince(lab, inst.id, since))) {
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
