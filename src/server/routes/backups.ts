import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { Backups, RUNNING_STATES, type BackupFilter, type BackupJoined } from '../db/backups.js'
import { removeBackupFiles } from '../compute/backup-store.js'
import { caller } from '../http/guard.js'
import { Fault, badRequest, notFound, resourceNotFound, unprocessable } from '../errors.js'
import { compileBodySchema, nonEmptyString, uuid } from '../http/validation.js'
import { authorizeAdminRule } from '../http/policy.js'
import { baseUrl } from '../http/server.js'
import { loadInstance } from './instances/crud.js'
import { validateCanPerformAction } from './instances/actions.js'
import { findDatastore } from '../datastores/resolve.js'

/** Engines whose guest can back up (upstream: a datastore with a backup_strategy). */
export const BACKUP_MANAGERS = new Set(['mariadb', 'mysql', 'postgresql', 'redis'])
/**
 * Engines with incremental backups. Redis has none upstream (engines.md 3: the AOF
 * is the nearest thing), so an incremental request on Redis is refused with a 400
 * rather than silently taken as a full backup: the caller asked for something else.
 */
export const INCREMENTAL_MANAGERS = new Set(['mariadb', 'mysql', 'postgresql'])
/** Upstream's running_backups_expires (days): older running backups may be deleted. */
const RUNNING_BACKUPS_EXPIRE_MS = 3 * 24 * 3600_000

/** Upstream's backup.create schema (apischema.py). */
const checkCreate = compileBodySchema({
  type: 'object',
  required: ['backup'],
  properties: {
    backup: {
      type: 'object',
      required: ['name'],
      properties: {
        name: nonEmptyString,
        instance: uuid,
        description: nonEmptyString,
        parent_id: uuid,
        incremental: { type: 'integer', minimum: 0, maximum: 1 },
        swift_container: nonEmptyString,
        storage_driver: { type: 'string' },
        restore_from: {
          type: 'object',
          required: ['remote_location', 'local_datastore_version_id', 'size'],
          properties: { remote_location: nonEmptyString, local_datastore_version_id: uuid, size: { type: 'number' } },
        },
      },
    },
  },
})

interface CreateBody {
  backup: {
    name: string
    instance?: string
    description?: string
    parent_id?: string
    incremental?: number
    swift_container?: string
    storage_driver?: string
    restore_from?: unknown
  }
}

const isoDate = (s: string) => s.replace(/\.\d+Z?$/, '').replace(/Z$/, '')

/** Upstream's BackupView, in the transcript's key order (no storage_driver: api.md 11). */
export function backupView(b: BackupJoined): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: b.id,
    name: b.name,
    description: b.description,
    locationRef: b.location,
    instance_id: b.instance_id,
    created: isoDate(b.created),
    updated: isoDate(b.updated),
    size: b.size,
    status: b.state,
    parent_id: b.parent_id,
    project_id: b.tenant_id,
  }
  if (b.datastore_version_id) view.datastore = { type: b.ds_name, version: b.dsv_name, version_id: b.datastore_version_id }
  return view
}

/** A backup visible to the caller: its own project's, or any for an admin (upstream's find_by with context). */
export function loadBackup(lab: Lab, req: FastifyRequest, id: string): BackupJoined {
  const { projectId, isAdmin } = caller(req)
  const b = new Backups(lab.db).get(id)
  if (!b || (b.tenant_id !== projectId && !isAdmin)) throw resourceNotFound(id)
  return b
}

/** Offset pagination of backups (api.md 3): `limit or 20` uncapped; next = offset+limit whenever the page is full. */
function page(lab: Lab, req: FastifyRequest, reply: FastifyReply, filter: BackupFilter) {
  const q = req.query as { limit?: string; marker?: string }
  const offset = q.marker === undefined || q.marker === '' ? 0 : Number(q.marker)
  if (!Number.isInteger(offset) || offset < 0) throw badRequest(`Invalid marker '${q.marker}': backups are paged by an integer offset.`)
  const limit = q.limit === undefined || q.limit === '' ? lab.config.pageSize : Number(q.limit)
  if (!Number.isInteger(limit) || limit < 0) throw badRequest(`Invalid limit '${q.limit}'.`)
  const size = limit || lab.config.pageSize
  const rows = new Backups(lab.db).list(filter, offset, size)
  const body: Record<string, unknown> = { backups: rows.map(backupView) }
  if (rows.length >= size) {
    const url = new URL(`${baseUrl(req)}${req.url}`)
    url.searchParams.set('marker', String(offset + size))
    body.links = [{ rel: 'next', href: url.toString() }]
  }
  void reply
  return body
}

