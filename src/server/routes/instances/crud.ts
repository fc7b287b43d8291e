import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { EngineManager } from '../../../protocol/index.js'
import type { InstanceJoined } from '../../db/instances.js'
import type { Lab } from '../../lab.js'
import { InstanceTask } from '../../tasks/instance-tasks.js'
import { caller } from '../../http/guard.js'
import { Fault, badRequest, notFound, resourceNotFound, unprocessable } from '../../errors.js'
import { compileBodySchema, nonEmptyString, uuid } from '../../http/validation.js'
import { findFlavor } from '../flavors.js'
import { resolveDatastoreVersion } from '../datastores.js'
import { baseUrl } from '../../http/server.js'
import { instanceStatus, instanceView, type VolumeUsage } from '../../http/views.js'
import { instanceDeltas } from '../../quotas.js'
import { checkCreatePayload } from '../guest-accounts.js'
import { createReplicas, refuseDeleteOfSource } from './replicas.js'
import { loadModulesByIds, validateModulesFor } from '../../modules/apply.js'
import { resolveRestorePoint } from './restore-point.js'
import { configurationStore } from '../../db/configurations.js'
import { MAX_WAIT_S, WAIT_HEADER, waitForChange } from './wait.js'
import { checkGroupForEngine } from '../../configurations/attach.js'

/** An instance's `access` in create and update bodies. */
export const accessSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { is_public: { type: 'boolean' }, allowed_cidrs: { type: 'array', uniqueItems: true, items: { type: 'string' } } },
} as const

/** Upstream's instance.create schema (apischema.py), the parts a lab can honour. */
const checkCreate = compileBodySchema({
  type: 'object',
  required: ['instance'],
  properties: {
    instance: {
      type: 'object',
      required: ['name'],
      properties: {
        name: nonEmptyString,
        flavorRef: { oneOf: [nonEmptyString, { type: 'integer' }] },
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
            type: { oneOf: [nonEmptyString, { type: 'null' }] },
          },
        },
        datastore: { type: 'object', properties: { type: nonEmptyString, version: nonEmptyString, version_number: nonEmptyString } },
        databases: {
          type: 'array',
          items: { type: 'object', required: ['name'], properties: { name: nonEmptyString, character_set: nonEmptyString, collate: nonEmptyString } },
        },
        users: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'password'],
            properties: {
              name: nonEmptyString,
              password: nonEmptyString,
              host: nonEmptyString,
              databases: { type: 'array', uniqueItems: true, items: { type: 'object', required: ['name'], properties: { name: nonEmptyString } } },
            },
          },
        },
        restorePoint: { type: 'object', required: ['backupRef'], properties: { backupRef: uuid } },
        replica_of: uuid,
        replica_count: { type: 'integer', minimum: 1, maximum: 3 },
        availability_zone: nonEmptyString,
        nics: { type: 'array', maxItems: 1, items: { type: 'object' } },
        configuration: { oneOf: [nonEmptyString, { type: 'null' }] },
        modules: { type: 'array', items: { type: 'object', required: ['id'], properties: { id: uuid } } },
        locality: { enum: ['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity'] },
        region_name: nonEmptyString,
        access: accessSchema,
      },
    },
  },
})

interface CreateBody {
  instance: {
    name: string
    flavorRef?: string | number
    volume?: { size: number | string; type?: string | null }
    datastore?: { type?: string; version?: string; version_number?: string }
    databases?: Array<{ name: string; character_set?: string; collate?: string }>
    users?: Array<{ name: string; password: string; host?: string; databases?: Array<{ name: string }> }>
    restorePoint?: unknown
    replica_of?: string
    replica_count?: number
    configuration?: string | null
    modules?: unknown[]
    region_name?: string
    access?: { is_public?: boolean; allowed_cidrs?: string[] }
  }
}

const CIDR_RE = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/

/** The instance of `id` visible to the caller: its own project's, or any for an admin (upstream). */
export function loadInstance(lab: Lab, req: FastifyRequest, id: string): InstanceJoined {
  const { projectId, isAdmin } = caller(req)
  const inst = lab.instances.get(id)
  if (!inst || (inst.tenant_id !== projectId && !isAdmin)) throw resourceNotFound(id)
  return inst
}

const NO_USAGE_STATUSES = new Set(['BUILD', 'REBOOT', 'RESIZE', 'PROMOTE', 'EJECT', 'UPGRADE', 'SHUTDOWN'])

