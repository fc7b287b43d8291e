import { promotableAt } from '../../protocol/index.js'

/** Everything the control plane knows about one HA set at one moment (the decision's input). */
export interface SetObservation {
  /** The server's clock now (ms). */
  now: number
  /** When the server received the primary's last heartbeat (ms, server clock). */
  lastHeardAt: number
  lease: { leaseMs: number; marginMs: number }
  /** A member of the set runs a task (build, promote, eject, resize...): nothing is decided. */
  busy: boolean
  /** The server's own probe of the primary's engine (TCP + the engine's handshake) succeeded; undefined: not probed. */
  engineAnswers?: boolean
  /** Each replica's answer to ha_view: undefined when it did not answer. */
  replicas: Array<{ id: string; linkUp?: boolean }>
}

export type Decision = { failover: false; reason: string; degraded?: true } | { failover: true; replicas: string[] }

/**
 * Is the primary gone (issue 16 item 2)? Only when every witness agrees: no heartbeat for longer
 * than the lease plus the margin (the agent has fenced itself by then, protocol/ha.ts), the
 * server's probe of the engine fails, and every replica that answers reports its replication link
 * down (at least one must answer: it is the one promoted). A slow primary (late heartbeats, an
 * engine that answers), a dead agent with a live engine, or one replica still streaming: no failover.
 */
export function decide(o: SetObservation): Decision {
  if (o.busy) return { failover: false, reason: 'a task runs on the set' }
  if (o.now < promotableAt(o.lastHeardAt, o.lease)) return { failover: false, reason: 'the primary was heard within its lease' }
  if (o.engineAnswers !== false) return { failover: false, reason: o.engineAnswers ? "the primary's engine answers" : 'the engine was not probed' }
  const answered = o.replicas.filter((r) => r.linkUp !== undefined)
  if (!answered.length) return { failover: false, reason: 'no replica answers', degraded: true }
  const streaming = answered.find((r) => r.linkUp)
  if (streaming) return { failover: false, reason: `replica ${streaming.id} still replicates from the primary` }
  return { failover: true, replicas: answered.map((r) => r.id) }
}
