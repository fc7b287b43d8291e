import type { DB } from './index.js'
import { repository } from './repository.js'

/** The projects table (Keystone's projects, in the default domain). */
export interface ProjectRecord {
  id: string
  name: string
  domain_id: string
  description: string
  enabled: number
}

export class Projects {
  private readonly s

  constructor(db: DB) {
    this.s = {
      byId: db.prepare('SELECT id, name, domain_id, description, enabled FROM projects WHERE id = ?'),
      byName: db.prepare('SELECT id, name, domain_id, description, enabled FROM projects WHERE name = ? AND domain_id = ?'),
      list: db.prepare('SELECT id, name, domain_id, description, enabled FROM projects WHERE (@name IS NULL OR name = @name) ORDER BY name'),
      insert: db.prepare('INSERT INTO projects (id, name, domain_id, description, enabled, created) VALUES (?, ?, ?, ?, ?, ?)'),
      delete: db.prepare('DELETE FROM projects WHERE id = ?'),
      // A project with live database instances is not deleted (the instances table is read, not owned, here).
      liveInstances: db.prepare('SELECT count(*) FROM instances WHERE tenant_id = ? AND deleted = 0').pluck(),
    }
  }

  get(id: string): ProjectRecord | undefined {
    return this.s.byId.get(id) as ProjectRecord | undefined
  }

  byName(name: string, domainId: string): ProjectRecord | undefined {
    return this.s.byName.get(name, domainId) as ProjectRecord | undefined
  }

  /** Every project by name (only those named `name` when given). */
  list(name?: string): ProjectRecord[] {
    return this.s.list.all({ name: name ?? null }) as ProjectRecord[]
  }

  insert(p: ProjectRecord, created: string): void {
    this.s.insert.run(p.id, p.name, p.domain_id, p.description, p.enabled, created)
  }

  delete(id: string): void {
    this.s.delete.run(id)
  }

  liveInstances(id: string): number {
    return this.s.liveInstances.get(id) as number
  }
}

export const projects = repository((db) => new Projects(db))
