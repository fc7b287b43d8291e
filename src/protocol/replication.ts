/**
 * Replication between server and guest (internals.md 1.6 to 1.9, section 2).
 */

/** The replication account on a source; the password is random and never logged. */
export interface ReplicationUser {
  name: string
  password: string
}

/**
 * What a replica needs to follow a source: get_replication_snapshot's and
 * get_replica_context's answer (upstream's shape: master{host, port},
 * replica_conf{log_position, replication_user}).
 */
export type ReplicaContext = {
  master: { host: string; port: number }
  replica_conf: { log_position?: unknown; replication_user: ReplicationUser }
  /** The source's datastore manager (upstream's dataset.datastore_manager). */
  datastore_manager?: string
}

/** What prepare of a new replica gets: where its source is and how to log in to it. */
export interface ReplicaSpec {
  /** The replica source's instance id. */
  sourceId: string
  /** get_replication_snapshot's answer from the source (master{host,port}, replica_conf{...}). */
  snapshot: Record<string, unknown>
}

/** The snapshot of a ReplicaSpec as a checked ReplicaContext (throws when it is not one). */
export function replicaContextOf(v: unknown): ReplicaContext {
  const c = v as Partial<ReplicaContext> | null | undefined
  const user = c?.replica_conf?.replication_user
  if (!c || typeof c.master?.host !== 'string' || typeof c.master.port !== 'number' || typeof user?.name !== 'string' || typeof user.password !== 'string')
    throw new Error('the replication context is incomplete (master host/port and replication user needed)')
  return c as ReplicaContext
}
