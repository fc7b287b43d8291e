import type { DB } from './index.js'
import { repository } from './repository.js'

/** The roles table (admin, member, reader). */
export interface Role {
  id: string
  name: string
}

export class Roles {
  private readonly s

  constructor(db: DB) {
    this.s = {
      byId: db.prepare('SELECT id, name FROM roles WHERE id = ?'),
      byName: db.prepare('SELECT id, name FROM roles WHERE name = ?'),
      list: db.prepare('SELECT id, name FROM roles WHERE (@name IS NULL OR name = @name) ORDER BY name'),
      insert: db.prepare('INSERT INTO roles (id, name) VALUES (?, ?)'),
    }
  }

  get(id: string): Role | undefined {
    return this.s.byId.get(id) as Role | undefined
  }

  byName(name: string): Role | undefined {
    return this.s.byName.get(name) as Role | undefined
  }

  list(name?: string): Role[] {
    return this.s.list.all({ name: name ?? null }) as Role[]
  }

  insert(role: Role): void {
    this.s.insert.run(role.id, role.name)
  }
}

export const roles = repository((db) => new Roles(db))
