import type { BaseConfiguration } from './types.js'

/** Upstream's postgresql config.template: a quarter of RAM from 3 GB up, a tenth below. */
export function postgresMemory(ramMb: number) {
  return {
    sharedBuffersMb: Math.max(Math.trunc((ramMb >= 3072 ? 0.25 : 0.1) * ramMb), 1),
    effectiveCacheSizeMb: Math.max(ramMb - 512, 512),
  }
}

/** postgresql.conf's tunable base settings: upstream's template for the flavor's RAM. */
export function postgresBase(ramMb: number, port: number | null): BaseConfiguration {
  const m = postgresMemory(ramMb)
  return {
    ...(port ? { port } : {}),
    max_connections: 100,
    shared_buffers: `${m.sharedBuffersMb}MB`,
    effective_cache_size: `${m.effectiveCacheSizeMb}MB`,
    max_stack_depth: '7MB',
    wal_level: 'replica',
    wal_log_hints: 'on',
    max_wal_size: '1GB',
    min_wal_size: '80MB',
    wal_keep_size: '80MB',
    max_wal_senders: 5,
    max_replication_slots: 5,
    hot_standby: 'on',
    log_timezone: 'UTC',
    timezone: 'UTC',
    datestyle: 'iso, mdy',
    default_text_search_config: 'pg_catalog.english',
  }
}
