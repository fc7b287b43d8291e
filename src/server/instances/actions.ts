import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import { InstanceTask, taskById } from '../tasks/instance-tasks.js'
import { agentReachable } from '../tasks/agent-health.js'
import { backupStore } from '../db/backups.js'
import { unprocessable } from '../errors.js'
import { effectiveServiceStatus } from './status.js'

export { effectiveServiceStatus } from './status.js'

/** Service statuses that allow an action (api.md 4.2, internals.md 3.1). */
const ACTION_ALLOWED = new Set(['running', 'shutdown', 'crashed', 'blocked', 'healthy', 'restart required'])

/**
 * Upstream's validate_can_perform_action: server ACTIVE, task NONE or
 * RESTART_REQUIRED, an allowed service status, no running backup (instance status
 * BACKUP). When the service status is what refuses,
 * upstream names the instance's API status (usually a misleading "ACTIVE"); this
 * names the service status that refused instead.
 */
export function validateCanPerformAction(lab: Lab, inst: InstanceJoined): void {
  let what: string
  let status: string
  const task = taskById(inst.task_id)
  if (!['ACTIVE', 'HEALTHY'].includes(inst.server_status)) {
    what = 'instance'
    status = inst.server_status
  } else if (task !== InstanceTask.NONE && task !== InstanceTask.RESTART_REQUIRED) {
    what = 'task'
    status = task.action
  } else {
    const svc = effectiveServiceStatus(lab, inst)
    if (ACTION_ALLOWED.has(svc.description)) {
      // Backups: a running backup refuses other actions (upstream's Backup.running).
      if (!backupStore(lab.db).running(inst.id)) return
      what = 'instance'
      status = 'BACKUP'
    } else {
      what = 'service'
      status = svc.api
    }
  }
  throw unprocessable(`Instance ${inst.id} is not currently available for an action to be performed (${what} status was ${status}).`)
}

/** A member of a replication set that is busy with a task of its own (not upstream: its task would be lost). */
export function checkIdle(inst: InstanceJoined): void {
  const task = taskById(inst.task_id)
  if (task !== InstanceTask.NONE && task !== InstanceTask.RESTART_REQUIRED)
    throw unprocessable(`Instance ${inst.id} is not currently available for an action to be performed (task status was ${task.action}).`)
}

/**
 * The lab has no Nova to ask for the server's status after a reset: a server left
 * in BUILD or ERROR by a build is re-read from the agent process (up: ACTIVE,
 * down: SHUTDOWN), as upstream's next load would re-read Nova's server. Without
 * this, an instance stuck in BUILD would stay BUILD, and undeletable, after a reset.
 */
export function settleServerStatus(lab: Lab, inst: InstanceJoined): void {
  if (inst.server_status === 'BUILD' || inst.server_status === 'ERROR') {
    lab.instances.setServerStatus(inst.id, agentReachable(lab, inst.id) ? 'ACTIVE' : 'SHUTDOWN')
  }
}

/** reset_status (internals.md 3.1): task NONE, service status UNKNOWN (API "ERROR"). */
export function resetInstanceStatus(lab: Lab, inst: InstanceJoined): void {
  lab.db.transaction(() => {
    lab.instances.setTask(inst.id, 'NONE')
    lab.instances.setServiceStatus(inst.id, 'UNKNOWN')
    settleServerStatus(lab, inst)
    backupStore(lab.db).failRunning(inst.id) // internals.md 3.4: running backups become FAILED
  })()
}

/** reset-task-status (api.md 7.2): task NONE only; the server settled as for reset_status. */
export function resetInstanceTask(lab: Lab, inst: InstanceJoined): void {
  lab.db.transaction(() => {
    lab.instances.setTask(inst.id, 'NONE')
    backupStore(lab.db).failRunning(inst.id) // api.md 7.2: running backups become FAILED
    settleServerStatus(lab, inst)
  })()
}

/**
 * restart (internals.md 1.3): checked, then task REBOOTING and service RESTARTING.
 * Nothing awaits between the check and the writes, so two concurrent restarts cannot
 * both pass the check. The caller then notifies and submits the flow.
 */
export function beginRestart(lab: Lab, inst: InstanceJoined): void {
  validateCanPerformAction(lab, inst)
  lab.db.transaction(() => {
    lab.instances.setTask(inst.id, 'REBOOTING')
    lab.instances.setServiceStatus(inst.id, 'RESTARTING')
  })()
}
