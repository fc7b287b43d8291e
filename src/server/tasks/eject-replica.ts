import type { Lab } from '../lab.js'
import { InstanceTask } from './instance-tasks.js'
import type { FlowHandler, TaskRow } from './engine.js'
import { guestMessage } from './replica-create.js'
import { followReplicationChange } from '../instances/replication-sets.js'
import { Steps, awaitAgents, follow, guest, setTasks, takeOver, type ReplicationSetPayload } from './promote-replica.js'
import { rejoinAfterEject } from './rejoin-replica.js'

/**
 * Eject a dead replica source (internals.md 1.8): every replica reports the source it
 * follows and its last transaction (get_last_txn); they must all follow the same one;
 * the most advanced becomes the new source (detach, enable_as_master, writable) and the
 * others follow it. The dead source is fenced and rejoins the set as a replica of the
 * new source once its agent is back (rejoin-replica.ts). All members were set EJECTING by the API; they end NONE, or EJECTION_ERROR with a
 * fault on the dead source when a step fails.
 */
export class EjectReplicaSourceFlow implements FlowHandler {
  readonly kind = 'eject_replica_source'

  constructor(private readonly lab: Lab) {}

  async run(task: TaskRow): Promise<void> {
    const { lab } = this
    const source = task.instance_id
    const { replicas } = JSON.parse(task.payload) as ReplicationSetPayload
    const members = [source, ...replicas]
    if (lab.instances.get(source)?.task_id !== InstanceTask.EJECTING.id) return
    await awaitAgents(lab, task, replicas)
    try {
      // The candidate is chosen again on resume: one already detached reports no source.
      const candidate = await this.pickCandidate(replicas)
      const others = replicas.filter((r) => r !== candidate)
      // Before the candidate takes writes: the dead source is fenced and rejoins it when back (rejoin-replica.ts).
      rejoinAfterEject(lab, source, candidate)
      const steps = new Steps(lab, task, ['start', 'sync', 'detach', 'enable_as_master', 'writable', ...others.map((r) => `replica:${r}`), 'finish'])
      const context = await takeOver(lab, steps, candidate, { source, replicas })
      // Writable now: the set's writer endpoint reaches it at once, not after the others below have followed it.
      await lab.endpoints?.writerTo(candidate)
      for (const r of others) {
        await steps.run(`replica:${r}`, async () => {
          await follow(lab, r, context)
          lab.instances.setSlaveOf(r, candidate)
        })
      }
      lab.tasks.step(task, 'finish')
      setTasks(lab, members, 'EJECTING', 'NONE')
      await followReplicationChange(lab, `the ejection of ${source}`)
      lab.log(`replica source ${source} ejected; ${candidate} is the new replica source`)
      lab.notifications.end('instance_eject', source)
    } catch (e) {
      if (lab.tasks.isClosed) throw e
      const message = `Ejection of replica source ${source} failed: ${guestMessage(e)}`
      lab.instances.addFault(source, message)
      setTasks(lab, members, 'EJECTING', 'EJECTION_ERROR')
      await followReplicationChange(lab, `the ejection of ${source}`)
      lab.notifications.end('instance_eject', source, message)
      lab.log(message)
      throw new Error(message)
    }
  }

  /** The replica with the highest last transaction, all following the same source; a candidate already promoted (resume) wins. */
  private async pickCandidate(replicas: string[]): Promise<string> {
    const { lab } = this
    const resumed = replicas.find((r) => lab.instances.get(r) && !lab.instances.get(r)!.slave_of_id)
    if (resumed) return resumed
    const reports: Array<{ id: string; source: string; txn: number }> = []
    const errors: string[] = []
    for (const r of replicas) {
      try {
        const [src, txn] = await guest(lab, r, 'get_last_txn')
        reports.push({ id: r, source: String(src), txn: Number(txn) })
      } catch (e) {
        errors.push(`${r}: ${guestMessage(e)}`)
      }
    }
    if (!reports.length) throw new Error(`no replica reported its last transaction (${errors.join('; ')})`)
    if (new Set(reports.map((x) => x.source)).size > 1) throw new Error('the replicas do not all replicate from the same source')
    reports.sort((a, b) => b.txn - a.txn)
    return reports[0]!.id
  }
}
