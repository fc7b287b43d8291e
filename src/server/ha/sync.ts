import type { SyncSpec } from '../../protocol/index.js'
import type { InstanceJoined } from '../db/instances.js'
import { replicaRejoins } from '../db/replica-rejoins.js'
import type { Lab } from '../lab.js'
import { badRequest, unprocessable } from '../errors.js'
import { checkIdle } from '../instances/actions.js'
import { effectiveServiceStatus, instanceStatus } from '../instances/status.js'

/** Engines whose replication can hold a commit until a replica has it (docs/ha.md). */
const SYNC_ENGINES = new Set(['postgresql', 'mariadb', 'mysql'])

/** `sync_replication` in a request body: true or false, nothing else. */
export function syncReplicationValue(v: unknown): boolean {
  if (typeof v !== 'boolean') throw badRequest(`Invalid sync_replication '${String(v)}': true or false.`)
  return v
}

/** Refused on an engine without synchronous replication (upstream's ReplicationNotSupported is a 400 too). */
function checkEngine(inst: InstanceJoined): void {
  const engine = inst.dsv_manager ?? ''
  if (!SYNC_ENGINES.has(engine))
    throw badRequest(
      engine === 'redis'
        ? `Synchronous replication is not supported for datastore redis: Redis replicates asynchronously (WAIT only counts the replicas that have a write, it cannot hold it back).`
        : `Synchronous replication is not supported for datastore ${engine || 'unknown'}.`,
    )
}

/**
 * `sync_replication` at create (POST /instances) is refused, false aside: a source's commits would wait for
 * a replica still being built (and the replica's own set-up commits on the source, deadlocked). Checked
 * before anything is made.
 */
export function refuseSyncAtCreate(v: unknown): void {
  if (v === undefined || syncReplicationValue(v) === false) return
  throw badRequest('Synchronous replication is set on a replica source once a replica is ACTIVE: create the replica, then update its source with sync_replication.')
}

/**
 * A replica that can acknowledge a commit: ACTIVE (no task, its server up) and its engine running by its agent's
 * last heartbeat, while that is fresh (a replica whose engine is down, or whose agent is silent, shows ACTIVE too:
 * the instance status is the server's, the engine's is operating_status).
 */
function canAcknowledge(lab: Lab, r: InstanceJoined): boolean {
  return instanceStatus(r) === 'ACTIVE' && ['ACTIVE', 'HEALTHY'].includes(effectiveServiceStatus(lab, r).api)
}

/**
 * PUT/PATCH `{"instance": {"sync_replication": true|false}}` (a lab extension, README "API notes"): on only
 * on a PostgreSQL or MariaDB replica source with at least one replica that can acknowledge (canAcknowledge), with no
 * task running on the set. Off is always allowed on a source (it also releases commits that wait).
 * Returns the write, for the route's transaction.
 */
export function checkSyncReplication(lab: Lab, inst: InstanceJoined, on: boolean): () => void {
  if (inst.slave_of_id) throw badRequest(`Instance ${inst.id} is a replica: synchronous replication is set on its replica source ${inst.slave_of_id}.`)
  const replicas = lab.instances.replicasOf(inst.id)
  if (on) {
    checkEngine(inst)
    if (!replicas.length) throw badRequest(`Instance ${inst.id} has no replicas: synchronous replication needs a replica source with one or more replicas.`)
  }
  for (const m of [inst, ...replicas]) checkIdle(m)
  if (on && !replicas.some((r) => canAcknowledge(lab, r)))
    throw unprocessable(`No replica of instance ${inst.id} can acknowledge commits (none is ACTIVE with its engine running): synchronous replication would hold every write.`)
  return () => lab.instances.setSyncReplication(inst.id, on)
}

/** The names a primary's commits may be acknowledged by: its replicas, and an ejected source that is to rejoin it. */
export function standbysOf(lab: Lab, id: string): string[] {
  const rejoins = replicaRejoins(lab.db)
  const rejoining = [...rejoins.pendingIds()].filter((r) => rejoins.get(r)?.new_source_id === id && lab.instances.get(r))
  return [...new Set([...lab.instances.replicaIds(id), ...rejoining])].sort()
}

/** What the instance's engine should run by the records: a waiting primary, an acknowledging replica, or nothing. */
export function syncSpecOf(lab: Lab, inst: InstanceJoined): SyncSpec | null {
  if (!SYNC_ENGINES.has(inst.dsv_manager ?? '')) return null
  if (inst.sync_replication === 1 && !inst.slave_of_id) {
    const standbys = standbysOf(lab, inst.id)
    return standbys.length ? { role: 'primary', standbys } : null
  }
  const source = inst.slave_of_id ? lab.instances.get(inst.slave_of_id) : undefined
  if (source?.sync_replication === 1) return { role: 'replica' }
  return null
}

/** How a set's synchronous replication stands, by its primary's last answer (sync-keeper.ts). */
export type SyncStatus = 'synchronous' | 'waiting' | 'async' | 'unknown'

/** The keeper's last look at each primary (per lab), for the view. */
export const syncStatuses = new WeakMap<Lab, Map<string, SyncStatus>>()

/**
 * The view's fields: `sync_replication` on the primary of a set with it on (a replica shows its source's),
 * and with it on, `sync_replication_status`: `synchronous` (a replica acknowledges), `waiting` (no replica
 * can acknowledge: commits wait), `async` (the engine fell back), `unknown` (its agent did not answer yet).
 */
export function syncReplicationView(lab: Lab, inst: InstanceJoined): Record<string, unknown> {
  const primary = inst.slave_of_id ? lab.instances.get(inst.slave_of_id) : inst
  const on = primary?.sync_replication === 1
  if (!on) return { sync_replication: false }
  return { sync_replication: true, sync_replication_status: syncStatuses.get(lab)?.get(primary.id) ?? 'unknown' }
}