export async function instanceRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const list = (detail: boolean) => async (req: FastifyRequest) => {
    const { projectId, isAdmin } = caller(req)
    const q = req.query as { limit?: string; marker?: string }
    const requested = q.limit !== undefined ? Number.parseInt(q.limit, 10) : lab.config.pageSize
    if (!Number.isFinite(requested) || requested < 0) throw badRequest(`Invalid limit '${q.limit}'.`)
    const limit = Math.min(requested || lab.config.pageSize, lab.config.pageSize)
    const rows = lab.instances.listForTenant(projectId, q.marker ?? '', limit + 1, detail)
    const page = rows.slice(0, limit)
    // Upstream pages by id, then shows each page newest first.
    page.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0))
    const body: Record<string, unknown> = { instances: page.map((i) => instanceView(req, i, lab, { detail, admin: isAdmin })) }
    if (rows.length > limit) {
      const url = new URL(`${baseUrl(req)}${req.url}`)
      url.searchParams.set('limit', String(limit))
      url.searchParams.set('marker', rows[limit - 1].id)
      body.links = [{ rel: 'next', href: url.toString() }]
    }
    return body
  }
  app.get('/instances', list(false))
  app.get('/instances/detail', list(true))

  app.get('/instances/:id', async (req, reply) => {
    const { id } = req.params as { id: string }
    let inst = loadInstance(lab, req, id)
    reply.header(WAIT_HEADER, String(MAX_WAIT_S))
    const q = req.query as { wait_for_change?: string; wait_timeout?: string }
    if (q.wait_for_change !== undefined) inst = await waitForChange(lab, reply, inst, q)
    let usage: VolumeUsage | undefined
    if (!NO_USAGE_STATUSES.has(instanceStatus(inst)) && lab.compute.agentAlive(inst.id)) {
      try {
        const fs = await lab.rpc.call(inst.id, 'get_filesystem_stats', {}, 3000)
        usage = { used: Math.round(fs.used * 100) / 100, used_percent: fs.total > 0 ? Math.round((fs.used / fs.total) * 10000) / 100 : 0 }
      } catch {
        /* upstream omits usage when the guest does not answer */
      }
    }
    return { instance: instanceView(req, inst, lab, { detail: true, admin: caller(req).isAdmin, usage }) }
  })

  app.post('/instances', async (req) => {
    const { projectId, isAdmin } = caller(req)
    checkCreate(req.body)
    const body = (req.body as CreateBody).instance
    // Replication (replicas.ts): a replica copies flavor, volume and datastore from its source.
    if (body.replica_of !== undefined && body.replica_of !== null) return createReplicas(lab, req, body)
    if (body.replica_count !== undefined && body.replica_count > 1) throw badRequest(`Replica count only valid when creating replicas. Cannot create ${body.replica_count} instances.`)
    if (body.flavorRef === undefined) throw badRequest('Validation error: instance flavorRef is required')
    const flavorRef = String(body.flavorRef).split('/').pop() ?? ''
    const flavor = findFlavor(lab, flavorRef)
    if (!flavor) throw badRequest(`Resource ${flavorRef} cannot be found.`)
    // Backups: a restore builds the backup's datastore version unless the body names one (restore-point.ts).
    const restore = body.restorePoint
      ? resolveRestorePoint(lab, req, (body.restorePoint as { backupRef: string }).backupRef, body.datastore, Number(body.volume?.size ?? lab.config.maxVolumeSize))
      : undefined
    const version = restore?.version ?? resolveDatastoreVersion(lab, body.datastore)
    // A configuration group at create (upstream's load + datastore version check): its values
    // are written into the engine's config before the first start (prepare's overrides).
    const group = body.configuration ? configurationStore(lab.db).groups.get(body.configuration) : undefined
    if (body.configuration && (!group || (group.tenant_id !== projectId && !isAdmin))) throw notFound(`Configuration group id: ${body.configuration} could not be found.`)
    if (group && group.datastore_version_id !== version.id)
      throw badRequest(`Datastore Version on Configuration ${group.datastore_version_id} does not match the Datastore Version on the instance ${version.id}.`)
    if (group) checkGroupForEngine(lab, group)
    if (!body.volume) throw badRequest('Volume size was not specified.')
    // Modules applied once the guest is up (modules/apply.ts); unknown or foreign ids are skipped (upstream).
    const createModules = loadModulesByIds(
      lab,
      ((body.modules ?? []) as Array<{ id: string }>).map((m) => m.id),
      projectId,
      isAdmin,
    )
    validateModulesFor(lab, createModules, version.id)
    const size = Number(body.volume.size)
    if (!Number.isInteger(size) || size <= 0) throw badRequest(`Volume 'size' needs to be a positive integer value, ${String(body.volume.size)} cannot be accepted.`)
    if (size > lab.config.maxVolumeSize) {
      throw new Fault('overLimit', `Volume 'size' cannot exceed maximum of ${lab.config.maxVolumeSize} GB, ${size} cannot be accepted.`)
    }
    if (body.region_name && body.region_name !== lab.config.region) throw badRequest(`Region '${body.region_name}' is not available; this lab has only '${lab.config.region}'.`)
    checkCreatePayload(version.manager, body.databases, body.users)
    const dbNames = new Set((body.databases ?? []).map((d) => d.name))
    for (const u of body.users ?? []) {
      for (const d of u.databases ?? []) {
        if (!dbNames.has(d.name)) throw badRequest(`Database '${d.name}' of user '${u.name}' is not in the databases to create.`)
      }
    }
    for (const c of body.access?.allowed_cidrs ?? []) if (!CIDR_RE.test(c)) throw badRequest(`Validation error: instance['access']['allowed_cidrs'] '${c}' is not a 'cidr'`)

    const id = randomUUID()
    // Quota (internals.md 6): reserved before anything is made (413 leaves nothing behind),
    // committed in the transaction that writes the row, rolled back if the create fails.
    const reservation = lab.quotas.reserve(projectId, instanceDeltas(flavor.ram, size))
    // Reserve an address and write the row under one lock, so two creates never pick the same address.
    await lab.quotas.settle(
      reservation,
      allocationLock.run(async () => {
        const { address, port } = await lab.compute.reserve(id, version.manager as EngineManager, lab.instances.addressesInUse())
        lab.quotas.commitWith(reservation, () =>
          lab.instances.create({
            id,
            name: body.name,
            tenant_id: projectId,
            flavor_id: flavor.id,
            volume_size: size,
            volume_type: body.volume?.type ?? null,
            datastore_version_id: version.id,
            address,
            port,
            region_id: lab.config.region,
            access: body.access ? JSON.stringify({ is_public: body.access.is_public ?? false, allowed_cidrs: body.access.allowed_cidrs ?? [] }) : null,
          }),
        )
      }),
    )
    lab.notifications.instanceCreateStarted(req, lab.instances.get(id), body)
    if (group) lab.db.prepare('UPDATE instances SET configuration_id = ? WHERE id = ?').run(group.id, id)
    // A restore has the root its backup's instance had (MariaDB and PostgreSQL keep it in the
    // data; Redis in the backup's metadata), so root show says so, as upstream records it.
    if (restore) {
      lab.db
        .prepare(`INSERT INTO root_enabled_history (id, user, created, deleted_at)
        SELECT ?, h.user, ?, NULL FROM backups b JOIN root_enabled_history h ON h.id = b.instance_id AND h.deleted_at IS NULL WHERE b.id = ?
        ON CONFLICT(id) DO NOTHING`)
        .run(id, new Date().toISOString().slice(0, 19), restore.spec.backupId)
    }
    lab.tasks.submit('create_instance', id, {
      databases: body.databases ?? [],
      users: body.users ?? [],
      ...(restore ? { restore: restore.spec } : {}),
      ...(group ? { configuration: group.id } : {}),
      ...(createModules.length ? { modules: createModules.map((m) => m.id) } : {}),
    })
    const inst = lab.instances.get(id)!
    return { instance: instanceView(req, inst, lab, { detail: true, admin: isAdmin }) }
  })

  app.delete('/instances/:id', async (req, reply) => {
    const { id } = req.params as { id: string }
    const inst = loadInstance(lab, req, id)
    const status = instanceStatus(inst)
    if (inst.task_id === InstanceTask.DELETING.id) return reply.code(202).send()
    if (status === 'BUILD') throw unprocessable(`Instance ${id} is not ready. (Status is ${status}).`)
    refuseDeleteOfSource(lab, inst)
    // Upstream releases the usage when the delete is accepted, not when it completes.
    lab.quotas.run(inst.tenant_id, instanceDeltas(findFlavor(lab, inst.flavor_id)?.ram ?? 0, inst.volume_size, -1), () => lab.instances.setTask(id, 'DELETING'))
    lab.notifications.start(req, 'instance_delete', id, { instance_id: id })
    lab.tasks.submit('delete_instance', id)
    return reply.code(202).send()
  })
}

/** A tiny async mutex. */
class Lock {
  private tail: Promise<unknown> = Promise.resolve()
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn)
    this.tail = next.catch(() => undefined)
    return next
  }
}
/** Held while an address is reserved and the row written (replicas.ts takes it too). */
export const allocationLock = new Lock()