/** Routes 11 and 38-41 (api.md 6.4, 6.12). */
export async function backupRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const backups = new Backups(lab.db)

  app.get('/backups', async (req, reply) => {
    const { projectId } = caller(req)
    const q = req.query as { instance_id?: string; datastore?: string; project_id?: string; all_projects?: string }
    const allProjects = q.all_projects !== undefined && /^(true|1|yes|on)$/i.test(q.all_projects)
    if (allProjects || q.project_id) authorizeAdminRule(req, 'backup:index:all_projects')
    const filter: BackupFilter = { tenantId: allProjects && !q.project_id ? undefined : q.project_id || projectId }
    if (q.instance_id) filter.instanceId = q.instance_id
    if (q.datastore) {
      const ds = findDatastore(lab, q.datastore)
      if (!ds) throw notFound(`Datastore '${q.datastore}' cannot be found.`)
      filter.datastoreId = ds.id
    }
    return page(lab, req, reply, filter)
  })

  app.get('/instances/:id/backups', async (req, reply) => {
    const { id } = req.params as { id: string }
    const { projectId, isAdmin } = caller(req)
    loadInstance(lab, req, id)
    // Admins see every backup of the instance; members their project's (upstream list_for_instance).
    return page(lab, req, reply, { instanceId: id, tenantId: isAdmin ? undefined : projectId })
  })

  app.get('/backups/:id', async (req) => {
    const { id } = req.params as { id: string }
    return { backup: backupView(loadBackup(lab, req, id)) }
  })

  app.post('/backups', async (req, reply) => {
    const { projectId } = caller(req)
    checkCreate(req.body)
    const body = (req.body as CreateBody).backup
    if (body.restore_from !== undefined) {
      throw new Fault('notImplemented', 'Registering a backup from a remote location (restore_from) is not supported by this lab server: its backups live in its own directory store.')
    }
    if (!body.instance) throw badRequest('instance is missing.')
    const inst = loadInstance(lab, req, body.instance)
    validateCanPerformAction(lab, inst)
    const manager = inst.dsv_manager ?? ''
    if (!BACKUP_MANAGERS.has(manager)) throw new Fault('notImplemented', `The 'backup_create' operation is not supported for the '${inst.ds_name ?? manager}' datastore.`)
    let parentId: string | null = null
    if (body.parent_id) {
      const parent = loadBackup(lab, req, body.parent_id)
      if (parent.instance_id !== inst.id) throw badRequest(`Backup ${parent.id} is not a backup of instance ${inst.id}: an incremental backup continues a backup of the same instance.`)
      if (parent.state !== 'COMPLETED') throw new Fault('conflict', `Unable to create an incremental backup because parent backup ${parent.id} is not completed. Actual state: ${parent.state}.`)
      parentId = parent.id
    } else if (body.incremental === 1) {
      parentId = backups.lastCompleted(inst.id)?.id ?? null
    }
    if ((parentId || body.incremental === 1) && !INCREMENTAL_MANAGERS.has(manager)) {
      throw badRequest(`Incremental backups are not supported by datastore ${inst.ds_name ?? manager}: it has no incremental backup (take a full backup instead).`)
    }
    // A PostgreSQL standby neither switches WAL segments nor archives them (archive_mode=on
    // archives on the primary only), so its incrementals have nothing to chain: refused
    // up front rather than left to fail on the guest. Full backups of a replica work.
    if ((parentId || body.incremental === 1) && manager === 'postgresql' && inst.slave_of_id) {
      throw badRequest(`Incremental backups of a PostgreSQL replica are not supported: instance ${inst.id} is a replica of ${inst.slave_of_id} (take a full backup of it, or back up its source).`)
    }
    const id = randomUUID()
    lab.quotas.run(projectId, { backups: 1 }, () => {
      // Checked again in the transaction that writes the row: two creates cannot both pass.
      if (backups.running(inst.id)) throw unprocessable(`Instance ${inst.id} is not currently available for an action to be performed (instance status was BACKUP).`)
      backups.insert({
        id,
        name: body.name,
        description: body.description ?? null,
        tenant_id: projectId,
        instance_id: inst.id,
        parent_id: parentId,
        datastore_version_id: inst.datastore_version_id,
        backup_type: parentId ? 'incremental' : 'full',
        storage_driver: body.storage_driver ?? 'local',
      })
    })
    lab.instances.changes.notify(inst.id) // its status is BACKUP now
    lab.notifications.start(req, 'backup_create', inst.id, { name: body.name, instance_id: inst.id, description: body.description ?? null, parent_id: parentId })
    lab.tasks.submit('create_backup', inst.id, { backupId: id })
    return reply.code(202).send({ backup: backupView(backups.get(id)!) })
  })

  app.delete('/backups/:id', async (req, reply) => {
    const { id } = req.params as { id: string }
    const root = loadBackup(lab, req, id)
    // Children first (upstream deletes them recursively); every one is checked before any is touched.
    const order: BackupJoined[] = []
    const visit = (b: BackupJoined) => {
      for (const c of backups.children(b.id)) {
        const j = backups.get(c.id)
        if (j) visit(j)
      }
      order.push(b)
    }
    visit(root)
    for (const b of order) {
      if (RUNNING_STATES.includes(b.state) && Date.now() - Date.parse(b.created + 'Z') < RUNNING_BACKUPS_EXPIRE_MS) {
        throw unprocessable(`Backup ${b.id} cannot be deleted because it is running.`)
      }
    }
    lab.notifications.start(req, 'backup_delete', root.instance_id ?? undefined, { backup_id: root.id })
    for (const b of order) {
      lab.quotas.run(b.tenant_id, { backups: -1 }, () => {
        let failed = false
        try {
          removeBackupFiles(lab.config.dataDir, b.id)
        } catch (e) {
          failed = true
          lab.log(`backup ${b.id}: could not delete its files: ${(e as Error).message}`)
        }
        backups.markDeleted(b.id, failed ? 'DELETE_FAILED' : undefined)
      })
      lab.log(`backup ${b.id} deleted`)
    }
    lab.notifications.emit(
      'dbaas.backup_delete.end',
      { tenant_id: caller(req).projectId, client_ip: req.ip, server_type: 'api', request_id: req.troveRequestId, backup_id: root.id },
      { service: 'api', ...(root.instance_id ? { instanceId: root.instance_id } : {}) },
    )
    return reply.code(202).send()
  })
}
