import type { BaseConfiguration } from './types.js'

/**
 * maxmemory is 75% of the flavor's RAM with noeviction: a Redis instance here is a
 * database, so when full it refuses writes instead of silently dropping keys; the other
 * 25% covers fork copy-on-write during BGSAVE, fragmentation and client buffers.
 * (Upstream's template set no maxmemory at all.)
 */
export function redisMaxmemoryMb(ramMb: number): number {
  return Math.max(Math.trunc(ramMb * 0.75), 1)
}

/** redis.conf's tunable base settings: upstream's fixed ones plus maxmemory. */
export function redisBase(ramMb: number, port: number | null): BaseConfiguration {
  return {
    ...(port ? { port } : {}),
    databases: 16,
    save: '900 1 300 10 60 10000',
    appendonly: 'no',
    dbfilename: 'dump.rdb',
    maxmemory: `${redisMaxmemoryMb(ramMb)}mb`,
    'maxmemory-policy': 'noeviction',
    'slowlog-log-slower-than': 10000,
    'slowlog-max-len': 128,
    hz: 10,
  }
}
