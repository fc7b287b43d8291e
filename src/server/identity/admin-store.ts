import { isoNow } from '../db/index.js'
import { type ProjectRecord, projects } from '../db/projects.js'
import { type Assignment, roleAssignments } from '../db/role-assignments.js'
import { roles } from '../db/roles.js'
import { tokens } from '../db/tokens.js'
import { type UserRecord, users } from '../db/users.js'
import { hashPassword, hexId } from './secrets.js'
import { DEFAULT_DOMAIN, type IdentityStore, type Role } from './store.js'

export type { Assignment, ProjectRecord, UserRecord }

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
    return projects(this.db).list(name)
  }

  getProject(id: string): ProjectRecord | undefined {
    return projects(this.db).get(id)
  }

  createProject(name: string, description: string, enabled: boolean): ProjectRecord {
    if (projects(this.db).byName(name, DEFAULT_DOMAIN.id)) throw new DuplicateName(name)
    const p: ProjectRecord = { id: hexId(), name, domain_id: DEFAULT_DOMAIN.id, description, enabled: enabled ? 1 : 0 }
    projects(this.db).insert(p, isoNow())
    return p
  }

  /** Live database instances of a project (a project that has some is not deleted). */
  liveInstances(projectId: string): number {
    return projects(this.db).liveInstances(projectId)
  }

  /** Deletes a project with its assignments and tokens; users keep no default project pointing at it. */
  deleteProject(id: string): void {
    this.db.transaction(() => {
      users(this.db).forgetProject(id)
      projects(this.db).delete(id)
    })()
    this.store.invalidate()
  }

  listUsers(name?: string): UserRecord[] {
    return users(this.db).list(name)
  }

  getUser(id: string): UserRecord | undefined {
    return users(this.db).record(id)
  }

  /** A user without a password cannot log in ('!' never verifies), as in Keystone. */
  createUser(u: { name: string; password?: string; defaultProjectId: string | null; enabled: boolean }): UserRecord {
    if (users(this.db).nameTaken(u.name, DEFAULT_DOMAIN.id)) throw new DuplicateName(u.name)
    const rec: UserRecord = { id: hexId(), name: u.name, domain_id: DEFAULT_DOMAIN.id, default_project_id: u.defaultProjectId, enabled: u.enabled ? 1 : 0, description: null }
    users(this.db).insert(
      {
        id: rec.id,
        name: rec.name,
        domain_id: rec.domain_id,
        default_project_id: rec.default_project_id,
        enabled: rec.enabled,
        password_hash: u.password === undefined ? '!' : hashPassword(u.password),
      },
      isoNow(),
    )
    return rec
  }

  updateUser(id: string, ch: { name?: string; password?: string; defaultProjectId?: string | null; enabled?: boolean }): UserRecord {
    const u = users(this.db)
    this.db.transaction(() => {
      if (ch.name !== undefined) {
        if (u.nameTaken(ch.name, DEFAULT_DOMAIN.id, id)) throw new DuplicateName(ch.name)
        u.setName(id, ch.name)
      }
      if (ch.defaultProjectId !== undefined) u.setDefaultProject(id, ch.defaultProjectId)
      if (ch.enabled !== undefined) u.setEnabled(id, ch.enabled)
      if (ch.password !== undefined) u.setPasswordHash(id, hashPassword(ch.password))
      if (ch.password !== undefined || ch.enabled === false) tokens(this.db).deleteOfUser(id)
    })()
    this.store.invalidate()
    return this.getUser(id)!
  }

  deleteUser(id: string): void {
    users(this.db).delete(id)
    this.store.invalidate()
  }

  listRoles(name?: string): Role[] {
    return roles(this.db).list(name)
  }

  getRole(id: string): Role | undefined {
    return roles(this.db).get(id)
  }

  hasAssignment(userId: string, projectId: string, roleId: string): boolean {
    return roleAssignments(this.db).has(userId, projectId, roleId)
  }

  grant(userId: string, projectId: string, roleId: string): void {
    roleAssignments(this.db).grant(userId, projectId, roleId)
    this.store.invalidate()
  }

  revoke(userId: string, projectId: string, roleId: string): void {
    this.db.transaction(() => {
      roleAssignments(this.db).revoke(userId, projectId, roleId)
      tokens(this.db).deleteOfUserOnProject(userId, projectId)
    })()
    this.store.invalidate()
  }

  assignments(f: { userId?: string; projectId?: string; roleId?: string }): Assignment[] {
    return roleAssignments(this.db).list(f)
  }
}
