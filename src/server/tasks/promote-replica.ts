import type { ReplicaContext, RpcArgs, RpcMethod, RpcOptionalArgs, RpcResult } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { RPC_TIMEOUT } from '../broker/rpc.js'
import { InstanceTask, type InstanceTaskName } from './instance-tasks.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { answering, heardSince } from './agent-health.js'
import { guestMessage } from './replica-create.js'
import { followReplicationChange } from '../instances/replication-sets.js'
import { setTimeout as sleep } from 'node:timers/promises'

/** The members of a replication set a promote/eject works on (fixed when the API accepted it). */
export interface ReplicationSetPayload {
  /** The source of the set: the old primary (promote) or the dead one (eject). */
  source: string
  /** Every replica of the source when the action was accepted. */
  replicas: string[]
}

/**
 * The steps of a replication flow: each is recorded before it runs, so a flow resumed
 * after a server restart starts again at the step it was in (every step can be repeated).
 */
export class Steps {
  private readonly done: number

  constructor(
    private readonly lab: Lab,
    private readonly task: TaskRow,
    private readonly names: string[],
  ) {
    const i = names.indexOf(task.step)
    this.done = Math.max(0, i)
  }

  /** Runs `fn` unless the flow already got past `name`. */
  async run(name: string, fn: () => Promise<void>): Promise<void> {
    const i = this.names.indexOf(name)
    if (i < this.done) return
    if (this.lab.tasks.isClosed) throw new Error('server shutting down')
    this.lab.tasks.step(this.task, name)
    await fn()
  }
}

/** A guest call with upstream's HIGH timeout. */
export function guest<M extends RpcMethod>(lab: Lab, id: string, method: M, ...[args]: RpcOptionalArgs<M>): Promise<RpcResult<M>> {
  return lab.rpc.call(id, method, args ?? ({} as RpcArgs<M>), RPC_TIMEOUT.high)
}

/**
 * Resumed after a server restart: calls published before an agent is back on the new
 * broker would be lost, so wait (up to a heartbeat expiry) until every member reported again.
 */
export async function awaitAgents(lab: Lab, task: TaskRow, ids: string[]): Promise<void> {
  // A new task right after a server restart: the agents may not be back either (a ping each).
  if (task.step === 'start' && !task.resumed) {
    for (const id of ids) await answering(lab, id)
    return
  }
  const since = Date.now()
  while (ids.some((id) => !heardSince(lab, id, since)) && Date.now() - since < lab.config.heartbeatExpiryMs) {
    if (lab.tasks.isClosed) throw new Error('server shutting down')
    await sleep(100)
  }
}

/** Sets the task of each instance that still has `from` (a reset or delete meanwhile wins). */
export function setTasks(lab: Lab, ids: string[], from: InstanceTaskName, to: InstanceTaskName): void {
  lab.db.transaction(() => {
    for (const id of ids) if (lab.instances.get(id)?.task_id === InstanceTask[from].id) lab.instances.setTask(id, to)
  })()
}

/**
 * Promote a replica to replica source (internals.md 1.7), in upstream's order so that
 * MariaDB GTIDs do not diverge: the old primary read-only, its last transaction, the
 * candidate catches up to it, leaves replication and becomes a writable source; every
 * other replica and then the old primary follow the candidate. All members were set
 * PROMOTING by the API; they end NONE, or PROMOTION_ERROR (with a fault on the
 * candidate) when a step fails. A replica that fails to follow is PROMOTION_ERROR
 * alone; the others finish.
 */
/**
 * The candidate becomes the source (promote and eject alike): detach it, make it a
 * master, let it take writes; returns the context the other members attach with.
 * With synchronous replication on the set (docs/ha.md), the flag moves to the candidate
 * and its engine is set to wait for one of the other members first, while still a
 * replica: a PostgreSQL standby is writable as soon as it is promoted.
 */
export async function takeOver(lab: Lab, steps: Steps, candidate: string, set: ReplicationSetPayload): Promise<ReplicaContext> {
  await steps.run('sync', async () => {
    if (lab.instances.get(set.source)?.sync_replication !== 1 && lab.instances.get(candidate)?.sync_replication !== 1) return
    const standbys = [set.source, ...set.replicas].filter((id) => id !== candidate && lab.instances.get(id)).sort()
    await guest(lab, candidate, 'set_sync_replication', { sync: { role: 'primary', standbys } })
    lab.db.transaction(() => {
      lab.instances.setSyncReplication(set.source, false)
      lab.instances.setSyncReplication(candidate, true)
    })()
  })
  await steps.run('detach', () => guest(lab, candidate, 'detach_replica', { for_failover: true }).then(() => undefined))
  await steps.run('enable_as_master', async () => {
    await guest(lab, candidate, 'enable_as_master', { replica_source_config: {} })
    lab.instances.setSlaveOf(candidate, null)
  })
  await steps.run('writable', () => guest(lab, candidate, 'make_read_only', { read_only: false }).then(() => undefined))
  return guest(lab, candidate, 'get_replica_context')
}

