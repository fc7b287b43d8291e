import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { InstanceJoined } from '../../db/instances.js'
import type { Lab } from '../../lab.js'
import { badRequest } from '../../errors.js'
import { compileBodySchema, nonEmptyString, uuid } from '../../http/validation.js'
import { caller } from '../../http/guard.js'
import { attachConfiguration, checkAttach, checkDetach, detachConfiguration } from '../../configurations/attach.js'
import { accessJson, accessSchema, checkCidrs, type AccessBody } from '../../instances/access.js'
import { loadInstance } from '../../instances/load.js'
import { validateCanPerformAction } from '../../instances/actions.js'
import { checkDetachReplica } from '../../instances/replicas.js'
import { autoFailoverValue, checkAutoFailover } from '../../ha/flag.js'
import { haChanged } from '../../ha/monitor.js'
import { checkSyncReplication, syncReplicationValue } from '../../ha/sync.js'
import { upgradeChange } from '../../instances/upgrade.js'
import { UpdateAccessFlow } from '../../tasks/update-access.js'
import { scheduleStore } from '../../db/backup-schedules.js'
import { applyArchiving } from '../../backups/archiving.js'
import { checkRetention, DEFAULT_RETENTION_DAYS } from '../../backups/retention.js'

/**
 * Upstream's instance.update (PUT: `access`, no `slave_of`) and instance.edit (PATCH,
 * deprecated: `slave_of`, no `access`); neither allows other keys.
 */
function updateSchema(extra: Record<string, unknown>) {
  return compileBodySchema({
    type: 'object',
    required: ['instance'],
    properties: {
      instance: {
        type: 'object',
        additionalProperties: false,
        properties: {
          name: nonEmptyString,
          configuration: { oneOf: [uuid, { type: 'null' }] },
          replica_of: {},
          datastore_version: nonEmptyString,
          // Lab extension: checked by checkRetention (backups/retention.ts) for a message naming the range.
          backup_retention: {},
          // Lab extension (README "API notes", docs/ha.md): checked by autoFailoverValue for a message naming it.
          auto_failover: {},
          // Lab extension (README "API notes", docs/ha.md): checked by syncReplicationValue.
          sync_replication: {},
          ...extra,
        },
      },
    },
  })
}
const checkPut = updateSchema({ access: accessSchema })
const checkPatch = updateSchema({ slave_of: {} })

interface UpdateBody {
  name?: string
  configuration?: string | null
  replica_of?: unknown
  slave_of?: unknown
  datastore_version?: string
  access?: AccessBody
  backup_retention?: unknown
  auto_failover?: unknown
  sync_replication?: unknown
}

/**
 * PUT and PATCH /instances/{id} (api.md 6.2, routes 7/8): rename, access, detach
 * replica, upgrade and configuration attach/detach, at most one besides `name`.
 */
export async function instanceUpdateRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  // Registered here, before the server starts, so that unfinished tasks resume.
  lab.tasks.register(new UpdateAccessFlow(lab))

  const update = (put: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    ;(put ? checkPut : checkPatch)(req.body)
    const body = (req.body as { instance: UpdateBody }).instance
    const keys = Object.keys(body)
    if (keys.filter((k) => k !== 'name').length > 1) throw badRequest("Only one attribute (except 'name') is allowed to update.")
    const { id } = req.params as { id: string }
    const inst = loadInstance(lab, caller(req), id)

    // Upstream renames first and then validates the other change, so a refused
    // change still renames. Here everything is checked before anything is written.
    let apply: (() => void) | undefined
    let guest: (() => Promise<void>) | undefined
    let after: (() => void) | undefined
    if ('replica_of' in body || 'slave_of' in body) {
      // Detach the replica (instances/replicas.ts, internals.md 1.9): task DETACHING, then the flow.
      apply = checkDetachReplica(lab, req, inst)
      after = () => lab.tasks.submit('detach_replica', inst.id)
    } else if ('configuration' in body || keys.length === 0) {
      // `{"instance": {}}` detaches too (api.md 10).
      guest = configurationChange(lab, req, inst, body.configuration ?? null)
    } else if (body.datastore_version !== undefined) {
      ;({ apply, after } = upgradeChange(lab, req, inst, body.datastore_version))
    } else if (body.access !== undefined) {
      checkCidrs(body.access)
      // Upstream does not check the instance's state and would overwrite a running
      // task (a BUILDING instance would never leave UPDATING): refuse as actions do.
      validateCanPerformAction(lab, inst)
      const value = accessJson(body.access)
      apply = () => {
        lab.instances.setAccess(inst.id, value)
        lab.instances.setTask(inst.id, 'UPDATING')
      }
      after = () => lab.tasks.submit('update_access', inst.id)
    } else if (body.auto_failover !== undefined) {
      // Automatic failover of a replication set (ha/flag.ts): its agents follow at once (ha/monitor.ts).
      apply = checkAutoFailover(lab, inst, autoFailoverValue(body.auto_failover))
      after = () => haChanged(lab)
    } else if (body.sync_replication !== undefined) {
      // Synchronous replication of a replication set (ha/sync.ts): its engines follow at once (ha/sync-keeper.ts).
      apply = checkSyncReplication(lab, inst, syncReplicationValue(body.sync_replication))
      after = () => haChanged(lab)
    } else if (body.backup_retention !== undefined) {
      // Retention of automated backups (lab extension): applies at the scheduler's next pass.
      const r = checkRetention(body.backup_retention, { days: inst.backup_retention_days ?? DEFAULT_RETENTION_DAYS, count: inst.backup_retention_count ?? null })
      apply = () => scheduleStore(lab.db).setRetention(inst.id, r.days, r.count)
      const was = (inst.backup_retention_days ?? DEFAULT_RETENTION_DAYS) > 0
      after = () => {
        lab.scheduler.wake()
        if (was !== r.days > 0) applyArchiving(lab, inst.id, r.days > 0)
      }
    }

    lab.db.transaction(() => {
      if (body.name !== undefined) lab.instances.rename(inst.id, body.name)
      apply?.()
    })()
    after?.()
    // Synchronous as upstream's (internals.md 1.11): the guest calls finish before the 202.
    if (guest) await guest()
    return reply.code(202).send()
  }

  app.put('/instances/:id', update(true))
  app.patch('/instances/:id', update(false))
}

/**
 * Attach or detach (internals.md 1.11): everything is checked here, before the
 * rename is written; the returned step makes the guest calls. Detaching when
 * nothing is attached is upstream's no-op.
 */
function configurationChange(lab: Lab, req: FastifyRequest, inst: InstanceJoined, configuration: string | null): (() => Promise<void>) | undefined {
  // dbaas.instance_attach_configuration / _detach_configuration: .start, then .end or .error when the guest calls finish.
  if (configuration !== null) {
    const g = checkAttach(lab, inst, configuration, caller(req))
    return () => lab.notifications.action(req, 'instance_attach_configuration', inst.id, { instance_id: inst.id, configuration_id: g.id }, () => attachConfiguration(lab, inst.id, g))
  }
  // Upstream notifies a detach with nothing attached too (a no-op inside the notification).
  const detach = checkDetach(lab, inst)
  return () =>
    lab.notifications.action(req, 'instance_detach_configuration', inst.id, { instance_id: inst.id }, async () => {
      if (detach) await detachConfiguration(lab, inst)
    })
}
