import type { FastifyInstance } from 'fastify'
import type { Lab } from '../lab.js'
import { flavorRoutes } from './flavors.js'
import { datastoreRoutes } from './datastores.js'
import { instanceRoutes } from './instances/crud.js'
import { instanceUpdateRoutes } from './instances/update.js'
import { limitRoutes } from './limits.js'
import { quotaRoutes } from './quotas.js'
import { instanceActionRoutes } from './instances/actions.js'
import { mgmtInstanceRoutes } from './mgmt-instances.js'
import { mgmtFaultRoutes } from './mgmt-faults.js'
import { datastoreAdminRoutes } from './datastore-admin.js'
import { configurationRoutes } from './configurations.js'
import { parameterRoutes } from './parameters.js'
import { moduleRoutes } from './modules.js'
import { backupStrategyRoutes } from './backup-strategies.js'
import { clusterRoutes } from './clusters.js'
import { sslRoutes } from './ssl.js'
import { databaseRoutes } from './databases.js'
import { userRoutes } from './users.js'
import { rootRoutes } from './root.js'
import { instanceConfigurationRoutes } from './instances/configuration.js'
import { backupRoutes } from './backups.js'
import { logRoutes } from './logs.js'
import { backupScheduleRoutes } from './backup-schedules.js'

/** Every route module below /v1.0/{project_id} (the tenant guard runs before each). Add new modules here. */
export async function tenantRoutes(app: FastifyInstance, { lab }: { lab: Lab }): Promise<void> {
  await app.register(flavorRoutes, { lab })
  await app.register(datastoreRoutes, { lab })
  await app.register(instanceRoutes, { lab })
  await app.register(instanceUpdateRoutes, { lab })
  await app.register(limitRoutes, { lab })
  await app.register(quotaRoutes, { lab })
  await app.register(instanceActionRoutes, { lab })
  await app.register(mgmtInstanceRoutes, { lab })
  await app.register(mgmtFaultRoutes, { lab })
  await app.register(datastoreAdminRoutes, { lab })
  await app.register(configurationRoutes, { lab })
  await app.register(parameterRoutes, { lab })
  await app.register(moduleRoutes, { lab })
  await app.register(backupStrategyRoutes, { lab })
  await app.register(clusterRoutes, { lab })
  await app.register(sslRoutes, { lab })
  await app.register(databaseRoutes, { lab })
  await app.register(userRoutes, { lab })
  await app.register(rootRoutes, { lab })
  await app.register(instanceConfigurationRoutes, { lab })
  await app.register(backupRoutes, { lab })
  await app.register(logRoutes, { lab })
  await app.register(backupScheduleRoutes, { lab })
}
