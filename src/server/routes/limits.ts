import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { caller } from '../http/guard.js'

/**
 * Route 66 (api.md 6.18): the caller's absolute limits (its quotas; -1 = unlimited),
 * then one entry per rate-limit rule with what the caller has left of it right now.
 */
export async function limitRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.get('/limits', async (req) => {
    const { projectId } = caller(req)
    const q = lab.quotas.limits(projectId)
    return {
      limits: [{ verb: 'ABSOLUTE', max_instances: q.instances, max_ram: q.ram, max_backups: q.backups, max_volumes: q.volumes }, ...lab.rateLimiter.view(projectId)],
    }
  })
}
