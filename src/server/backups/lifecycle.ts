import { randomUUID } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { backupStore, RUNNING_STATES, type BackupJoined } from '../db/backups.js'
import { removeBackupFiles } from '../compute/backup-store.js'
import { Fault, badRequest, unprocessable } from '../errors.js'
import { loadInstance, type Requester } from '../instances/load.js'
import { validateCanPerformAction } from '../instances/actions.js'
import { loadBackup } from './load.js'
import { isoNow } from '../db/index.js'

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

/** The backup create body (the route's schema has checked its shape). */
export interface BackupCreateBody {
  name: string
  instance?: string
  description?: string
  parent_id?: string
  incremental?: number
  storage_driver?: string
}

/** Who started a backup besides the body: a request, or a schedule (no request; the backup is automated). */
export interface BackupOrigin {
  req?: FastifyRequest
  automated?: boolean
  /** The scheduler's clock: an automated backup's creation time, which its retention counts from. */
  now?: Date
}

/**
 * POST /backups (api.md 6.4): the instance can act and its engine backs up; a parent
 * (or `incremental: 1`, the last completed one) continues a chain of the same instance.
 * The row is written with the quota, checked again for a running backup; then the flow
 * runs. Returns the new backup's id.
 */
export function createBackup(lab: Lab, origin: FastifyRequest | BackupOrigin, who: Requester, body: BackupCreateBody): string {
  const { req, automated, now } = 'raw' in origin ? { req: origin, automated: false, now: undefined } : origin
  const { projectId } = who
  const backups = backupStore(lab.db)
  if (!body.instance) throw badRequest('instance is missing.')
  const inst = loadInstance(lab, who, body.instance)
  validateCanPerformAction(lab, inst)
  const manager = inst.dsv_manager ?? ''
  if (!BACKUP_MANAGERS.has(manager)) throw new Fault('notImplemented', `The 'backup_create' operation is not supported for the '${inst.ds_name ?? manager}' datastore.`)
  let parentId: string | null = null
  if (body.parent_id) {
    const parent = loadBackup(lab, who, body.parent_id)
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
      automated,
      ...(now ? { created: isoNow(now) } : {}),
    })
  })
  lab.instances.changes.notify(inst.id) // its status is BACKUP now
  lab.notifications.start(req ?? { tenantId: projectId }, 'backup_create', inst.id, { name: body.name, instance_id: inst.id, description: body.description ?? null, parent_id: parentId })
  lab.tasks.submit('create_backup', inst.id, { backupId: id })
  return id
}

/**
 * DELETE /backups/{id}: the backup and its children (upstream deletes them
 * recursively), each checked before any is touched; files removed, rows soft-deleted,
 * the quota given back. Returns the backup asked for (the end notification names it).
 */
export function deleteBackup(lab: Lab, req: FastifyRequest, who: Requester, id: string): BackupJoined {
  const backups = backupStore(lab.db)
  const root = loadBackup(lab, who, id)
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
  for (const b of order) removeBackup(lab, b)
  return root
}

/**
 * Removes one backup: its files, then its row (soft delete) with the quota given back, in
 * one transaction. Repeatable: a row already deleted is left alone, so a resumed expiry
 * (tasks/expire-backups.ts) never gives the quota back twice.
 */
export function removeBackup(lab: Lab, b: Pick<BackupJoined, 'id' | 'tenant_id'>, reason = 'deleted'): void {
  removeBackups(lab, [b], reason)
}

/**
 * removeBackup for several backups of one project: every file first, then all the rows and
 * the quota in one transaction (one commit for the lot: expiring 1,000 backups one commit
 * each took 11 s). Rows already deleted are left alone.
 */
export function removeBackups(lab: Lab, list: Array<Pick<BackupJoined, 'id' | 'tenant_id'>>, reason = 'deleted'): void {
  const backups = backupStore(lab.db)
  const byTenant = new Map<string, string[]>()
  for (const b of list) {
    if (backups.row(b.id)?.deleted !== 0) continue
    byTenant.set(b.tenant_id, [...(byTenant.get(b.tenant_id) ?? []), b.id])
  }
  for (const [tenant, ids] of byTenant) {
    const failed = new Set<string>()
    for (const id of ids) {
      try {
        removeBackupFiles(lab.config.dataDir, id)
      } catch (e) {
        failed.add(id)
        lab.log(`backup ${id}: could not delete its files: ${(e as Error).message}`)
      }
    }
    lab.quotas.run(tenant, { backups: -ids.length }, () => {
      for (const id of ids) backups.markDeleted(id, failed.has(id) ? 'DELETE_FAILED' : undefined)
    })
    for (const id of ids) lab.log(`backup ${id} ${reason}`)
  }
}
