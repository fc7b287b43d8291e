import type { FastifyRequest } from 'fastify'
import { caller } from './guard.js'
import { Fault } from '../errors.js'

/**
 * An admin-only policy rule (api.md 9: instance:reset_status, datastore:delete, ...).
 * A denied policy is 403 `forbidden` — unlike admin_context on mgmt routes, whose
 * exception.Forbidden maps to 401.
 */
export function authorizeAdminRule(req: FastifyRequest, rule: string): void {
  if (!caller(req).isAdmin) throw new Fault('forbidden', `Policy doesn't allow ${rule} to be performed.`)
}
