/**
 * Replication between server and guest (internals.md 1.6 to 1.9).
 */

/** What prepare of a new replica gets: where its source is and how to log in to it. */
export interface ReplicaSpec {
  /** The replica source's instance id. */
  sourceId: string
  /** get_replication_snapshot's answer from the source (master{host,port}, replica_conf{...}). */
  snapshot: Record<string, unknown>
}
