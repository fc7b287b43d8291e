import type { FastifyInstance } from 'fastify'
import { baseUrl } from '../http/server.js'

const V1 = { id: 'v1.0', status: 'CURRENT', updated: '2012-08-01T00:00:00Z' }

/** GET / : the version document, no authentication (api.md 6.1). */
export async function versionRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', async (req) => ({ versions: [{ ...V1, links: [{ href: `${baseUrl(req)}/v1.0/`, rel: 'self' }] }] }))
}
