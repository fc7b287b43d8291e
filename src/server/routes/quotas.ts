import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { isQuotaResource, type QuotaDeltas } from '../quotas.js'
import { caller, requireAdmin } from '../http/guard.js'
import { Fault, badRequest, notFound } from '../errors.js'
import { compileBodySchema } from '../http/validation.js'

/**
 * The body of PUT /mgmt/quotas/{project}. Upstream has no schema here: a missing
 * `quotas` or a non-integer limit ends in a 500 there; here they are 400s in
 * jsonschema's wording. The ceiling is upstream's INTEGER column (32-bit in MySQL).
 */
const checkUpdate = compileBodySchema({
  type: 'object',
  required: ['quotas'],
  properties: {
    quotas: { type: 'object', additionalProperties: { type: ['integer', 'null'], maximum: 2147483647 } },
  },
})

/** Routes 91 and 92 (api.md 7.5): a project's quota usage, and the admin's override of its limits. */
export async function quotaRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.get('/mgmt/quotas/:project', async (req) => {
    const { tenant, project } = req.params as { tenant: string; project: string }
    const { isAdmin } = caller(req)
    if (project !== tenant && !isAdmin) throw new Fault('forbidden', `Operation not allowed for tenant ${tenant}.`)
    return { quotas: lab.quotas.usage(project) }
  })

  app.put('/mgmt/quotas/:project', async (req) => {
    requireAdmin(req)
    const { project } = req.params as { project: string }
    const body = req.body
    if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) throw badRequest('Invalid request body.')
    checkUpdate(body)
    // Everything is checked before anything is written (upstream saves each resource as it
    // goes, so a bad entry after a good one leaves a partial update behind).
    const updates: QuotaDeltas = {}
    for (const [resource, limit] of Object.entries((body as { quotas: Record<string, number | null> }).quotas)) {
      if (limit === null) continue
      if (limit < -1) throw badRequest(`Quota limit '${limit}' for '${resource}' is too small - must be at least '-1'.`)
      if (resource === 'xmlns') continue
      if (!isQuotaResource(resource)) throw notFound(`Unknown quota resources ${resource}.`)
      updates[resource] = limit
    }
    lab.quotas.setLimits(project, updates)
    return { quotas: updates }
  })
}
