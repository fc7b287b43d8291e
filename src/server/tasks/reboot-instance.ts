import type { Lab } from '../lab.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import { InstanceTask } from './instance-tasks.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { agentReachable, healthySince, heardSince } from './agent-health.js'
import { endRebooting } from './restart-instance.js'
import { setTimeout as sleep } from 'node:timers/promises'

/** Upstream polls for a healthy guest for 60 s after a reboot (internals.md 1.3). */
export const REBOOT_HEALTHY_WAIT_MS = 60_000

/** The step a reboot starts at (pass it to TaskEngine.submit). */
export const REBOOT_FIRST_STEP = 'stop'

/**
 * The admin's reboot (api.md 7.2). Upstream reboots the Nova server; here the
 * "server" is the agent process, so a reboot stops the engine and the agent
 * (shutdown_agent; an agent that does not answer gets SIGTERM, and the new agent
 * re-adopts its engine), starts the agent again (it starts the engine on its own,
 * as at boot), and waits up to 60 s for a
 * HEALTHY heartbeat from it. Task REBOOTING, then NONE whatever happens; a reboot
 * that ends healthy also marks the server ACTIVE (a reset may have left it
 * SHUTDOWN while the agent was down).
 *
 * Steps stop -> launch -> wait, each safe to repeat: a resumed reboot stops again,
 * starts an agent only if none runs, and waits anew.
 */
export class RebootInstanceFlow implements FlowHandler {
  readonly kind = 'reboot_instance'

  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const id = task.instance_id
    if (lab.instances.get(id)?.task_id !== InstanceTask.REBOOTING.id) return
    let failure: Error | undefined
    try {
      if (task.step === REBOOT_FIRST_STEP) {
        // Resumed after a server restart: a call published before the agent is back on the
        // new broker would be lost (and waited for in vain), so wait briefly for it to report.
        const since = Date.now()
        if (task.resumed && lab.compute.agentAlive(id)) {
          while (!heardSince(lab, id, since) && Date.now() - since < Math.min(lab.config.heartbeatExpiryMs, 3 * lab.config.heartbeatMs)) {
            if (lab.tasks.isClosed) throw new Error('server shutting down')
            await sleep(100)
          }
        }
        if (task.resumed ? heardSince(lab, id, since) : agentReachable(lab, id)) {
          try {
            await lab.rpc.call(id, 'shutdown_agent', {}, RPC_TIMEOUT.low * 2)
          } catch (e) {
            if (lab.tasks.isClosed) throw e
            lab.log(`instance ${id}: agent did not shut down cleanly (${(e as Error).message}); stopping it`)
          }
        }
        await lab.compute.stopAgent(id)
        if (lab.tasks.isClosed) throw new Error('server shutting down')
        lab.tasks.step(task, 'launch')
      }
      // Only heartbeats of the new agent count (a resumed wait: those since the wait began).
      let since = Date.parse(task.updated + 'Z')
      if (task.step === 'launch') {
        since = Date.now()
        if (!lab.compute.agentAlive(id)) await lab.compute.spawnAgent(id)
        lab.tasks.step(task, 'wait')
      }
      const deadline = Date.now() + REBOOT_HEALTHY_WAIT_MS
      while (!healthySince(lab, id, since)) {
        if (lab.tasks.isClosed) throw new Error('server shutting down')
        if (lab.instances.get(id)?.task_id !== InstanceTask.REBOOTING.id) return // reset or deleted meanwhile
        if (Date.now() > deadline) throw new Error(`the guest did not report the database as healthy within ${REBOOT_HEALTHY_WAIT_MS / 1000} s of the reboot`)
        await sleep(200)
      }
      if (lab.instances.get(id)?.task_id === InstanceTask.REBOOTING.id) lab.instances.setServerStatus(id, 'ACTIVE')
      lab.log(`instance ${id}: rebooted`)
    } catch (e) {
      if (lab.tasks.isClosed) throw e
      failure = e as Error
    }
    endRebooting(lab, id)
    lab.notifications.end('instance_reboot', id, failure)
    if (failure) {
      lab.log(`instance ${id}: reboot failed: ${failure.message}`)
      throw failure
    }
  }
}
