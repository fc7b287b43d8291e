import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DuplicateName, IdentityAdmin, type Assignment, type ProjectRecord, type UserRecord } from '../identity/admin-store.js'
import { DEFAULT_DOMAIN, type AuthContext, type IdentityStore, type Role } from '../identity/store.js'

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined)

/** A Keystone error, thrown from a handler and sent as `{"error": {"code", "title", "message"}}`. */
class KeystoneFault extends Error {
  constructor(
    readonly code: number,
    readonly title: string,
    message: string,
  ) {
    super(message)
  }
}
const notFound = (kind: string, id: string) => new KeystoneFault(404, 'Not Found', `Could not find ${kind}: ${id}.`)
const badInput = (field: string, why: string) => new KeystoneFault(400, 'Bad Request', `Invalid input for field '${field}': ${why}`)
const conflict = (kind: string, name: string) =>
  new KeystoneFault(409, 'Conflict', `Conflict occurred attempting to store ${kind} - Duplicate entry found with name ${name} at domain ID ${DEFAULT_DOMAIN.id}.`)

/** A string field of 1..max characters, or undefined when absent. */
function text(body: Obj, field: string, max: number, required: boolean): string | undefined {
  const v = body[field]
  if (v === undefined || v === null) {
    if (required) throw badInput(field, `'${field}' is a required property`)
    return undefined
  }
  if (typeof v !== 'string') throw badInput(field, `${JSON.stringify(v)} is not of type 'string'`)
  if (required && v.trim() === '') throw badInput(field, `'${v}' is too short`)
  if (v.length > max) throw badInput(field, `'${v}' is too long`)
  return v
}

function flag(body: Obj, field: string): boolean | undefined {
  const v = body[field]
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') throw badInput(field, `${JSON.stringify(v)} is not of type 'boolean'`)
  return v
}

function domainOf(body: Obj): void {
  const d = body.domain_id
  if (d !== undefined && d !== null && d !== DEFAULT_DOMAIN.id) throw notFound('domain', String(d))
}

/**
 * The Keystone v3 admin subset the openstack client's identity commands use:
 * projects, users, roles, grants on projects and role assignments (admin only, as
 * Keystone's default policies; a user may read itself). Names are unique in the
 * (only) default domain. Passwords are hashed by the store and never logged: the
 * request log carries method and path only.
 */
