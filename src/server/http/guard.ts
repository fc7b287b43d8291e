import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Lab } from '../lab.js'
import { unauthorized } from './keystone-errors.js'
import { Fault } from '../errors.js'

/**
 * keystonemiddleware + upstream's tenant check: a valid token is required (401 with
 * Keystone's body otherwise), and the project in the path must be the token's
 * project, for admins too (403 forbidden).
 */
export function tenantGuard(lab: Lab) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const token = req.headers['x-auth-token']
    const ctx = lab.identity.validate(typeof token === 'string' ? token : undefined)
    if (!ctx) {
      reply.header('WWW-Authenticate', `Keystone uri="${req.protocol}://${req.host}/identity/v3"`)
      return unauthorized(reply)
    }
    req.auth = ctx
    const tenant = (req.params as { tenant?: string }).tenant
    if (!ctx.project || tenant !== ctx.project.id) {
      throw new Fault('forbidden', `User with tenant id ${ctx.project?.id ?? ''} cannot access this resource.`)
    }
  }
}

/** The caller of a guarded route. */
export function caller(req: FastifyRequest) {
  const ctx = req.auth
  if (!ctx?.project) throw new Fault('unauthorized', 'The request you have made requires authentication.')
  return { projectId: ctx.project.id, isAdmin: ctx.isAdmin, ctx }
}

/**
 * Upstream's admin_context for mgmt routes: a non-admin gets 401 `unauthorized`
 * "User does not have admin privileges." (not 403: exception.Forbidden maps to 401).
 */
export function requireAdmin(req: FastifyRequest): { projectId: string; isAdmin: true } {
  const c = caller(req)
  if (!c.isAdmin) throw new Fault('unauthorized', 'User does not have admin privileges.')
  return { projectId: c.projectId, isAdmin: true }
}
