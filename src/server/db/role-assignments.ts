import type { DB } from './index.js'
import type { Role } from './roles.js'
import { repository } from './repository.js'

/** An assignment with the names of its user, project and role. */
export interface Assignment {
  user_id: string
  user_name: string
  project_id: string
  project_name: string
  role_id: string
  role_name: string
}

/** The role_assignments table: which role a user has on a project. */
export class RoleAssignments {
  private readonly s

  constructor(db: DB) {
    this.s = {
      rolesFor: db.prepare('SELECT r.id, r.name FROM role_assignments a JOIN roles r ON r.id = a.role_id WHERE a.user_id = ? AND a.project_id = ? ORDER BY r.name'),
      has: db.prepare('SELECT 1 FROM role_assignments WHERE user_id = ? AND project_id = ? AND role_id = ?'),
      grant: db.prepare('INSERT OR IGNORE INTO role_assignments (user_id, project_id, role_id) VALUES (?, ?, ?)'),
      revoke: db.prepare('DELETE FROM role_assignments WHERE user_id = ? AND project_id = ? AND role_id = ?'),
      list: db.prepare(`SELECT a.user_id, u.name AS user_name, a.project_id, p.name AS project_name, a.role_id, r.name AS role_name
        FROM role_assignments a JOIN users u ON u.id = a.user_id JOIN projects p ON p.id = a.project_id JOIN roles r ON r.id = a.role_id
        WHERE (@user IS NULL OR a.user_id = @user) AND (@project IS NULL OR a.project_id = @project) AND (@role IS NULL OR a.role_id = @role)
        ORDER BY p.name, u.name, r.name`),
    }
  }

  /** A user's roles on a project, by name. */
  rolesFor(userId: string, projectId: string): Role[] {
    return this.s.rolesFor.all(userId, projectId) as Role[]
  }

  has(userId: string, projectId: string, roleId: string): boolean {
    return this.s.has.get(userId, projectId, roleId) !== undefined
  }

  grant(userId: string, projectId: string, roleId: string): void {
    this.s.grant.run(userId, projectId, roleId)
  }

  revoke(userId: string, projectId: string, roleId: string): void {
    this.s.revoke.run(userId, projectId, roleId)
  }

  /** The assignments matching every filter given. */
  list(f: { userId?: string; projectId?: string; roleId?: string }): Assignment[] {
    return this.s.list.all({ user: f.userId ?? null, project: f.projectId ?? null, role: f.roleId ?? null }) as Assignment[]
  }
}

export const roleAssignments = repository((db) => new RoleAssignments(db))
