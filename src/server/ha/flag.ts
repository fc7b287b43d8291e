import type { HaSpec } from '../../protocol/index.js'
import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import { badRequest } from '../errors.js'
import { checkIdle } from '../instances/actions.js'

/** auto_failover values in the instances table (m014). */
export const AUTO_FAILOVER = {
  off: 0,
  /** The primary of a set that fails over by itself. */
  on: 1,
  /** A primary this server failed over: never leased again, held fenced until it follows the set (rejoin). */
  deposed: 2,
} as const

/** `auto_failover` in a request body: true or false, nothing else. */
export function autoFailoverValue(v: unknown): boolean {
  if (typeof v !== 'boolean') throw badRequest(`Invalid auto_failover '${String(v)}': true or false.`)
  return v
}

/**
 * `auto_failover` at create (POST /instances): true only with `replica_of` (the source's set then
 * fails over by itself once its replica exists); false is the default. Checked before anything is made.
 */
export function createAutoFailover(v: unknown, replica: boolean): boolean {
  if (v === undefined) return false
  const on = autoFailoverValue(v)
  if (on && !replica) throw badRequest('Automatic failover needs replicas: create the instance, then its replicas with auto_failover, or set it with an update.')
  return on
}

/**
 * PUT/PATCH `{"instance": {"auto_failover": true|false}}` (a lab extension, README "API notes"):
 * only on a replica source with replicas, with no task running on the set. Turning it off is
 * always allowed on a source (and a no-op where it is off). Returns the write, for the route's transaction.
 */
export function checkAutoFailover(lab: Lab, inst: InstanceJoined, on: boolean): () => void {
  if (inst.slave_of_id) throw badRequest(`Instance ${inst.id} is a replica: automatic failover is set on its replica source ${inst.slave_of_id}.`)
  const replicas = lab.instances.replicasOf(inst.id)
  if (on && !replicas.length) throw badRequest(`Instance ${inst.id} has no replicas: automatic failover needs a replica source with one or more replicas.`)
  for (const m of [inst, ...replicas]) checkIdle(m)
  return () => lab.instances.setAutoFailover(inst.id, on)
}

/** What the instance's agent should run by the records: a primary's lease, a replica's fast heartbeat, or nothing. */
export function haSpecOf(lab: Lab, inst: InstanceJoined | undefined): HaSpec | undefined {
  if (!inst) return undefined
  const { heartbeatMs, leaseMs, marginMs } = lab.config.ha
  const base = { heartbeatMs, leaseMs, marginMs }
  if ((inst.auto_failover ?? 0) !== AUTO_FAILOVER.off) return { role: 'primary', ...base }
  const source = inst.slave_of_id ? lab.instances.get(inst.slave_of_id) : undefined
  if (source?.auto_failover === AUTO_FAILOVER.on) return { role: 'replica', ...base }
  return undefined
}

/** The view's field: on for the primary of an HA set; a replica shows its source's. */
export function autoFailoverView(lab: Lab, inst: InstanceJoined): { auto_failover: boolean } {
  if (inst.slave_of_id) return { auto_failover: lab.instances.get(inst.slave_of_id)?.auto_failover === AUTO_FAILOVER.on }
  return { auto_failover: inst.auto_failover === AUTO_FAILOVER.on }
}