export async function identityAdminRoutes(app: FastifyInstance, opts: { store: IdentityStore; baseUrl(req: FastifyRequest): string }): Promise<void> {
  const admin = new IdentityAdmin(opts.store)
  const v3 = (req: FastifyRequest) => `${opts.baseUrl(req)}/identity/v3`

  /** Runs a handler as Keystone would: token required (401), then the policy (403), errors as Keystone bodies. */
  const keystone =
    (policy: string, fn: (req: FastifyRequest, reply: FastifyReply, caller: AuthContext) => unknown, allow?: (req: FastifyRequest, caller: AuthContext) => boolean) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        const token = req.headers['x-auth-token']
        const caller = opts.store.validate(typeof token === 'string' ? token : undefined)
        if (!caller) throw new KeystoneFault(401, 'Unauthorized', 'The request you have made requires authentication.')
        if (!caller.isAdmin && !allow?.(req, caller)) throw new KeystoneFault(403, 'Forbidden', `You are not authorized to perform the requested action: identity:${policy}.`)
        return await fn(req, reply, caller)
      } catch (e) {
        if (e instanceof KeystoneFault) return reply.code(e.code).send({ error: { code: e.code, title: e.title, message: e.message } })
        throw e
      }
    }

  const params = (req: FastifyRequest) => req.params as Record<string, string>
  const query = (req: FastifyRequest) => req.query as Record<string, string | undefined>
  const listLinks = (req: FastifyRequest, what: string) => ({ self: `${v3(req)}/${what}`, previous: null, next: null })

  const projectView = (req: FastifyRequest, p: ProjectRecord) => ({
    id: p.id,
    name: p.name,
    domain_id: p.domain_id,
    description: p.description,
    enabled: p.enabled === 1,
    parent_id: p.domain_id,
    is_domain: false,
    tags: [],
    options: {},
    links: { self: `${v3(req)}/projects/${p.id}` },
  })
  const userView = (req: FastifyRequest, u: UserRecord) => ({
    id: u.id,
    name: u.name,
    domain_id: u.domain_id,
    enabled: u.enabled === 1,
    // Keystone leaves default_project_id out when the user has none.
    ...(u.default_project_id ? { default_project_id: u.default_project_id } : {}),
    password_expires_at: null,
    options: {},
    links: { self: `${v3(req)}/users/${u.id}` },
  })
  const roleView = (req: FastifyRequest, r: Role) => ({ id: r.id, name: r.name, domain_id: null, description: null, options: {}, links: { self: `${v3(req)}/roles/${r.id}` } })

  const project = (id: string) =>
    admin.getProject(id) ??
    (() => {
      throw notFound('project', id)
    })()
  const user = (id: string) =>
    admin.getUser(id) ??
    (() => {
      throw notFound('user', id)
    })()
  const role = (id: string) =>
    admin.getRole(id) ??
    (() => {
      throw notFound('role', id)
    })()
  const entity = (req: FastifyRequest, key: string): Obj => {
    const e = obj(obj(req.body)?.[key])
    if (!e) throw badInput(key, `'${key}' is a required property`)
    return e
  }

  // Projects (GET /projects and GET /projects/{id} live in routes.ts: members may read their own).
  app.post(
    '/identity/v3/projects',
    keystone('create_project', (req, reply) => {
      const body = entity(req, 'project')
      domainOf(body)
      if (body.parent_id !== undefined && body.parent_id !== null && body.parent_id !== DEFAULT_DOMAIN.id) {
        throw new KeystoneFault(400, 'Bad Request', 'Project hierarchies are not supported by this lab identity service.')
      }
      const name = text(body, 'name', 64, true)!
      try {
        const p = admin.createProject(name, text(body, 'description', 65535, false) ?? '', flag(body, 'enabled') ?? true)
        return reply.code(201).send({ project: projectView(req, p) })
      } catch (e) {
        if (e instanceof DuplicateName) throw conflict('project', name)
        throw e
      }
    }),
  )

  app.delete(
    '/identity/v3/projects/:id',
    keystone('delete_project', (req, reply) => {
      const p = project(params(req).id)
      // Keystone would orphan them; a lab refuses so that no instance outlives its owner.
      const live = admin.liveInstances(p.id)
      if (live > 0) throw new KeystoneFault(409, 'Conflict', `Project ${p.name} still has ${live} database instance(s); delete them first.`)
      admin.deleteProject(p.id)
      return reply.code(204).send()
    }),
  )

  // Users.
  app.get(
    '/identity/v3/users',
    keystone('list_users', (req) => {
      domainOf(query(req))
      return { users: admin.listUsers(query(req).name).map((u) => userView(req, u)), links: listLinks(req, 'users') }
    }),
  )

  app.get(
    '/identity/v3/users/:id',
    keystone(
      'get_user',
      (req) => ({ user: userView(req, user(params(req).id)) }),
      (req, c) => params(req).id === c.user.id,
    ),
  )

  app.post(
    '/identity/v3/users',
    keystone('create_user', (req, reply) => {
      const body = entity(req, 'user')
      domainOf(body)
      const name = text(body, 'name', 255, true)!
      const password = text(body, 'password', 4096, false)
      const defaultProject = text(body, 'default_project_id', 64, false)
      if (defaultProject !== undefined) project(defaultProject)
      try {
        const u = admin.createUser({ name, password, defaultProjectId: defaultProject ?? null, enabled: flag(body, 'enabled') ?? true })
        return reply.code(201).send({ user: userView(req, u) })
      } catch (e) {
        if (e instanceof DuplicateName) throw conflict('user', name)
        throw e
      }
    }),
  )

  app.patch(
    '/identity/v3/users/:id',
    keystone('update_user', (req) => {
      const u = user(params(req).id)
      const body = entity(req, 'user')
      domainOf(body)
      const name = text(body, 'name', 255, false)
      const defaultProject = body.default_project_id === null ? null : text(body, 'default_project_id', 64, false)
      if (defaultProject) project(defaultProject)
      try {
        const updated = admin.updateUser(u.id, { name, password: text(body, 'password', 4096, false), defaultProjectId: defaultProject, enabled: flag(body, 'enabled') })
        return { user: userView(req, updated) }
      } catch (e) {
        if (e instanceof DuplicateName) throw conflict('user', name ?? '')
        throw e
      }
    }),
  )

  app.delete(
    '/identity/v3/users/:id',
    keystone('delete_user', (req, reply) => {
      admin.deleteUser(user(params(req).id).id)
      return reply.code(204).send()
    }),
  )

  // Roles (the lab's roles are fixed: admin, member, reader).
  app.get(
    '/identity/v3/roles',
    keystone('list_roles', (req) => ({ roles: admin.listRoles(query(req).name).map((r) => roleView(req, r)), links: listLinks(req, 'roles') })),
  )
  app.get(
    '/identity/v3/roles/:id',
    keystone('get_role', (req) => ({ role: roleView(req, role(params(req).id)) })),
  )

  // Grants of a role to a user on a project. GET also answers HEAD (the "check grant" call).
  const grantTarget = (req: FastifyRequest) => {
    const { id, uid, rid } = params(req)
    return { p: project(id), u: user(uid), r: role(rid) }
  }
  const assignmentMissing = (r: Role, u: UserRecord, p: ProjectRecord) =>
    new KeystoneFault(404, 'Not Found', `Could not find role assignment with role: ${r.id}, user or group: ${u.id}, project, domain, or system: ${p.id}.`)
  app.put(
    '/identity/v3/projects/:id/users/:uid/roles/:rid',
    keystone('create_grant', (req, reply) => {
      const { p, u, r } = grantTarget(req)
      admin.grant(u.id, p.id, r.id)
      return reply.code(204).send()
    }),
  )
  app.get(
    '/identity/v3/projects/:id/users/:uid/roles/:rid',
    keystone('check_grant', (req, reply) => {
      const { p, u, r } = grantTarget(req)
      if (!admin.hasAssignment(u.id, p.id, r.id)) throw assignmentMissing(r, u, p)
      return reply.code(204).send()
    }),
  )
  app.delete(
    '/identity/v3/projects/:id/users/:uid/roles/:rid',
    keystone('revoke_grant', (req, reply) => {
      const { p, u, r } = grantTarget(req)
      if (!admin.hasAssignment(u.id, p.id, r.id)) throw assignmentMissing(r, u, p)
      admin.revoke(u.id, p.id, r.id)
      return reply.code(204).send()
    }),
  )
  app.get(
    '/identity/v3/projects/:id/users/:uid/roles',
    keystone('list_grants', (req) => {
      const { id, uid } = params(req)
      const p = project(id)
      const u = user(uid)
      const roles = admin.assignments({ userId: u.id, projectId: p.id }).map((a) => ({ id: a.role_id, name: a.role_name }))
      return { roles: roles.map((r) => roleView(req, r)), links: listLinks(req, `projects/${p.id}/users/${u.id}/roles`) }
    }),
  )

  // Role assignments: filters user.id, scope.project.id, role.id; include_names adds names.
  // Group, domain, system and inherited assignments do not exist in the lab.
  app.get(
    '/identity/v3/role_assignments',
    keystone('list_role_assignments', (req) => {
      const q = query(req)
      const names = q.include_names !== undefined && !['0', 'false', 'False'].includes(q.include_names)
      const only = q['group.id'] || q['scope.domain.id'] || q['scope.system'] || q['scope.OS-INHERIT:inherited_to']
      const list: Assignment[] = only ? [] : admin.assignments({ userId: q['user.id'], projectId: q['scope.project.id'], roleId: q['role.id'] })
      const domain = { id: DEFAULT_DOMAIN.id, name: DEFAULT_DOMAIN.name }
      return {
        role_assignments: list.map((a) => ({
          role: names ? { id: a.role_id, name: a.role_name } : { id: a.role_id },
          user: names ? { id: a.user_id, name: a.user_name, domain } : { id: a.user_id },
          scope: { project: names ? { id: a.project_id, name: a.project_name, domain } : { id: a.project_id } },
          links: { assignment: `${v3(req)}/projects/${a.project_id}/users/${a.user_id}/roles/${a.role_id}` },
        })),
        links: listLinks(req, 'role_assignments'),
      }
    }),
  )
}
