/**
 * Synchronous replication of a replication set (issue 16, docs/ha.md "Synchronous replication"): what
 * the server asks of each member's engine and what the primary reports back. PostgreSQL
 * (synchronous_standby_names = 'ANY 1 (...)') and MariaDB (semi-sync, AFTER_SYNC) only.
 */

/** A member's part: the primary waits for one of `standbys` to acknowledge each commit; a replica acknowledges. */
export type SyncSpec = { role: 'primary'; standbys: string[] } | { role: 'replica' }

/** A primary's synchronous replication as its engine reports it (sync_view). */
export type SyncView = {
  /** Is the engine set to wait for a replica's acknowledgement? (false: not configured, or MariaDB fell back to async). */
  synchronous: boolean
  /** Replicas able to acknowledge now (PostgreSQL sync_state sync/quorum; MariaDB Rpl_semi_sync_master_clients). */
  acknowledging: number
  /**
   * How long the oldest commit waiting for an acknowledgement has waited (ms; 0: none waits). A replica that
   * is connected but stopped (paused, its disk stuck) still counts as connected: this is what shows it.
   */
  oldestWaitMs: number
}

/** Guest RPCs of synchronous replication (rpc-catalogue.ts). */
export interface SyncRpc {
  /** The member's synchronous replication: its role in it, or null (none). Idempotent. */
  set_sync_replication: { args: { sync: SyncSpec | null }; result: null }
  /** A primary's view of its synchronous replication. */
  sync_view: { args: Record<string, never>; result: SyncView }
}

/** An instance id as a standby name: what replicas send as their application_name (PostgreSQL). */
export const STANDBY_NAME = /^[0-9a-f-]{1,64}$/

/** A spec from the wire, checked (the agent's side: nothing on the broker is trusted). */
export function syncSpecOf(v: unknown): SyncSpec | null {
  if (v === null || v === undefined) return null
  const s = v as { role?: unknown; standbys?: unknown }
  if (s.role === 'replica') return { role: 'replica' }
  if (s.role === 'primary' && Array.isArray(s.standbys) && s.standbys.length <= 16 && s.standbys.every((x) => typeof x === 'string' && STANDBY_NAME.test(x)))
    return { role: 'primary', standbys: [...(s.standbys as string[])] }
  throw new Error("sync: role 'replica', or role 'primary' with standbys (instance ids)")
}