/**
 * Another replica of the set follows the new source. MariaDB and Redis replicas leave
 * the old source first; a PostgreSQL standby is only re-pointed (attach rewrites its
 * primary_conninfo and it follows the new timeline): detaching it would promote it to a
 * timeline of its own that forks at the same WAL position as the new source's, which
 * pg_rewind cannot tell apart, and it would never receive the new source's writes.
 */
export async function follow(lab: Lab, replica: string, context: ReplicaContext): Promise<void> {
  if (lab.instances.get(replica)?.dsv_manager !== 'postgresql') await guest(lab, replica, 'detach_replica', { for_failover: true })
  await guest(lab, replica, 'attach_replica', { replica_info: context, slave_config: {}, restart: true })
}

export class PromoteReplicaFlow implements FlowHandler {
  readonly kind = 'promote_to_replica_source'

  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const candidate = task.instance_id
    const { source, replicas } = JSON.parse(task.payload) as ReplicationSetPayload
    const others = replicas.filter((r) => r !== candidate)
    const members = [source, ...replicas]
    if (lab.instances.get(candidate)?.task_id !== InstanceTask.PROMOTING.id) return // reset or deleted meanwhile
    await awaitAgents(lab, task, members)
    const steps = new Steps(lab, task, ['start', 'read_only', 'catch_up', 'sync', 'detach', 'enable_as_master', 'writable', ...others.map((r) => `replica:${r}`), 'old_primary', 'finish'])
    const failed: string[] = []
    try {
      // Re-read on resume: the old primary stays read-only, so the position holds.
      let txn = ''
      await steps.run('read_only', () => guest(lab, source, 'make_read_only', { read_only: true }).then(() => undefined))
      await steps.run('catch_up', async () => {
        txn = await guest(lab, source, 'get_latest_txn_id')
        await guest(lab, candidate, 'wait_for_txn', { txn })
      })
      const context = await takeOver(lab, steps, candidate, { source, replicas })
      for (const r of others) {
        await steps.run(`replica:${r}`, async () => {
          try {
            await follow(lab, r, context)
            lab.instances.setSlaveOf(r, candidate)
          } catch (e) {
            if (lab.tasks.isClosed) throw e
            failed.push(r)
            lab.instances.addFault(r, `Failed to attach replica ${r} to the new replica source ${candidate}: ${guestMessage(e)}`)
          }
        })
      }
      await steps.run('old_primary', async () => {
        await guest(lab, source, 'attach_replica', { replica_info: context, slave_config: {}, restart: false })
        await guest(lab, source, 'demote_replication_master')
        lab.instances.setSlaveOf(source, candidate)
        // The old primary's replicas that were not in the set (none normally) keep following it.
      })
      lab.tasks.step(task, 'finish')
    } catch (e) {
      if (lab.tasks.isClosed) throw e
      const message = `Replica promotion of ${candidate} failed: ${guestMessage(e)}`
      lab.instances.addFault(candidate, message)
      setTasks(lab, members, 'PROMOTING', 'PROMOTION_ERROR')
      await followReplicationChange(lab, `the promotion of ${candidate}`)
      lab.notifications.end('instance_promote', candidate, message)
      lab.log(`instance ${candidate}: ${message}`)
      throw new Error(message)
    }
    setTasks(lab, failed, 'PROMOTING', 'PROMOTION_ERROR')
    setTasks(lab, members, 'PROMOTING', 'NONE')
    await followReplicationChange(lab, `the promotion of ${candidate}`)
    lab.log(`instance ${candidate} is the replica source now (old source ${source}${failed.length ? `; failed replicas: ${failed.join(', ')}` : ''})`)
    lab.notifications.end('instance_promote', candidate, failed.length ? `replicas failed to follow the new source: ${failed.join(', ')}` : undefined)
    if (failed.length) throw new Error(`replicas failed to follow the new source: ${failed.join(', ')}`)
  }
}
