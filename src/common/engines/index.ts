/**
 * The base configuration of an instance: what its agent renders into the engine's file
 * from the flavor (upstream's config.template for the flavor's RAM), and what the server
 * shows as the instance's configuration and restores on a detach. One source for both
 * sides, so the API cannot tell a user other values than the engine runs with.
 * Paths, sockets, addresses and replication plumbing are the agent's alone: they are
 * the lab's, not the user's to tune, and the API does not show them.
 */
import { mariadbBase } from './mariadb.js'
import { postgresBase } from './postgresql.js'
import { redisBase } from './redis.js'
import type { BaseConfiguration } from './types.js'

export type { BaseConfiguration, ConfigValue } from './types.js'
export { mariadbBase, mariadbMemory, MARIADB_BARE_OPTIONS, MARIADB_INIT_KEYS } from './mariadb.js'
export { postgresBase, postgresMemory } from './postgresql.js'
export { redisBase, redisMaxmemoryMb } from './redis.js'

const BASE: Record<string, (ramMb: number, port: number | null) => BaseConfiguration> = {
  mysql: mariadbBase,
  mariadb: mariadbBase,
  postgresql: postgresBase,
  redis: redisBase,
}

/** The base configuration of `manager` for a flavor of `ramMb` MB, its port first when given; empty for an unknown manager. */
export function baseConfiguration(manager: string, ramMb: number, port: number | null): BaseConfiguration {
  return Object.hasOwn(BASE, manager) ? BASE[manager]!(ramMb, port) : {}
}
