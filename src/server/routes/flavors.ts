import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { resourceNotFound } from '../errors.js'
import { flavorView, type FlavorRow } from '../http/views.js'

export function listFlavors(lab: Lab): FlavorRow[] {
  return lab.db.prepare('SELECT * FROM flavors ORDER BY CAST(id AS INTEGER), id').all() as FlavorRow[]
}

export function findFlavor(lab: Lab, ref: string): FlavorRow | undefined {
  return lab.db.prepare('SELECT * FROM flavors WHERE id = ?').get(ref) as FlavorRow | undefined
}

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
