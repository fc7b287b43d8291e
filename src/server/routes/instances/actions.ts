import type { FastifyInstance } from 'fastify'
import { ServiceStatus } from '../../../protocol/index.js'
import type { InstanceJoined } from '../../db/instances.js'
import type { Lab } from '../../lab.js'
import { InstanceTask, taskById } from '../../tasks/instance-tasks.js'
import { agentReachable } from '../../tasks/agent-health.js'
import { Backups } from '../../db/backups.js'
import { Fault, badRequest, unprocessable } from '../../errors.js'
import { loadInstance } from './crud.js'
import { resizeAction, type ResizeBody } from './resize.js'
import { ejectReplicaSource, promoteToReplicaSource } from './replicas.js'
import { authorizeAdminRule } from '../../http/policy.js'
import { compileBodySchema, nonEmptyString } from '../../http/validation.js'

const BY_CODE = new Map<number, (typeof ServiceStatus)[keyof typeof ServiceStatus]>(Object.values(ServiceStatus).map((s) => [s.code, s]))

/** Service statuses that allow an action (api.md 4.2, internals.md 3.1). */
const ACTION_ALLOWED = new Set(['running', 'shutdown', 'crashed', 'blocked', 'healthy', 'restart required'])

/**
 * The guest's status as upstream's instance load sees it: with no task running, a
 * heartbeat older than the expiry reads as "guestagent error" (internals.md 3.2).
 */
export function effectiveServiceStatus(lab: Lab, inst: InstanceJoined): { description: string; api: string } {
  const svc = inst.status_id === null ? undefined : BY_CODE.get(inst.status_id)
  if (!svc) return { description: inst.status_description ?? 'unknown', api: 'ERROR' }
  const fresh = inst.status_updated !== null && Date.now() - Date.parse(inst.status_updated + 'Z') < lab.config.heartbeatExpiryMs
  if (inst.task_id === InstanceTask.NONE.id && !fresh && svc !== ServiceStatus.RESTART_REQUIRED) {
    return { description: ServiceStatus.FAILED_TIMEOUT_GUESTAGENT.description, api: ServiceStatus.FAILED_TIMEOUT_GUESTAGENT.api }
  }
  return { description: svc.description, api: svc.api }
}

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
      if (!new Backups(lab.db).running(inst.id)) return
      what = 'instance'
      status = 'BACKUP'
    } else {
      what = 'service'
      status = svc.api
    }
  }
  throw unprocessable(`Instance ${inst.id} is not currently available for an action to be performed (${what} status was ${status}).`)
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
    new Backups(lab.db).failRunning(inst.id) // internals.md 3.4: running backups become FAILED
  })()
}

/** reset-task-status (api.md 7.2): task NONE only; the server settled as for reset_status. */
export function resetInstanceTask(lab: Lab, inst: InstanceJoined): void {
  lab.db.transaction(() => {
    lab.instances.setTask(inst.id, 'NONE')
    new Backups(lab.db).failRunning(inst.id) // api.md 7.2: running backups become FAILED
    settleServerStatus(lab, inst)
  })()
}

/**
 * Schemas by action (upstream applies the schema of the body's FIRST key, while the
 * LAST recognised key selects the action). reset_status, promote and eject have no
 * schema upstream, so a non-object there ends in a 500; here it is a 400.
 */
const ACTION_SCHEMAS: Record<string, (body: unknown) => void> = {
  restart: compileBodySchema({ type: 'object', properties: { restart: { type: 'object' } } }),
  resize: compileBodySchema({
    type: 'object',
    properties: {
      resize: {
        oneOf: [
          {
            type: 'object',
            required: ['volume'],
            properties: {
              volume: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: {
                    oneOf: [
                      { type: 'integer', minimum: 1 },
                      { type: 'string', pattern: '^[0-9]+$' },
                    ],
                  },
                },
              },
            },
          },
          { type: 'object', required: ['flavorRef'], properties: { flavorRef: { oneOf: [nonEmptyString, { type: 'integer' }] } } },
        ],
      },
    },
  }),
  reset_status: compileBodySchema({ type: 'object', properties: { reset_status: { type: 'object' } } }),
  promote_to_replica_source: compileBodySchema({ type: 'object', properties: { promote_to_replica_source: { type: 'object' } } }),
  eject_replica_source: compileBodySchema({ type: 'object', properties: { eject_replica_source: { type: 'object' } } }),
}

const NOT_YET: Record<string, string> = {}

/** Route 10, `POST /instances/{id}/action` (api.md 6.3). */
export async function instanceActionRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.post('/instances/:id/action', async (req, reply) => {
    const { id } = req.params as { id: string }
    const body = req.body
    if (body === null || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length === 0) throw badRequest('Invalid request body.')
    const keys = Object.keys(body)
    const action = keys.filter((k) => Object.hasOwn(ACTION_SCHEMAS, k)).pop()
    // Upstream calls None() for a body without a known action and answers 500.
    if (!action) throw badRequest(`Invalid instance action: ${keys[0]}`)
    if (Object.hasOwn(ACTION_SCHEMAS, keys[0])) ACTION_SCHEMAS[keys[0]](body)
    // Upstream checks only the first key's schema; the selected action's is checked too,
    // so `{"restart": {}, "reset_status": null}` is a 400, not a crash.
    ACTION_SCHEMAS[action](body)
    const inst = loadInstance(lab, req, id)

    if (NOT_YET[action]) throw new Fault('notImplemented', NOT_YET[action])
    // Replication (replicas.ts, internals.md 1.7 and 1.8).
    if (action === 'promote_to_replica_source' || action === 'eject_replica_source') {
      ;(action === 'promote_to_replica_source' ? promoteToReplicaSource : ejectReplicaSource)(lab, req, inst)
      return reply.code(202).send()
    }
    if (action === 'resize') {
      resizeAction(lab, req, inst, (body as { resize: ResizeBody }).resize)
      return reply.code(202).send()
    }
    if (action === 'reset_status') {
      // force_delete asks only for instance:force_delete (admin_or_owner: loadInstance
      // already refused other projects), so owners can reset before a forced delete.
      if (!Object.hasOwn((body as { reset_status: object }).reset_status, 'force_delete')) authorizeAdminRule(req, 'instance:reset_status')
      await lab.notifications.action(req, 'instance_reset_status', id, { instance_id: id }, () => resetInstanceStatus(lab, inst))
      lab.log(`instance ${id}: status reset (task NONE, service status unknown)`)
      return reply.code(202).send()
    }

    // restart (internals.md 1.3): nothing awaits between the check and the writes, so
    // two concurrent restarts cannot both pass the check.
    validateCanPerformAction(lab, inst)
    lab.db.transaction(() => {
      lab.instances.setTask(id, 'REBOOTING')
      lab.instances.setServiceStatus(id, 'RESTARTING')
    })()
    lab.notifications.start(req, 'instance_restart', id, { instance_id: id })
    lab.tasks.submit('restart_instance', id)
    return reply.code(202).send()
  })
}
