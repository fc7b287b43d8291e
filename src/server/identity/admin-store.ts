import { isoNow } from '../db/index.js'
import { hashPassword, hexId } from './secrets.js'
import { DEFAULT_DOMAIN, type IdentityStore, type Role } from './store.js'

export interface ProjectRecord {
  id: string
  name: string
  domain_id: string
  description: string
  enabled: number
}
export interface UserRecord {
  id: string
  name: string
  domain_id: string
  default_project_id: string | null
  enabled: number
  description: string | null
}
export interface Assignment {
  user_id: string
  user_name: string
  project_id: string
  project_name: string
  role_id: string
  role_name: string
}

/** A write refused because the name is taken in the domain (Keystone's 409). */
export class DuplicateName extends Error {}

/**
 * The Keystone admin operations (projects, users, roles, assignments) over the
 * identity tables. Every change that takes a right away also revokes the tokens
 * carrying it, as Keystone does: a password change or user disable revokes the
 * user's tokens, a removed assignment those of the user on that project.
 */
export class IdentityAdmin {
  constructor(private readonly store: IdentityStore) {}

  private get db() {
    return this.store.database
  }

  listProjects(name?: string): ProjectRecord[] {
    return this.db.prepare('SELECT id, name, domain_id, description, enabled FROM projects WHERE (? IS NULL OR name = ?) ORDER BY name').all(name ?? null, name ?? null) as ProjectRecord[]
  }

  getProject(id: string): ProjectRecord | undefined {
    return this.db.prepare('SELECT id, name, domain_id, description, enabled FROM projects WHERE id = ?').get(id) as ProjectRecord | undefined
  }

  createProject(name: string, description: string, enabled: boolean): ProjectRecord {
    if (this.db.prepare('SELECT 1 FROM projects WHERE name = ? AND domain_id = ?').get(name, DEFAULT_DOMAIN.id)) throw new DuplicateName(name)
    const p: ProjectRecord = { id: hexId(), name, domain_id: DEFAULT_DOMAIN.id, description, enabled: enabled ? 1 : 0 }
    this.db.prepare('INSERT INTO projects (id, name, domain_id, description, enabled, created) VALUES (?, ?, ?, ?, ?, ?)').run(p.id, p.name, p.domain_id, p.description, p.enabled, isoNow())
    return p
  }

  /** Live database instances of a project (a project that has some is not deleted). */
  liveInstances(projectId: string): number {
    return this.db.prepare('SELECT count(*) FROM instances WHERE tenant_id = ? AND deleted = 0').pluck().get(projectId) as number
  }

  /** Deletes a project with its assignments and tokens; users keep no default project pointing at it. */
  deleteProject(id: string): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE users SET default_project_id = NULL WHERE default_project_id = ?').run(id)
      this.db.prepare('DELETE FROM projects WHERE id = ?').run(id)
    })()
    this.store.invalidate()
  }

  listUsers(name?: string): UserRecord[] {
    return this.db
      .prepare('SELECT id, name, domain_id, default_project_id, enabled, NULL AS description FROM users WHERE (? IS NULL OR name = ?) ORDER BY name')
      .all(name ?? null, name ?? null) as UserRecord[]
  }

  getUser(id: string): UserRecord | undefined {
    return this.db.prepare('SELECT id, name, domain_id, default_project_id, enabled, NULL AS description FROM users WHERE id = ?').get(id) as UserRecord | undefined
  }

  /** A user without a password cannot log in ('!' never verifies), as in Keystone. */
  createUser(u: { name: string; password?: string; defaultProjectId: string | null; enabled: boolean }): UserRecord {
    if (this.db.prepare('SELECT 1 FROM users WHERE name = ? AND domain_id = ?').get(u.name, DEFAULT_DOMAIN.id)) throw new DuplicateName(u.name)
    const rec: UserRecord = { id: hexId(), name: u.name, domain_id: DEFAULT_DOMAIN.id, default_project_id: u.defaultProjectId, enabled: u.enabled ? 1 : 0, description: null }
    this.db
      .prepare('INSERT INTO users (id, name, domain_id, password_hash, default_project_id, enabled, created) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(rec.id, rec.name, rec.domain_id, u.password === undefined ? '!' : hashPassword(u.password), rec.default_project_id, rec.enabled, isoNow())
    return rec
  }

  updateUser(id: string, ch: { name?: string; password?: string; defaultProjectId?: string | null; enabled?: boolean }): UserRecord {
    this.db.transaction(() => {
      if (ch.name !== undefined) {
        if (this.db.prepare('SELECT 1 FROM users WHERE name = ? AND domain_id = ? AND id <> ?').get(ch.name, DEFAULT_DOMAIN.id, id)) throw new DuplicateName(ch.name)
        this.db.prepare('UPDATE users SET name = ? WHERE id = ?').run(ch.name, id)
      }
      if (ch.defaultProjectId !== undefined) this.db.prepare('UPDATE users SET default_project_id = ? WHERE id = ?').run(ch.defaultProjectId, id)
      if (ch.enabled !== undefined) this.db.prepare('UPDATE users SET enabled = ? WHERE id = ?').run(ch.enabled ? 1 : 0, id)
      if (ch.password !== undefined) this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(hashPassword(ch.password), id)
      if (ch.password !== undefined || ch.enabled === false) this.db.prepare('DELETE FROM tokens WHERE user_id = ?').run(id)
    })()
    this.store.invalidate()
    return this.getUser(id)!
  }

  deleteUser(id: string): void {
    this.db.prepare('DELETE FROM users WHERE id = ?').run(id)
    this.store.invalidate()
  }

  listRoles(name?: string): Role[] {
    return this.db.prepare('SELECT id, name FROM roles WHERE (? IS NULL OR name = ?) ORDER BY name').all(name ?? null, name ?? null) as Role[]
  }

  getRole(id: string): Role | undefined {
    return this.db.prepare('SELECT id, name FROM roles WHERE id = ?').get(id) as Role | undefined
  }

  hasAssignment(userId: string, projectId: string, roleId: string): boolean {
    return this.db.prepare('SELECT 1 FROM role_assignments WHERE user_id = ? AND project_id = ? AND role_id = ?').get(userId, projectId, roleId) !== undefined
  }

  grant(userId: string, projectId: string, roleId: string): void {
    this.db.prepare('INSERT OR IGNORE INTO role_assignments (user_id, project_id, role_id) VALUES (?, ?, ?)').run(userId, projectId, roleId)
    this.store.invalidate()
  }

  revoke(userId: string, projectId: string, roleId: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM role_assignments WHERE user_id = ? AND project_id = ? AND role_id = ?').run(userId, projectId, roleId)
      this.db.prepare('DELETE FROM tokens WHERE user_id = ? AND project_id = ?').run(userId, projectId)
    })()
    this.store.invalidate()
  }

  assignments(f: { userId?: string; projectId?: string; roleId?: string }): Assignment[] {
    return this.db
      .prepare(`SELECT a.user_id, u.name AS user_name, a.project_id, p.name AS project_name, a.role_id, r.name AS role_name
      FROM role_assignments a JOIN users u ON u.id = a.user_id JOIN projects p ON p.id = a.project_id JOIN roles r ON r.id = a.role_id
      WHERE (@user IS NULL OR a.user_id = @user) AND (@project IS NULL OR a.project_id = @project) AND (@role IS NULL OR a.role_id = @role)
      ORDER BY p.name, u.name, r.name`)
      .all({ user: f.userId ?? null, project: f.projectId ?? null, role: f.roleId ?? null }) as Assignment[]
  }
}
