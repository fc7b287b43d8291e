import type { Transport } from '../transport.js'
import { NotFoundError, TroveError } from '../errors.js'

/** A Keystone v3 project. */
export interface Project {
  id: string
  name: string
  domain_id: string
  description: string
  enabled: boolean
  parent_id?: string
  is_domain?: boolean
}
/** A Keystone v3 user (Keystone never returns the password). */
export interface User {
  id: string
  name: string
  domain_id: string
  enabled: boolean
  default_project_id?: string
  password_expires_at: string | null
}
/** A Keystone v3 role. */
export interface Role {
  id: string
  name: string
}
/** One role assignment (with names when asked for). */
export interface RoleAssignment {
  role: { id: string; name?: string }
  user?: { id: string; name?: string }
  scope: { project?: { id: string; name?: string } }
}

/**
 * Keystone v3 identity (projects, users, roles, grants), below the identity endpoint
 * of the catalog (or the auth URL). Names resolve as the openstack client does:
 * GET by id first, then a list filtered by name.
 */
export class Identity {
  constructor(private readonly client: Transport) {}

  private req<T>(method: string, path: string, body?: unknown, query?: Record<string, string>) {
    return this.client.request<T>(method, path, { service: 'identity', body, query })
  }

  /** GET /projects. */
  async listProjects(): Promise<Project[]> {
    return (await this.req<{ projects: Project[] }>('GET', '/projects')).body.projects
  }

  /** POST /projects. */
  async createProject(p: { name: string; description?: string; enabled?: boolean }): Promise<Project> {
    return (await this.req<{ project: Project }>('POST', '/projects', { project: { enabled: true, ...p } })).body.project
  }

  /** A project by id or name. */
  async findProject(nameOrId: string): Promise<Project> {
    return this.find<Project>('projects', 'project', nameOrId)
  }

  /** DELETE /projects/{id}. */
  async deleteProject(id: string): Promise<void> {
    await this.req('DELETE', `/projects/${encodeURIComponent(id)}`)
  }

  /** GET /users. */
  async listUsers(): Promise<User[]> {
    return (await this.req<{ users: User[] }>('GET', '/users')).body.users
  }

  /** POST /users (the password is sent once and never returned). */
  async createUser(u: { name: string; password?: string; default_project_id?: string; enabled?: boolean }): Promise<User> {
    return (await this.req<{ user: User }>('POST', '/users', { user: { enabled: true, ...u } })).body.user
  }

  /** PATCH /users/{id}. */
  async updateUser(id: string, u: { name?: string; password?: string; enabled?: boolean; default_project_id?: string }): Promise<User> {
    return (await this.req<{ user: User }>('PATCH', `/users/${encodeURIComponent(id)}`, { user: u })).body.user
  }

  /** A user by id or name. */
  async findUser(nameOrId: string): Promise<User> {
    return this.find<User>('users', 'user', nameOrId)
  }

  /** DELETE /users/{id}. */
  async deleteUser(id: string): Promise<void> {
    await this.req('DELETE', `/users/${encodeURIComponent(id)}`)
  }

  /** GET /roles. */
  async listRoles(): Promise<Role[]> {
    return (await this.req<{ roles: Role[] }>('GET', '/roles')).body.roles
  }

  /** A role by id or name. */
  async findRole(nameOrId: string): Promise<Role> {
    return this.find<Role>('roles', 'role', nameOrId)
  }

  /** PUT /projects/{project}/users/{user}/roles/{role}. */
  async grantRole(projectId: string, userId: string, roleId: string): Promise<void> {
    await this.req('PUT', `/projects/${encodeURIComponent(projectId)}/users/${encodeURIComponent(userId)}/roles/${encodeURIComponent(roleId)}`)
  }

  /** DELETE /projects/{project}/users/{user}/roles/{role}. */
  async revokeRole(projectId: string, userId: string, roleId: string): Promise<void> {
    await this.req('DELETE', `/projects/${encodeURIComponent(projectId)}/users/${encodeURIComponent(userId)}/roles/${encodeURIComponent(roleId)}`)
  }

  /** GET /role_assignments, filtered by project and/or user, with names. */
  async listRoleAssignments(f: { projectId?: string; userId?: string } = {}): Promise<RoleAssignment[]> {
    const query: Record<string, string> = { include_names: 'True' }
    if (f.projectId) query['scope.project.id'] = f.projectId
    if (f.userId) query['user.id'] = f.userId
    return (await this.req<{ role_assignments: RoleAssignment[] }>('GET', '/role_assignments', undefined, query)).body.role_assignments
  }

  private async find<T extends { id: string; name: string }>(collection: string, kind: string, nameOrId: string): Promise<T> {
    try {
      return (await this.req<Record<string, T>>('GET', `/${collection}/${encodeURIComponent(nameOrId)}`)).body[kind]
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e
    }
    const matches = (await this.req<Record<string, T[]>>('GET', `/${collection}`, undefined, { name: nameOrId })).body[collection]
    if (matches.length === 1) return matches[0]
    if (matches.length > 1) throw new TroveError(`More than one ${kind} exists with the name '${nameOrId}'.`)
    throw new TroveError(`No ${kind} with a name or ID of '${nameOrId}' exists.`)
  }
}
