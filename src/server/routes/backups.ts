import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { backupStore, type BackupFilter, type BackupJoined } from '../db/backups.js'
import { caller } from '../http/guard.js'
import { Fault, badRequest, notFound } from '../errors.js'
import { compileBodySchema, nonEmptyString, uuid } from '../http/validation.js'
import { authorizeAdminRule } from '../http/policy.js'
import { baseUrl } from '../http/server.js'
import { loadInstance } from '../instances/load.js'
import { loadBackup } from '../backups/load.js'
import { createBackup, deleteBackup } from '../backups/lifecycle.js'
import { findDatastore } from '../datastores/resolve.js'

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
  // Lab extension (README "API notes"): taken by a backup schedule, expires by its instance's retention.
  view.automated = b.automated === 1
  return view
}

/** Offset pagination of backups (api.md 3): `limit or 20` uncapped; next = offset+limit whenever the page is full. */
function page(lab: Lab, req: FastifyRequest, reply: FastifyReply, filter: BackupFilter) {
  const q = req.query as { limit?: string; marker?: string }
  const offset = q.marker === undefined || q.marker === '' ? 0 : Number(q.marker)
  if (!Number.isInteger(offset) || offset < 0) throw badRequest(`Invalid marker '${q.marker}': backups are paged by an integer offset.`)
  const limit = q.limit === undefined || q.limit === '' ? lab.config.pageSize : Number(q.limit)
  if (!Number.isInteger(limit) || limit < 0) throw badRequest(`Invalid limit '${q.limit}'.`)
  const size = limit || lab.config.pageSize
  const rows = backupStore(lab.db).list(filter, offset, size)
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
  const backups = backupStore(lab.db)

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
    loadInstance(lab, caller(req), id)
    // Admins see every backup of the instance; members their project's (upstream list_for_instance).
    return page(lab, req, reply, { instanceId: id, tenantId: isAdmin ? undefined : projectId })
  })

  app.get('/backups/:id', async (req) => {
    const { id } = req.params as { id: string }
    return { backup: backupView(loadBackup(lab, caller(req), id)) }
  })

  app.post('/backups', async (req, reply) => {
    const who = caller(req)
    checkCreate(req.body)
    const body = (req.body as CreateBody).backup
    if (body.restore_from !== undefined) {
      throw new Fault('notImplemented', 'Registering a backup from a remote location (restore_from) is not supported by this lab server: its backups live in its own directory store.')
    }
    const id = createBackup(lab, req, who, body)
    return reply.code(202).send({ backup: backupView(backups.get(id)!) })
  })

  app.delete('/backups/:id', async (req, reply) => {
    const { id } = req.params as { id: string }
    const root = deleteBackup(lab, req, caller(req), id)
    lab.notifications.emit(
      'dbaas.backup_delete.end',
      { tenant_id: caller(req).projectId, client_ip: req.ip, server_type: 'api', request_id: req.troveRequestId, backup_id: root.id },
      { service: 'api', ...(root.instance_id ? { instanceId: root.instance_id } : {}) },
    )
    return reply.code(202).send()
  })
}
