import type { Lab } from '../lab.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import { InstanceTask } from './instance-tasks.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { healthySince, heardSince } from './agent-health.js'
import { setTimeout as sleep } from 'node:timers/promises'

/** The instance's task back to NONE, unless something else (a reset, a delete) took over meanwhile. */
export function endRebooting(lab: Lab, id: string): void {
  if (lab.instances.get(id)?.task_id === InstanceTask.REBOOTING.id) lab.instances.setTask(id, 'NONE')
}

/**
 * Restart the datastore (internals.md 1.3): the API has set task REBOOTING and
 * service RESTARTING; the guest `restart` call (HIGH timeout) stops the engine,
 * starts it and waits until it answers, heartbeats reporting each change. The task
 * goes back to NONE whatever happens (upstream's `finally`); a failure is logged and
 * kept on the task row, and the guest's next heartbeat shows the engine's state.
 *
 * Resumed after a server restart mid-call, the restart counts as done when the
 * guest, once reconnected, has reported HEALTHY since the call went out; otherwise
 * it is sent again.
 */
export class RestartInstanceFlow implements FlowHandler {
  readonly kind = 'restart_instance'

  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const id = task.instance_id
    if (lab.instances.get(id)?.task_id !== InstanceTask.REBOOTING.id) return // reset or deleted meanwhile
    let failure: Error | undefined
    if (task.step === 'restart' || task.resumed) {
      // Resumed: a call published before the agent is back on the new broker would be
      // lost, so first wait (up to a heartbeat expiry) for the agent to report again.
      const since = Date.now()
      while (!heardSince(lab, id, since) && Date.now() - since < lab.config.heartbeatExpiryMs) {
        if (lab.tasks.isClosed) throw new Error('server shutting down')
        await sleep(100)
      }
      if (!heardSince(lab, id, since)) failure = new Error('the guest agent did not report again after the server restarted')
    }
    // Nothing to send when the agent is gone, or when the restart finished while the server was down.
    const finished = task.step === 'restart' && healthySince(lab, id, Date.parse(task.updated + 'Z'))
    if (!failure && !finished) {
      lab.tasks.step(task, 'restart')
      try {
        await lab.rpc.call(id, 'restart', {}, RPC_TIMEOUT.high)
        lab.log(`instance ${id}: datastore restarted`)
      } catch (e) {
        failure = e as Error
      }
    }
    // Shutting down: leave the task running (it resumes at the next start) and the DB alone.
    if (lab.tasks.isClosed) throw new Error('server shutting down')
    endRebooting(lab, id)
    lab.notifications.end('instance_restart', id, failure)
    if (failure) {
      lab.log(`instance ${id}: restart failed: ${failure.message}`)
      throw failure
    }
  }
}
