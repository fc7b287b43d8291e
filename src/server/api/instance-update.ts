import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { isoNow } from '../db/index.js'
import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import type { FlowHandler, TaskRow } from '../tasks/engine.js'
import { InstanceTask } from '../tasks/instance-tasks.js'
import { Fault, badRequest } from './faults.js'
import { accessSchema, loadInstance } from './instances.js'
import { validateCanPerformAction } from './instance-actions.js'
import { compileBodySchema, nonEmptyString, uuid } from './validation.js'
import { caller } from './guard.js'
import { attachConfiguration, checkAttach, checkDetach, detachConfiguration } from '../configurations/attach.js'
import type { VersionRow } from './views.js'

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
  access?: { is_public?: boolean; allowed_cidrs?: string[] }
}

const CIDR_RE = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/

/**
 * The access change's flow. The guest side (binding the engine to the allowed
 * networks) comes with the next issue: for now the API has recorded the new access
 * and set the task UPDATING, and this flow only returns the task to NONE, so
 * clients see upstream's task sequence. A task row makes it survive a restart.
 */
export class UpdateAccessFlow implements FlowHandler {
  readonly kind = 'update_access'
  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    if (this.lab.instances.get(task.instance_id)?.task_id === InstanceTask.UPDATING.id) this.lab.instances.setTask(task.instance_id, 'NONE')
  }
}

/**
 * PUT and PATCH /instances/{id} (api.md 6.2, routes 7/8): rename, access, detach
 * replica, upgrade and configuration attach/detach, at most one besides `name`.
 */
export async function instanceUpdateRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  // Registered here, before the server starts, so that unfinished tasks resume.
  lab.tasks.register(new UpdateAccessFlow(lab))
  const rename = lab.db.prepare('UPDATE instances SET name = ?, updated = ? WHERE id = ?')
  const setAccess = lab.db.prepare('UPDATE instances SET access = ?, updated = ? WHERE id = ?')

  const update = (put: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    ;(put ? checkPut : checkPatch)(req.body)
    const body = (req.body as { instance: UpdateBody }).instance
    const keys = Object.keys(body)
    if (keys.filter((k) => k !== 'name').length > 1) throw badRequest("Only one attribute (except 'name') is allowed to update.")
    const { id } = req.params as { id: string }
    const inst = loadInstance(lab, req, id)

    // Upstream renames first and then validates the other change, so a refused
    // change still renames. Here everything is checked before anything is written.
    let apply: (() => void) | undefined
    let guest: (() => Promise<void>) | undefined
    if ('replica_of' in body || 'slave_of' in body) {
      validateCanPerformAction(lab, inst)
      // The lab has no replicas yet: every instance is a source (upstream's 400).
      throw badRequest(`Instance ${inst.id} is not a replica.`)
    } else if ('configuration' in body || keys.length === 0) {
      // `{"instance": {}}` detaches too (api.md 10).
      guest = configurationChange(lab, req, inst, body.configuration ?? null)
    } else if (body.datastore_version !== undefined) {
      upgradeTarget(lab, inst, body.datastore_version)
      throw new Fault('notImplemented', 'upgrade is not supported by this lab server yet')
    } else if (body.access !== undefined) {
      for (const c of body.access.allowed_cidrs ?? []) if (!CIDR_RE.test(c)) throw badRequest(`Validation error: instance['access']['allowed_cidrs'] '${c}' is not a 'cidr'`)
      // Upstream does not check the instance's state and would overwrite a running
      // task (a BUILDING instance would never leave UPDATING): refuse as actions do.
      validateCanPerformAction(lab, inst)
      const value = JSON.stringify({ is_public: body.access.is_public ?? false, allowed_cidrs: body.access.allowed_cidrs ?? [] })
      apply = () => {
        setAccess.run(value, isoNow(), inst.id)
        lab.instances.setTask(inst.id, 'UPDATING')
      }
    }

    lab.db.transaction(() => {
      if (body.name !== undefined) rename.run(body.name, isoNow(), inst.id)
      apply?.()
    })()
    if (apply) lab.tasks.submit('update_access', inst.id)
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
  if (configuration !== null) {
    const g = checkAttach(lab, inst, configuration, caller(req))
    return () => attachConfiguration(lab, inst.id, g)
  }
  if (!checkDetach(lab, inst)) return undefined
  return () => detachConfiguration(lab, inst)
}

/**
 * Upstream's DatastoreVersion.load within the instance's datastore: by id, then by
 * name; an unknown version is a 400 (DatastoreVersionNotFound is not in the fault
 * map), an inactive one too.
 */
function upgradeTarget(lab: Lab, inst: InstanceJoined, ref: string): VersionRow {
  const current = lab.db.prepare('SELECT datastore_id FROM datastore_versions WHERE id = ?').get(inst.datastore_version_id) as { datastore_id: string } | undefined
  if (!current) throw badRequest(`Datastore version '${ref}' cannot be found.`)
  const all = lab.db.prepare('SELECT * FROM datastore_versions WHERE datastore_id = ?').all(current.datastore_id) as VersionRow[]
  const v = all.find((x) => x.id === ref) ?? all.find((x) => x.name === ref)
  if (!v) throw badRequest(`Datastore version '${ref}' cannot be found.`)
  if (!v.active) throw badRequest(`Datastore version '${v.name}' is not active.`)
  return v
}
