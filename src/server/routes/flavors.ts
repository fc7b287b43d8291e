import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { resourceNotFound } from '../errors.js'
import { flavorView } from '../http/views.js'
import { findFlavor, listFlavors } from '../flavors/find.js'

export async function flavorRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  app.get('/flavors', async (req) => {
    const { tenant } = req.params as { tenant: string }
    return { flavors: listFlavors(lab).map((f) => flavorView(req, tenant, f)) }
  })
  app.get('/flavors/:id', async (req) => {
    const { tenant, id } = req.params as { tenant: string; id: string }
    const f = findFlavor(lab, id)
    if (!f) throw resourceNotFound(id)
    return { flavor: flavorView(req, tenant, f) }
  })
}
