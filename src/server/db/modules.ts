import type { DB } from './index.js'
import { repository } from './repository.js'

/** The modules table (m005). */
export interface ModuleRow {
  id: string
  name: string
  type: string
  contents: string
  description: string | null
  tenant_id: string | null
  datastore_id: string | null
  datastore_version_id: string | null
  auto_apply: number
  visible: number
  live_update: number
  md5: string
  created: string
  updated: string
  deleted: number
  deleted_at: string | null
  priority_apply: number
  apply_order: number
  is_admin: number
}

/** A module with the names of its datastore and version (NULL when it is for all, or the row is gone). */
export interface ModuleNamed extends ModuleRow {
  ds_name: string | null
  dsv_name: string | null
}

/** Which modules a list shows: of every datastore, only those for all datastores, or one datastore's. */
export type DatastoreFilter = { kind: 'any' } | { kind: 'all-datastores' } | { kind: 'datastore'; id: string }

/** Who lists: an admin sees every module, others their project's and the global ones that are visible. */
export interface Viewer {
  projectId: string
  isAdmin: boolean
}

export type ModuleKey = Pick<ModuleRow, 'name' | 'type' | 'tenant_id' | 'datastore_id' | 'datastore_version_id'> & { id?: string }

const NAMED = `SELECT m.*, d.name AS ds_name, v.name AS dsv_name FROM modules m
  LEFT JOIN datastores d ON d.id = m.datastore_id LEFT JOIN datastore_versions v ON v.id = m.datastore_version_id`

export class Modules {
  private readonly s

  constructor(db: DB) {
    this.s = {
      get: db.prepare('SELECT * FROM modules WHERE id = ? AND deleted = 0'),
      // One query per page, names joined in (a list used to look up two names per module).
      list: db.prepare(`${NAMED} WHERE m.deleted = 0
        AND (@kind = 'any' OR (@kind = 'all-datastores' AND m.datastore_id IS NULL) OR (@kind = 'datastore' AND m.datastore_id = @ds))
        AND (@admin = 1 OR (m.visible = 1 AND (m.tenant_id = @tenant OR m.tenant_id IS NULL)))
        ORDER BY m.created, m.rowid`),
      names: db.prepare('SELECT (SELECT name FROM datastores WHERE id = ?) AS ds_name, (SELECT name FROM datastore_versions WHERE id = ?) AS dsv_name'),
      duplicate: db.prepare(`SELECT 1 FROM modules WHERE deleted = 0 AND name = ? AND type = ? AND tenant_id IS ? AND datastore_id IS ?
        AND datastore_version_id IS ? AND id IS NOT ?`),
      insert: db.prepare(`INSERT INTO modules (id, name, type, contents, description, tenant_id, datastore_id, datastore_version_id, auto_apply, visible,
        live_update, md5, created, updated, priority_apply, apply_order, is_admin)
        VALUES (@id, @name, @type, @contents, @description, @tenant_id, @datastore_id, @datastore_version_id, @auto_apply, @visible,
        @live_update, @md5, @created, @updated, @priority_apply, @apply_order, @is_admin)`),
      update: db.prepare(`UPDATE modules SET name = @name, type = @type, contents = @contents, description = @description, tenant_id = @tenant_id,
        datastore_id = @datastore_id, datastore_version_id = @datastore_version_id, auto_apply = @auto_apply, visible = @visible,
        live_update = @live_update, md5 = @md5, updated = @updated, priority_apply = @priority_apply, apply_order = @apply_order,
        is_admin = @is_admin WHERE id = @id`),
      markDeleted: db.prepare('UPDATE modules SET deleted = 1, deleted_at = ?, updated = ? WHERE id = ?'),
      // The ids as a JSON array: one statement whatever their number (in id order, as an IN list gives them).
      byIds: db.prepare(`SELECT * FROM modules WHERE deleted = 0 AND id IN (SELECT value FROM json_each(@ids))
        AND (@admin = 1 OR tenant_id = @tenant OR tenant_id IS NULL) ORDER BY id`),
      autoApply: db.prepare(`SELECT * FROM modules WHERE deleted = 0 AND auto_apply = 1 AND (tenant_id = ? OR tenant_id IS NULL)
        AND (datastore_id IS NULL OR datastore_id = ?) AND (datastore_version_id IS NULL OR datastore_version_id = ?)`),
    }
  }

  /** A module that is not deleted. */
  get(id: string): ModuleRow | undefined {
    return this.s.get.get(id) as ModuleRow | undefined
  }

  /** The modules a viewer may list, oldest first, with their datastore and version names. */
  list(filter: DatastoreFilter, viewer: Viewer): ModuleNamed[] {
    return this.s.list.all({
      kind: filter.kind,
      ds: filter.kind === 'datastore' ? filter.id : null,
      admin: viewer.isAdmin ? 1 : 0,
      tenant: viewer.projectId,
    }) as ModuleNamed[]
  }

  /** The names of a datastore and a version (undefined where the row is gone). */
  names(datastoreId: string | null, versionId: string | null): { ds_name: string | null; dsv_name: string | null } {
    return this.s.names.get(datastoreId, versionId) as { ds_name: string | null; dsv_name: string | null }
  }

  /** Is another live module of that name, type, project, datastore and version there? */
  isDuplicate(m: ModuleKey): boolean {
    return this.s.duplicate.get(m.name, m.type, m.tenant_id, m.datastore_id, m.datastore_version_id, m.id ?? null) !== undefined
  }

  insert(m: Omit<ModuleRow, 'deleted' | 'deleted_at'>): void {
    this.s.insert.run(m)
  }

  update(m: ModuleRow): void {
    this.s.update.run(m)
  }

  markDeleted(id: string, now: string): void {
    this.s.markDeleted.run(now, now, id)
  }

  /** The live modules among `ids` the viewer may use (unknown and foreign ids are skipped). */
  byIds(ids: string[], viewer: Viewer): ModuleRow[] {
    if (!ids.length) return []
    return this.s.byIds.all({ ids: JSON.stringify(ids), admin: viewer.isAdmin ? 1 : 0, tenant: viewer.projectId }) as ModuleRow[]
  }

  /** A project's (and the global) auto-apply modules for a datastore and version. */
  autoApply(projectId: string, datastoreId: string | null, versionId: string): ModuleRow[] {
    return this.s.autoApply.all(projectId, datastoreId, versionId) as ModuleRow[]
  }
}

export const modules = repository((db) => new Modules(db))
