import { join } from 'node:path'
import type { AgentBootstrap } from '../protocol/index.js'
import { mariadbClient } from './datastores/mariadb/driver.js'
import { postgresClient } from './datastores/postgresql/driver.js'
import { redisClient } from './datastores/redis/driver.js'
import { REDIS_ADMIN_SECRET } from './datastores/redis/service.js'
import { silentPeers } from './silent-peers.js'

/** What the lease and the server's detection ask the engine about its replication (docs/ha.md). */
export interface ReplicationViews {
  /** A primary: the replicas streaming from it now (a query that fails: throws). */
  replicasConnected(): Promise<number>
  /** A replica: is its link to the source up now? */
  linkUp(): Promise<boolean>
}

/**
 * Per engine, from the engine's own bookkeeping: PostgreSQL pg_stat_replication (walsenders
 * streaming) and pg_stat_wal_receiver; MariaDB the binlog dump threads (but those whose
 * connection went silent: silent-peers.ts) and the IO thread of SHOW SLAVE STATUS; Redis INFO
 * replication (connected_slaves, master_link_status).
 */
export function replicationViews(b: AgentBootstrap): ReplicationViews {
  const run = join(b.baseDir, 'run')
  switch (b.datastore.manager) {
    case 'postgresql': {
      const one = async (sql: string) => (await postgresClient(run, b.port).query(sql))[0]?.[0] ?? ''
      return {
        // Replicas stream over TCP under their instance id; the log archiver's pg_receivewal (archive.ts) is local and no replica.
        replicasConnected: async () => Number(await one("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND client_addr IS NOT NULL AND application_name <> 'pg_receivewal';")),
        linkUp: async () => (await one("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming';")) === '1',
      }
    }
    case 'mariadb':
    case 'mysql': {
      const db = mariadbClient(join(run, 'mysqld.sock'))
      return {
        // Replicas log in as the replication account (slave_...) over TCP; a local binlog reader is no replica, nor
        // is one whose connection has gone silent (cut off: its dump thread would stay listed for minutes).
        replicasConnected: async () => {
          const hosts = await db.query("SELECT HOST FROM information_schema.PROCESSLIST WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID') AND USER LIKE 'slave\\_%' AND HOST <> 'localhost';")
          const silent = await silentPeers()
          return hosts.filter(([host]) => !silent.has(host ?? '')).length
        },
        linkUp: async () => (await db.records('SHOW SLAVE STATUS'))[0]?.Slave_IO_Running === 'Yes',
      }
    }
    case 'redis': {
      const redis = redisClient(join(run, 'redis.sock'), join(b.baseDir, 'conf', REDIS_ADMIN_SECRET))
      const info = async (key: string) =>
        (await redis.run([['INFO', 'replication']]))
          .find((l) => l.startsWith(`${key}:`))
          ?.split(':')[1]
          ?.trim()
      return {
        replicasConnected: async () => Number((await info('connected_slaves')) ?? 0),
        linkUp: async () => (await info('master_link_status')) === 'up',
      }
    }
  }
}
