import type { EngineManager } from '../../protocol/index.js'
import type { Datastore, EngineContext } from './types.js'

/** Loads only the driver the instance needs (the agent's memory goal is <= 60 MB). */
export async function loadDatastore(manager: EngineManager, ctx: EngineContext): Promise<Datastore> {
  switch (manager) {
    case 'mariadb':
      return new (await import('./mariadb/service.js')).MariadbService(ctx, 'mariadb')
    case 'mysql':
      // Debian's mysqld is MariaDB; a real MySQL 8 would need `mysqld --initialize-insecure`.
      return new (await import('./mariadb/service.js')).MariadbService(ctx, 'mysql')
    case 'postgresql':
      return new (await import('./postgresql/service.js')).PostgresqlService(ctx)
    case 'redis':
      return new (await import('./redis/service.js')).RedisService(ctx)
    default:
      throw new Error(`unsupported datastore manager: ${String(manager)}`)
  }
}
