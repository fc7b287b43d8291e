import type { BaseConfiguration } from './types.js'

/**
 * RAM-derived settings of upstream's mysql/mariadb config.template: with R = RAM MB /
 * 512, each value is a multiple of R truncated to an integer. Floors keep tiny flavors
 * inside the engine's accepted ranges (validation-rules minimums).
 */
export function mariadbMemory(ramMb: number) {
  const r = ramMb / 512
  const n = (k: number, min = 1): number => Math.max(Math.trunc(k * r), min)
  return {
    keyBufferMb: n(50),
    maxAllowedPacketKb: n(1024),
    threadCacheSize: n(4),
    innodbBufferPoolMb: n(150, 5),
    tmpTableMb: n(16),
    tableOpenCache: n(256),
    tableDefinitionCache: n(256, 400),
    openFilesLimit: n(512),
    maxConnections: n(100),
    queryCacheMb: n(8),
  }
}

/**
 * The [mysqld] settings that shape the files mariadb-install-db writes (the redo log's
 * size, the page size; skip-name-resolve makes install-db write the host's address, not
 * its name, into the grant tables): a template data dir is initialised with them too.
 */
export const MARIADB_INIT_KEYS = ['skip-name-resolve', 'innodb_page_size', 'innodb_log_file_size'] as const

/**
 * Options the option file names bare (the API shows them as 1): mariadb-install-db reads
 * the [mysqld] group too and refuses `skip-name-resolve=1` (its own option parser takes
 * the bare form only).
 */
export const MARIADB_BARE_OPTIONS: readonly string[] = ['skip-name-resolve']

/** [mysqld]'s tunable base settings: upstream's template for the flavor's RAM. */
export function mariadbBase(ramMb: number, port: number | null): BaseConfiguration {
  const m = mariadbMemory(ramMb)
  return {
    ...(port ? { port } : {}),
    'skip-name-resolve': 1,
    innodb_page_size: '16k',
    innodb_log_file_size: '50M',
    binlog_format: 'ROW',
    // Point-in-time recovery (docs/pitr-mariadb.md): checksummed events, and every commit in the binlog
    // on disk before it is acknowledged (what the archive streams; 0 trades that for throughput).
    binlog_checksum: 'CRC32',
    sync_binlog: 1,
    performance_schema: 'OFF',
    'local-infile': 0,
    key_buffer_size: `${m.keyBufferMb}M`,
    max_allowed_packet: `${m.maxAllowedPacketKb}K`,
    thread_cache_size: m.threadCacheSize,
    innodb_buffer_pool_size: `${m.innodbBufferPoolMb}M`,
    innodb_log_buffer_size: '25M',
    tmp_table_size: `${m.tmpTableMb}M`,
    max_heap_table_size: `${m.tmpTableMb}M`,
    table_open_cache: m.tableOpenCache,
    table_definition_cache: m.tableDefinitionCache,
    open_files_limit: m.openFilesLimit,
    max_connections: m.maxConnections,
    max_user_connections: m.maxConnections,
    query_cache_type: 1,
    query_cache_limit: '1M',
    query_cache_size: `${m.queryCacheMb}M`,
    connect_timeout: 15,
    wait_timeout: 120,
    sort_buffer_size: '1M',
    join_buffer_size: '1M',
    read_buffer_size: '512K',
    read_rnd_buffer_size: '512K',
  }
}
