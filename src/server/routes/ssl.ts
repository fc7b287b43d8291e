import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { caller } from '../http/guard.js'
import { Fault, badRequest } from '../errors.js'
import { loadInstance } from '../instances/load.js'

/**
 * Instance SSL, routes 15-16 (api.md 6.6): certificates come from Barbican and are
 * installed by the guest, neither of which this lab has yet. The instance must exist
 * (404), then a POST body must be well formed (400), before the 501.
 */
export async function sslRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  const SSL_MODES = ['basic', 'enforced', 'mtls']
  app.get('/instances/:id/ssl', async (req) => {
    loadInstance(lab, caller(req), (req.params as { id: string }).id)
    throw new Fault('notImplemented', 'Instance SSL (showing the certificate) is not supported by this lab server yet.')
  })
  app.post('/instances/:id/ssl', async (req) => {
    loadInstance(lab, caller(req), (req.params as { id: string }).id)
    const body = req.body as { ssl?: Record<string, unknown> } | undefined
    if (!body || typeof body.ssl !== 'object' || body.ssl === null || Array.isArray(body.ssl)) throw badRequest("Validation error: 'ssl' is a required property")
    const chosen = ['enable', 'disable', 'rollback'].filter((k) => body.ssl![k])
    if (chosen.length > 1) throw badRequest('Only one of enable, disable and rollback may be given.')
    if (body.ssl.mode !== undefined && !SSL_MODES.includes(String(body.ssl.mode))) throw badRequest(`Invalid SSL mode '${String(body.ssl.mode)}'. Valid modes are: ${SSL_MODES.join(', ')}.`)
    throw new Fault('notImplemented', 'Instance SSL (enable, disable, rollback) is not supported by this lab server yet.')
  })
}
