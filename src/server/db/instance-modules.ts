import { randomUUID } from 'node:crypto'
import type { DB } from './index.js'
import type { ModuleNamed } from './modules.js'
import { repository } from './repository.js'

/** A module as applied to an instance: the module's row, its names, and the applied copy's md5 and times. */
export interface AppliedModule extends ModuleNamed {
  applied_md5: string
  applied_created: string
  applied_updated: string
}

/** The instances that have a module, per md5 (`count_only`). */
export interface AppliedGroup {
  md5: string
  n: number
  min_updated: string
  max_updated: string
}

/** The instance_modules table (m005): which md5 of a module each instance has. Instances that are deleted do not count. */
export class InstanceModules {
  private readonly s

  constructor(db: DB) {
    // @tenant NULL: every project's instances (an admin); else only that project's.
    this.s = {
      countCurrent: db.prepare('SELECT COUNT(*) FROM instance_modules im JOIN instances i ON i.id = im.instance_id WHERE im.module_id = ? AND im.md5 = ? AND im.deleted = 0 AND i.deleted = 0').pluck(),
      groups: db.prepare(`SELECT im.md5, COUNT(*) AS n, MIN(im.updated) AS min_updated, MAX(im.updated) AS max_updated
        FROM instance_modules im JOIN instances i ON i.id = im.instance_id
        WHERE im.module_id = @module AND im.deleted = 0 AND i.deleted = 0 AND (@tenant IS NULL OR i.tenant_id = @tenant) GROUP BY im.md5 ORDER BY im.md5`),
      instancePage: db
        .prepare(`SELECT DISTINCT i.id FROM instance_modules im JOIN instances i ON i.id = im.instance_id
        WHERE im.module_id = @module AND im.deleted = 0 AND i.deleted = 0 AND i.id > @marker AND (@tenant IS NULL OR i.tenant_id = @tenant)
        ORDER BY i.id LIMIT @limit`)
        .pluck(),
      ofInstance: db.prepare(`SELECT m.*, d.name AS ds_name, v.name AS dsv_name, im.md5 AS applied_md5, im.created AS applied_created, im.updated AS applied_updated
        FROM instance_modules im JOIN modules m ON m.id = im.module_id
        LEFT JOIN datastores d ON d.id = m.datastore_id LEFT JOIN datastore_versions v ON v.id = m.datastore_version_id
        WHERE im.instance_id = ? AND im.deleted = 0 ORDER BY im.created, im.rowid`),
      applied: db.prepare('SELECT id FROM instance_modules WHERE instance_id = ? AND module_id = ? AND deleted = 0').pluck(),
      markRemoved: db.prepare('UPDATE instance_modules SET deleted = 1, deleted_at = ?, updated = ? WHERE instance_id = ? AND module_id = ? AND deleted = 0'),
      setMd5: db.prepare('UPDATE instance_modules SET md5 = ?, updated = ? WHERE instance_id = ? AND module_id = ? AND deleted = 0'),
      insert: db.prepare('INSERT INTO instance_modules (id, instance_id, module_id, md5, created, updated) VALUES (?, ?, ?, ?, ?, ?)'),
      // md5 given: the instances with that md5; else all with force, or those with another md5 than the module's.
      reapplyTargets: db
        .prepare(`SELECT DISTINCT i.id FROM instance_modules im JOIN instances i ON i.id = im.instance_id
        WHERE im.module_id = @module AND im.deleted = 0 AND i.deleted = 0 AND (@tenant IS NULL OR i.tenant_id = @tenant)
        AND (CASE WHEN @md5 IS NOT NULL THEN im.md5 = @md5 WHEN @force = 1 THEN 1 ELSE im.md5 != @current END) ORDER BY i.id`)
        .pluck(),
    }
  }

  /** Live instances that have the module's current md5. */
  countCurrent(moduleId: string, md5: string): number {
    return this.s.countCurrent.get(moduleId, md5) as number
  }

  /** Per md5: how many live instances (of `tenant`, or all with null) have the module, and when they got it. */
  groups(moduleId: string, tenant: string | null): AppliedGroup[] {
    return this.s.groups.all({ module: moduleId, tenant }) as AppliedGroup[]
  }

  /** Ids of live instances (of `tenant`, or all with null) that have the module, after `marker`, in id order. */
  instancePage(moduleId: string, tenant: string | null, marker: string, limit: number): string[] {
    return this.s.instancePage.all({ module: moduleId, tenant, marker, limit }) as string[]
  }

  /** The modules applied to an instance, in the order they were applied. */
  ofInstance(instanceId: string): AppliedModule[] {
    return this.s.ofInstance.all(instanceId) as AppliedModule[]
  }

  /** Ids of the live records of a module on an instance. */
  applied(instanceId: string, moduleId: string): string[] {
    return this.s.applied.all(instanceId, moduleId) as string[]
  }

  markRemoved(instanceId: string, moduleId: string, now: string): void {
    this.s.markRemoved.run(now, now, instanceId, moduleId)
  }

  /** One live record per (instance, module) with the md5 applied last. */
  record(instanceId: string, moduleId: string, md5: string, now: string): void {
    if (this.s.setMd5.run(md5, now, instanceId, moduleId).changes === 0) this.s.insert.run(randomUUID(), instanceId, moduleId, md5, now, now)
  }

  /** The instances a reapply runs on (see the statement). */
  reapplyTargets(q: { moduleId: string; tenant: string | null; md5: string | null; force: boolean; current: string }): string[] {
    return this.s.reapplyTargets.all({ module: q.moduleId, tenant: q.tenant, md5: q.md5, force: q.force ? 1 : 0, current: q.current }) as string[]
  }
}

export const instanceModules = repository((db) => new InstanceModules(db))
