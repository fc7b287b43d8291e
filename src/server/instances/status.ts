import { ServiceStatus } from '../../protocol/index.js'
import type { InstanceJoined } from '../db/instances.js'
import { InstanceTask, taskById } from '../tasks/instance-tasks.js'

/**
 * What status derivation needs of the lab: the heartbeat expiry. A structural type, not Lab:
 * lab.ts names the notifier, whose events carry these statuses, so importing Lab would be a cycle.
 */
export interface HeartbeatClock {
  config: { heartbeatExpiryMs: number }
}

const SERVICE_BY_CODE = new Map<number, (typeof ServiceStatus)[keyof typeof ServiceStatus]>(Object.values(ServiceStatus).map((s) => [s.code, s]))

/** A heartbeat newer than the expiry (internals.md 3.2). */
function heartbeatFresh(lab: HeartbeatClock, inst: InstanceJoined): boolean {
  return inst.status_updated !== null && Date.now() - Date.parse(inst.status_updated + 'Z') < lab.config.heartbeatExpiryMs
}

/** API status (api.md 4.1), first match wins. */
export function instanceStatus(inst: InstanceJoined): string {
  const task = taskById(inst.task_id)
  if (task.error) return 'ERROR'
  switch (task.action) {
    case 'BUILDING':
      return inst.server_status === 'ERROR' ? 'ERROR' : 'BUILD'
    case 'REBOOTING':
      return 'REBOOT'
    case 'RESIZING':
      return 'RESIZE'
    case 'UPGRADING':
      return 'UPGRADE'
    case 'RESTART_REQUIRED':
      return 'RESTART_REQUIRED'
    case 'PROMOTING':
      return 'PROMOTE'
    case 'EJECTING':
      return 'EJECT'
    case 'DETACHING':
      return 'DETACH'
    case 'DELETING':
      return ['ACTIVE', 'SHUTDOWN', 'DELETED'].includes(inst.server_status) ? 'SHUTDOWN' : 'ERROR'
  }
  if (inst.backup_running) return 'BACKUP'
  if (['BUILD', 'ERROR', 'REBOOT', 'RESIZE', 'ACTIVE', 'SHUTDOWN'].includes(inst.server_status)) return inst.server_status
  if (inst.server_status === 'VERIFY_RESIZE') return 'RESIZE'
  return 'UNKNOWN'
}

/** operating_status (api.md 4.2): the guest's health, only once the instance is ACTIVE with no task. */
export function operatingStatus(inst: InstanceJoined, lab: HeartbeatClock): string {
  const task = taskById(inst.task_id)
  if (task.action !== 'NONE' || inst.server_status !== 'ACTIVE' || inst.status_id === null) return ''
  const svc = SERVICE_BY_CODE.get(inst.status_id)
  if (!svc) return 'ERROR'
  if (!heartbeatFresh(lab, inst) && svc !== ServiceStatus.RESTART_REQUIRED) return ServiceStatus.FAILED_TIMEOUT_GUESTAGENT.api
  return svc.api
}

/**
 * The guest's status as upstream's instance load sees it: with no task running, a
 * heartbeat older than the expiry reads as "guestagent error" (internals.md 3.2).
 */
export function effectiveServiceStatus(lab: HeartbeatClock, inst: InstanceJoined): { description: string; api: string } {
  const svc = inst.status_id === null ? undefined : SERVICE_BY_CODE.get(inst.status_id)
  if (!svc) return { description: inst.status_description ?? 'unknown', api: 'ERROR' }
  if (inst.task_id === InstanceTask.NONE.id && !heartbeatFresh(lab, inst) && svc !== ServiceStatus.RESTART_REQUIRED) {
    return { description: ServiceStatus.FAILED_TIMEOUT_GUESTAGENT.description, api: ServiceStatus.FAILED_TIMEOUT_GUESTAGENT.api }
  }
  return { description: svc.description, api: svc.api }
}
