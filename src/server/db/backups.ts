import type Database from 'better-sqlite3'
import type { DB } from './index.js'
import { isoNow } from './index.js'
import { repository } from './repository.js'

/** Backup states (internals.md 3.4). */
export const BackupState = {
  NEW: 'NEW',
  BUILDING: 'BUILDING',
  SAVING: 'SAVING',
  COMPLETED: 'COMPLETED',
  FAILED: 'FAILED',
  RESTORED: 'RESTORED',
  DELETE_FAILED: 'DELETE_FAILED',
} as const
export type BackupStateName = keyof typeof BackupState

/** NEW/BUILDING/SAVING: a backup still being made (the instance shows BACKUP). */
export const RUNNING_STATES: readonly string[] = ['NEW', 'BUILDING', 'SAVING']
/** What a restore may start from. */
export const RESTORABLE_STATES: readonly string[] = ['COMPLETED', 'RESTORED']

export interface BackupRow {
  id: string
  name: string
  description: string | null
  location: string | null
  backup_type: string | null
  size: number | null
  tenant_id: string
  state: string
  instance_id: string | null
  checksum: string | null
  backup_timestamp: string | null
  deleted: number
  created: string
  updated: string
  deleted_at: string | null
  parent_id: string | null
  datastore_version_id: string | null
  storage_driver: string | null
  last_sent: number
  /** 1: taken by a schedule (m011), expires by its instance's retention; 0: manual, kept until deleted. */
  automated: number
}

/** A backup with its datastore's and version's names (the view's `datastore`). */
export interface BackupJoined extends BackupRow {
  ds_name: string | null
  dsv_name: string | null
  dsv_manager: string | null
  datastore_id: string | null
}

const JOINED = `SELECT b.*, d.name AS ds_name, v.name AS dsv_name, v.manager AS dsv_manager, v.datastore_id AS datastore_id
FROM backups b LEFT JOIN datastore_versions v ON v.id = b.datastore_version_id LEFT JOIN datastores d ON d.id = v.datastore_id`

/** Filters of a backup list; undefined = no filter. */
export interface BackupFilter {
  tenantId?: string
  instanceId?: string
  datastoreId?: string
}

/** Prepared statements for the backups table, each prepared on first use and kept. */
export class Backups {
  private readonly stmts = new Map<string, Database.Statement<unknown[]>>()

  constructor(private readonly db: DB) {}

  private prepare(sql: string): Database.Statement<unknown[]> {
    let st = this.stmts.get(sql)
    if (!st) {
      st = this.db.prepare<unknown[]>(sql)
      this.stmts.set(sql, st)
    }
    return st
  }

  /** A backup row, deleted or not (the backup flow's final report). */
  row(id: string): BackupRow | undefined {
    return this.prepare('SELECT * FROM backups WHERE id = ?').get(id) as BackupRow | undefined
  }

  get(id: string): BackupJoined | undefined {
    return this.prepare(`${JOINED} WHERE b.id = ? AND b.deleted = 0`).get(id) as BackupJoined | undefined
  }

  /** One page, newest update first, offset pagination (upstream's _paginate). */
  list(f: BackupFilter, offset: number, limit: number): BackupJoined[] {
    return this.prepare(`${JOINED} WHERE b.deleted = 0 AND (@tenant IS NULL OR b.tenant_id = @tenant)
      AND (@instance IS NULL OR b.instance_id = @instance) AND (@ds IS NULL OR v.datastore_id = @ds)
      ORDER BY b.updated DESC, b.created DESC, b.id LIMIT @limit OFFSET @offset`).all({
      tenant: f.tenantId ?? null,
      instance: f.instanceId ?? null,
      ds: f.datastoreId ?? null,
      limit,
      offset,
    }) as BackupJoined[]
  }

  /** `created`: the scheduler's clock for automated backups (default now). */
  insert(
    row: Pick<BackupRow, 'id' | 'name' | 'description' | 'tenant_id' | 'instance_id' | 'parent_id' | 'datastore_version_id' | 'backup_type' | 'storage_driver'> & {
      automated?: boolean
      created?: string
    },
  ): void {
    const now = row.created ?? isoNow()
    this.prepare(`INSERT INTO backups (id, name, description, tenant_id, state, instance_id, parent_id, datastore_version_id, backup_type, storage_driver, automated, created, updated)
      VALUES (@id, @name, @description, @tenant_id, 'NEW', @instance_id, @parent_id, @datastore_version_id, @backup_type, @storage_driver, @automated, @now, @now)`).run({
      ...row,
      automated: row.automated ? 1 : 0,
      now,
    })
  }

  /** The first running backup of an instance (upstream's Backup.running). */
  running(instanceId: string): BackupRow | undefined {
    return this.prepare("SELECT * FROM backups WHERE instance_id = ? AND deleted = 0 AND state IN ('NEW', 'BUILDING', 'SAVING') LIMIT 1").get(instanceId) as BackupRow | undefined
  }

  /** The newest COMPLETED backup of an instance (the parent of `incremental: 1`). */
  lastCompleted(instanceId: string): BackupRow | undefined {
    return this.prepare("SELECT * FROM backups WHERE instance_id = ? AND deleted = 0 AND state = 'COMPLETED' ORDER BY created DESC, rowid DESC LIMIT 1").get(instanceId) as BackupRow | undefined
  }

  /** reset_status: an instance's running backups become FAILED (upstream's fail_for_instance). */
  failRunning(instanceId: string): number {
    return this.prepare("UPDATE backups SET state = 'FAILED', updated = ? WHERE instance_id = ? AND deleted = 0 AND state IN ('NEW', 'BUILDING', 'SAVING')").run(isoNow(), instanceId).changes
  }

  /** Sets columns of a backup; `sent` (when given) must be newer than the last applied update. */
  update(id: string, fields: Partial<Pick<BackupRow, 'state' | 'size' | 'checksum' | 'location' | 'backup_timestamp'>>, sent?: number): boolean {
    const cols = Object.keys(fields).filter((k) => ['state', 'size', 'checksum', 'location', 'backup_timestamp'].includes(k))
    const set = [...cols.map((c) => `${c} = @${c}`), 'updated = @updated', ...(sent !== undefined ? ['last_sent = @sent'] : [])].join(', ')
    const guard = sent !== undefined ? ' AND last_sent < @sent' : ''
    return this.prepare(`UPDATE backups SET ${set} WHERE id = @id AND deleted = 0${guard}`).run({ ...fields, id, updated: isoNow(), sent: sent ?? null }).changes > 0
  }

  children(id: string): BackupRow[] {
    return this.prepare('SELECT * FROM backups WHERE parent_id = ? AND deleted = 0 ORDER BY created').all(id) as BackupRow[]
  }

  /** Soft delete (rows are kept, as upstream's preserve_on_delete). */
  markDeleted(id: string, state?: string): void {
    const now = isoNow()
    this.prepare('UPDATE backups SET deleted = 1, deleted_at = ?, updated = ?, state = COALESCE(?, state) WHERE id = ?').run(now, now, state ?? null, id)
  }
}

/** The backups repository of a database (one per DB, so each statement is prepared once). */
export const backupStore = repository((db: DB) => new Backups(db))
