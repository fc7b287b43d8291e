/**
 * The tunable values of the base config an instance's agent renders from its flavor
 * (upstream's config.template for the flavor's RAM): GET /instances/{id}/configuration
 * shows them, and a detach restores them live when every removed key has one here.
 * The server does not import the agent (the layering rule), so the RAM formulas are
 * restated here; they must follow src/agent/datastores/<engine>/config.ts. Paths,
 * sockets and addresses are left out: they are the lab's, not the user's to tune.
 */
export type DefaultValue = string | number | boolean

export function baseConfiguration(manager: string, ramMb: number, port: number | null): Record<string, DefaultValue> {
  switch (manager) {
    case 'mysql':
    case 'mariadb': {
      const r = ramMb / 512
      const n = (k: number, min = 1): number => Math.max(Math.trunc(k * r), min)
      return {
        ...(port ? { port } : {}),
        'skip-name-resolve': 1,
        innodb_page_size: '16k',
        innodb_log_file_size: '50M',
        binlog_format: 'ROW',
        performance_schema: 'OFF',
        'local-infile': 0,
        key_buffer_size: `${n(50)}M`,
        max_allowed_packet: `${n(1024)}K`,
        thread_cache_size: n(4),
        innodb_buffer_pool_size: `${n(150, 5)}M`,
        innodb_log_buffer_size: '25M',
        tmp_table_size: `${n(16)}M`,
        max_heap_table_size: `${n(16)}M`,
        table_open_cache: n(256),
        table_definition_cache: n(256, 400),
        open_files_limit: n(512),
        max_connections: n(100),
        max_user_connections: n(100),
        query_cache_type: 1,
        query_cache_limit: '1M',
        query_cache_size: `${n(8)}M`,
        connect_timeout: 15,
        wait_timeout: 120,
        sort_buffer_size: '1M',
        join_buffer_size: '1M',
        read_buffer_size: '512K',
        read_rnd_buffer_size: '512K',
      }
    }
    case 'postgresql':
      return {
        ...(port ? { port } : {}),
        max_connections: 100,
        shared_buffers: `${Math.max(Math.trunc((ramMb >= 3072 ? 0.25 : 0.1) * ramMb), 1)}MB`,
        effective_cache_size: `${Math.max(ramMb - 512, 512)}MB`,
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
    case 'redis':
      return {
        ...(port ? { port } : {}),
        databases: 16,
        save: '900 1 300 10 60 10000',
        appendonly: 'no',
        dbfilename: 'dump.rdb',
        maxmemory: `${Math.max(Math.trunc(ramMb * 0.75), 1)}mb`,
        'maxmemory-policy': 'noeviction',
        'slowlog-log-slower-than': 10000,
        'slowlog-max-len': 128,
        hz: 10,
      }
    default:
      return {}
  }
}
