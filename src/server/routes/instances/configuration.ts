import type { FastifyInstance } from 'fastify'
import type { Lab } from '../../lab.js'
import { caller } from '../../http/guard.js'
import { effectiveConfiguration } from '../../configurations/attach.js'
import { loadInstance } from '../../instances/load.js'

/**
 * GET /instances/{id}/configuration (api.md 6.4, route 12): the values the instance
 * runs with, i.e. the config rendered from its flavor with the attached group's
 * values over it. (Upstream shows only the rendered template, transcript 34.)
 */
export async function instanceConfigurationRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.get('/instances/:id/configuration', async (req) => {
    const inst = loadInstance(lab, caller(req), (req.params as { id: string }).id)
    return { instance: { configuration: effectiveConfiguration(lab, inst) } }
  })
}
