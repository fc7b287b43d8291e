/**
 * Automatic failover (issue 16, docs/ha.md): what server and agent share about a set with
 * `auto_failover` on. One rule decides when the control plane may promote a replica, and the
 * agent's lease is the mirror of it, so both sides' tests use these functions.
 */

/** The HA part of an agent's bootstrap (and of set_ha): absent when the instance is in no HA set. */
export interface HaSpec {
  /** The primary holds the lease and fences; a replica only reports its link and heartbeats fast. */
  role: 'primary' | 'replica'
  /** Heartbeat period of HA members (ms). */
  heartbeatMs: number
  /** How long an acknowledged heartbeat keeps the primary writable (ms, counted from its sending). */
  leaseMs: number
  /** What the server adds to the lease before it may promote: the agent's time to notice and fence. */
  marginMs: number
}

/**
 * The lease an acknowledgement gives: it lapses `leaseMs` after the agent SENT the heartbeat it
 * acknowledges (times on the agent's own clock), never later, however late the acknowledgement.
 */
export function leaseExpiry(heartbeatSentAt: number, spec: Pick<HaSpec, 'leaseMs'>): number {
  return heartbeatSentAt + spec.leaseMs
}

/**
 * The earliest time (server clock) the control plane may promote a replica of a primary last
 * heard at `lastHeardAt` (when the server received its last heartbeat, which is no earlier than
 * its sending): every lease the server gave has lapsed, and the agent had `marginMs` to fence.
 */
export function promotableAt(lastHeardAt: number, spec: Pick<HaSpec, 'leaseMs' | 'marginMs'>): number {
  return lastHeardAt + spec.leaseMs + spec.marginMs
}

/** What an ejected instance's agent is told: the set's new primary (its address and engine port). */
export interface EjectedFence {
  newSource: { id: string; host: string; port: number }
}

/** What an HA member's agent reports of its engine's replication (ha_view). */
export type HaView = {
  /** A replica: is its replication link to the source up (streaming / IO thread running / link up)? null: not a replica. */
  linkUp: boolean | null
  /** A primary: how many replicas are connected to it now. null: not a primary. */
  replicasConnected: number | null
  /** The agent holds the lease now (a primary); false for others. */
  leased: boolean
  /** The engine is fenced (stopped by the lease). */
  fenced: boolean
}

/** Guest RPCs of HA (rpc-catalogue.ts). */
export interface HaRpc {
  /**
   * The instance joins (spec) or leaves (null) an HA set: heartbeat period, lease and role. With `ejected` (the
   * rejoin flow, on a primary a failover deposed): its engine is fenced read-only as the bootstrap's `ejected`
   * says (started so when the lease held it stopped), and the lease stops nothing any more; answered once done.
   */
  set_ha: { args: { ha: HaSpec | null; ejected?: EjectedFence }; result: null }
  /** The control plane acknowledges the heartbeat sent at `sent` (a cast): the lease is renewed. */
  renew_lease: { args: { sent: number }; result: null }
  /** The member's view of its replication (the detection's third witness). */
  ha_view: { args: Record<string, never>; result: HaView }
}

/**
 * The replication-link timeout of an HA member (whole seconds; docs/ha.md "Dead links"): a replica whose
 * source sent nothing for this long reports its link down, so a paused or cut-off primary is seen gone about
 * when its lease lapses, not after the engine's default minute. Never under 2 s (keepalives go every second).
 */
export function linkTimeoutSeconds(spec: Pick<HaSpec, 'leaseMs' | 'marginMs'>): number {
  return Math.max(2, Math.ceil((spec.leaseMs + spec.marginMs) / 1000))
}
