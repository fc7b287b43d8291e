import type { AgentEvent } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { replicaRejoins } from '../db/replica-rejoins.js'
import { followReplicationChange } from '../instances/replication-sets.js'
import { InstanceTask } from './instance-tasks.js'
import { AUTO_FAILOVER, haSpecOf } from '../ha/flag.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { Steps, awaitAgents, guest, type ReplicationSetPayload } from './promote-replica.js'
import { guestMessage } from './replica-create.js'

export const REJOIN_FLOW = 'rejoin_replica_set'

const EJECTED = 'Ejected from its replication set:'

/** What `instance show` says of an ejected source until it follows the new primary (removed once it does). */
export const rejoinFault = (newSource: string): string => `${EJECTED} rejoining the replication set of ${newSource} as its replica once its guest agent is back.`

/**
 * The eject flow's hook (eject-replica.ts, manual or automatic), called once it has chosen the new
 * primary and before that one takes writes: the dead source's agent is told in its bootstrap to start
 * its engine fenced, read-only (agent supervisor.ts), and the rejoin is recorded (m015) so that the
 * first heartbeat of that agent starts RejoinReplicaFlow. Repeatable (a resumed eject calls it again).
 */
export function rejoinAfterEject(lab: Lab, source: string, newSource: string): void {
  const target = lab.instances.get(newSource)
  if (!lab.instances.get(source) || !target?.address || !target.port) return
  if (lab.compute.hasBootstrap(source)) {
    const { address: host, port } = target
    lab.compute.updateBootstrap(source, (b) => {
      b.ejected = { newSource: { id: newSource, host, port } }
    })
  }
  lab.db.transaction(() => {
    if (replicaRejoins(lab.db).get(source)?.new_source_id !== newSource) lab.instances.addFault(source, rejoinFault(newSource))
    replicaRejoins(lab.db).record(source, newSource)
  })()
  lab.log(`instance ${source}: ejected; fenced read-only until it rejoins as a replica of ${newSource}`)
}

/** `lab:rejoin` in the instance view (README "API notes"): the new primary an ejected source is to follow. */
export function rejoinView(lab: Lab, id: string): Record<string, unknown> {
  const row = replicaRejoins(lab.db).get(id)
  return row ? { 'lab:rejoin': { replica_of: row.new_source_id, ejected: row.ejected } } : {}
}

/**
 * An ejected source rejoins its set (issue 16 item 3): started by its agent's first heartbeat after
 * the eject, it makes the engine read-only (MariaDB; PostgreSQL and Redis were started fenced by the
 * agent), then attaches it to the new primary: PostgreSQL pg_rewind (a fresh pg_basebackup when that
 * cannot work), MariaDB CHANGE MASTER with MASTER_USE_GTID=current_pos (a fresh copy when it
 * diverged), Redis REPLICAOF (a full resync). Steps are recorded and repeatable: a server restart
 * resumes it. It ends NONE, a replica of the new primary, or REJOIN_ERROR (ERROR) with a fault, its
 * engine still fenced: never writable.
 */
export class RejoinReplicaFlow implements FlowHandler {
  readonly kind = REJOIN_FLOW

  constructor(private readonly lab: Lab) {}

  /** A heartbeat: an ejected source whose agent is back and idle starts its rejoin. */
  onAgentEvent(id: string, ev: AgentEvent): void {
    const { lab } = this
    if (ev.kind !== 'heartbeat' || lab.tasks.isClosed) return
    const row = replicaRejoins(lab.db).get(id)
    const inst = row && lab.instances.get(id)
    if (!row || !inst || inst.task_id !== InstanceTask.NONE.id || lab.tasks.running(id)) return
    const payload: ReplicationSetPayload = { source: row.new_source_id, replicas: [id] }
    lab.instances.setTask(id, 'REJOINING')
    lab.notifications.start({ tenantId: inst.tenant_id }, 'instance_rejoin', id, { instance_id: id, replica_of: row.new_source_id })
    lab.tasks.submit(REJOIN_FLOW, id, payload as unknown as Record<string, unknown>)
  }

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const id = task.instance_id
    const { source: primary } = JSON.parse(task.payload) as ReplicationSetPayload
    if (lab.instances.get(id)?.task_id !== InstanceTask.REJOINING.id) return // reset or deleted meanwhile
    const steps = new Steps(lab, task, ['start', 'read_only', 'attach', 'finish'])
    try {
      const target = lab.instances.get(primary)
      if (!target) throw new Error(`the new primary ${primary} no longer exists`)
      if (target.slave_of_id) throw new Error(`${primary} is no replica source any more (it replicates from ${target.slave_of_id})`)
      await awaitAgents(lab, task, [id, primary])
      // A sandbox's packet filter lets it reach the new primary while this flow runs (its task and payload say the link).
      await followReplicationChange(lab, `the start of the rejoin of ${id}`)
      // A primary automatic failover deposed: its agent may have started again before the eject told its bootstrap
      // (the reconciler restarts agents), and its lease then holds the engine stopped. Told now, it starts the
      // engine fenced read-only (agent supervisor.ejectedNow), which the steps below need.
      const inst = lab.instances.get(id)
      if (inst?.auto_failover === AUTO_FAILOVER.deposed && target.address && target.port) {
        const ejected = { newSource: { id: primary, host: target.address, port: target.port } }
        await lab.rpc.call(id, 'set_ha', { ha: haSpecOf(lab, inst) ?? null, ejected }, 120_000)
      }
      await steps.run('read_only', () => guest(lab, id, 'make_read_only', { read_only: true }).then(() => undefined))
      await steps.run('attach', async () => {
        const context = await guest(lab, primary, 'get_replica_context')
        await guest(lab, id, 'attach_replica', { replica_info: context, slave_config: {}, restart: true })
        await guest(lab, id, 'demote_replication_master')
      })
      lab.tasks.step(task, 'finish')
      lab.db.transaction(() => {
        lab.instances.setSlaveOf(id, primary)
        replicaRejoins(lab.db).done(id, EJECTED)
        if (lab.instances.get(id)?.task_id === InstanceTask.REJOINING.id) lab.instances.setTask(id, 'NONE')
      })()
      // Its engine's own config now keeps it a replica: the agent needs the fence no more.
      if (lab.compute.hasBootstrap(id)) lab.compute.updateBootstrap(id, (b) => delete b.ejected)
      await followReplicationChange(lab, `the rejoin of ${id}`)
      lab.log(`instance ${id} rejoined its replication set: a replica of ${primary}`)
      lab.notifications.end('instance_rejoin', id)
    } catch (e) {
      if (lab.tasks.isClosed) throw e
      const message = `Rejoin of ${id} as a replica of ${primary} failed (its engine stays read-only): ${guestMessage(e)}`
      lab.db.transaction(() => {
        lab.instances.addFault(id, message)
        // No retry at every heartbeat: ERROR until someone acts (reset status, delete, detach).
        replicaRejoins(lab.db).remove(id)
        if (lab.instances.get(id)?.task_id === InstanceTask.REJOINING.id) lab.instances.setTask(id, 'REJOIN_ERROR')
      })()
      lab.notifications.end('instance_rejoin', id, message)
      lab.log(message)
      throw new Error(message)
    }
  }
}
