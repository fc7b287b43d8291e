import type { FastifyInstance } from 'fastify'
import type { Lab } from '../../lab.js'
import { Fault, badRequest } from '../../errors.js'
import { caller } from '../../http/guard.js'
import { authorizeAdminRule } from '../../http/policy.js'
import { compileBodySchema, nonEmptyString, volumeSize } from '../../http/validation.js'
import { loadInstance } from '../../instances/load.js'
import { beginRestart, resetInstanceStatus } from '../../instances/actions.js'
import { resizeAction, type ResizeBody } from '../../instances/resize.js'
import { ejectReplicaSource, promoteToReplicaSource } from '../../instances/replicas.js'

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
                  size: volumeSize,
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
    const inst = loadInstance(lab, caller(req), id)

    if (NOT_YET[action]) throw new Fault('notImplemented', NOT_YET[action])
    // Replication (instances/replicas.ts, internals.md 1.7 and 1.8).
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

    // restart (internals.md 1.3)
    beginRestart(lab, inst)
    lab.notifications.start(req, 'instance_restart', id, { instance_id: id })
    lab.tasks.submit('restart_instance', id)
    return reply.code(202).send()
  })
}
