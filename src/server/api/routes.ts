import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { flavorRoutes } from './flavors.js'
import { datastoreRoutes } from './datastores.js'
import { instanceRoutes } from './instances.js'

/** Every route module below /v1.0/{project_id} (the tenant guard runs before each). Add new modules here. */
export async function tenantRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  await app.register(flavorRoutes, { lab })
  await app.register(datastoreRoutes, { lab })
  await app.register(instanceRoutes, { lab })
}
