import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DEFAULT_DOMAIN, IdentityStore, type AuthContext, type Project, type User } from '../identity/store.js'
import { keystoneError, unauthorized } from '../http/keystone-errors.js'
import { LoginGuard } from '../identity/login-guard.js'

export interface IdentityRouteOptions {
  store: IdentityStore
  /** Public base URL for a request, e.g. http://127.0.0.1:8779 */
  baseUrl(req: FastifyRequest): string
  region: string
  /** Password checks: off the event loop, throttled per source and per user (login-guard.ts). */
  logins?: LoginGuard
}

const VERSION = { id: 'v3.14', status: 'stable', updated: '2020-04-07T00:00:00Z' }

type Obj = Record<string, unknown>
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined)
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/**
 * The Keystone v3 subset under /identity: version discovery, token issue (password
 * and token methods) and validation, and the project/user look-ups real clients make.
 */
export async function identityRoutes(app: FastifyInstance, opts: IdentityRouteOptions): Promise<void> {
  const { store } = opts
  const logins = opts.logins ?? new LoginGuard()
  const v3 = (req: FastifyRequest) => `${opts.baseUrl(req)}/identity/v3`
  const versionDoc = (req: FastifyRequest) => ({
    ...VERSION,
    links: [{ rel: 'self', href: `${v3(req)}/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  })

  app.get('/identity', async (req, reply) => reply.code(300).send({ versions: { values: [versionDoc(req)] } }))
  app.get('/identity/v3', async (req) => ({ version: versionDoc(req) }))

  const catalog = (req: FastifyRequest, project: Project | null) => {
    if (!project) return []
    const base = opts.baseUrl(req)
    const ep = (url: string, id: string) => ({ id, interface: 'public', region: opts.region, region_id: opts.region, url })
    return [
      { id: 'identity', name: 'keystone', type: 'identity', endpoints: [ep(`${base}/identity/v3`, 'identity-public')] },
      // The URL already holds the project id: clients use catalog URLs verbatim (cli.md 10.2).
      { id: 'database', name: 'trove', type: 'database', endpoints: [ep(`${base}/v1.0/${project.id}`, 'database-public')] },
      // The Mistral v2 subset the legacy client's schedule commands use (routes/mistral.ts).
      { id: 'workflowv2', name: 'mistral', type: 'workflowv2', endpoints: [ep(`${base}/mistral/v2`, 'workflowv2-public')] },
    ]
  }

  const tokenBody = (req: FastifyRequest, ctx: AuthContext) => ({
    token: {
      methods: ctx.methods,
      user: { id: ctx.user.id, name: ctx.user.name, domain: DEFAULT_DOMAIN, password_expires_at: null },
      audit_ids: [ctx.auditId],
      expires_at: ctx.expiresAt,
      issued_at: ctx.issuedAt,
      ...(ctx.project ? { project: { id: ctx.project.id, name: ctx.project.name, domain: DEFAULT_DOMAIN }, is_domain: false, roles: ctx.roles, catalog: catalog(req, ctx.project) } : {}),
    },
  })

  app.post('/identity/v3/auth/tokens', async (req, reply) => {
    const auth = obj(obj(req.body)?.auth)
    const identity = obj(auth?.identity)
    const methods = Array.isArray(identity?.methods) ? (identity!.methods as unknown[]).filter((m): m is string => typeof m === 'string') : []
    if (!identity || methods.length === 0) {
      return keystoneError(
        reply,
        400,
        'Bad Request',
        'Expecting to find identity in auth. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.',
      )
    }
    let user: User | undefined
    let parent: AuthContext | undefined
    if (methods.includes('password')) {
      const u = obj(obj(identity.password)?.user)
      const password = str(u?.password)
      const domainId = IdentityStore.domainId(obj(u?.domain) as { id?: unknown; name?: unknown } | undefined)
      if (u && password !== undefined && domainId) {
        const ref = { id: str(u.id), name: str(u.name), domainId }
        const verdict = await logins.attempt(req.ip, store.loginKey(ref), () => store.checkPassword(ref, password))
        // Keystone's error body with the status and header of a rate limiter in front of it.
        if (!verdict.ok) return keystoneError(reply.header('Retry-After', String(verdict.retryAfter)), 429, 'Too Many Requests', verdict.message)
        user = verdict.value
      }
    } else if (methods.includes('token')) {
      parent = store.validate(str(obj(identity.token)?.id))
      user = parent?.user
    }
    if (!user) return unauthorized(reply)

    const scope = auth?.scope
    let project: Project | null = null
    const sp = obj(obj(scope)?.project)
    if (sp) {
      const domainId = IdentityStore.domainId(obj(sp.domain) as { id?: unknown; name?: unknown } | undefined)
      project = (domainId && store.findProject({ id: str(sp.id), name: str(sp.name), domainId })) || null
      if (!project || store.rolesFor(user.id, project.id).length === 0) return unauthorized(reply)
    } else if (scope === undefined) {
      // Keystone scopes an unscoped request to the user's default project when it has one.
      if (parent?.project) project = parent.project
      else if (user.default_project_id) {
        const p = store.findProject({ id: user.default_project_id })
        if (p && store.rolesFor(user.id, p.id).length > 0) project = p
      }
    }
    const { token, ctx } = store.issueToken(user, project, methods, parent ? new Date(parent.expiresAt) : undefined)
    return reply.code(201).header('X-Subject-Token', token).send(tokenBody(req, ctx))
  })

  // HEAD comes for free: fastify answers it from the GET route without the body.
  const validateSubject = async (req: FastifyRequest, reply: FastifyReply) => {
    const caller = store.validate(str(req.headers['x-auth-token']))
    if (!caller) return unauthorized(reply)
    const subject = str(req.headers['x-subject-token'])
    const ctx = store.validate(subject)
    if (!ctx) return keystoneError(reply, 404, 'Not Found', 'Could not find token.')
    // Only admins may look at someone else's token.
    if (ctx.user.id !== caller.user.id && !caller.isAdmin) return keystoneError(reply, 403, 'Forbidden', 'You are not authorized to perform the requested action.')
    reply.header('X-Subject-Token', subject)
    return reply.send(tokenBody(req, ctx))
  }
  app.get('/identity/v3/auth/tokens', (req, reply) => validateSubject(req, reply))
  // Keystone's revoke_token (`openstack token revoke`): the subject's own user or an admin; 204.
  // The revoked token then fails validation: 404 as a subject, 401 as X-Auth-Token.
  app.delete('/identity/v3/auth/tokens', async (req, reply) => {
    const caller = store.validate(str(req.headers['x-auth-token']))
    if (!caller) return unauthorized(reply)
    const subject = str(req.headers['x-subject-token'])
    const ctx = store.validate(subject)
    if (!subject || !ctx) return keystoneError(reply, 404, 'Not Found', 'Could not find token.')
    if (ctx.user.id !== caller.user.id && !caller.isAdmin) return keystoneError(reply, 403, 'Forbidden', 'You are not authorized to perform the requested action.')
    store.revoke(subject)
    return reply.code(204).send()
  })

  // Project look-ups (openstack CLI resolves project names this way for quota commands).
  const projectView = (req: FastifyRequest, p: Project) => ({
    id: p.id,
    name: p.name,
    domain_id: p.domain_id,
    description: p.description ?? '',
    enabled: true,
    is_domain: false,
    parent_id: p.domain_id,
    tags: [],
    links: { self: `${v3(req)}/projects/${p.id}` },
  })
  app.get('/identity/v3/projects/:id', async (req, reply) => {
    const caller = store.validate(str(req.headers['x-auth-token']))
    if (!caller) return unauthorized(reply)
    const id = (req.params as { id: string }).id
    const p = store.findProject({ id })
    if (!p || (!caller.isAdmin && p.id !== caller.project?.id)) return keystoneError(reply, 404, 'Not Found', `Could not find project: ${id}.`)
    return { project: projectView(req, p) }
  })
  app.get('/identity/v3/projects', async (req, reply) => {
    const caller = store.validate(str(req.headers['x-auth-token']))
    if (!caller) return unauthorized(reply)
    const name = str((req.query as Obj).name)
    const visible = store.listProjects().filter((p) => (caller.isAdmin || p.id === caller.project?.id) && (name === undefined || p.name === name))
    return { projects: visible.map((p) => projectView(req, p)), links: { self: `${v3(req)}/projects`, next: null, previous: null } }
  })
  // Projects, users, roles and grants for admins: routes/identity-admin.ts.
}
