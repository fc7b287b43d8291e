import type { SyncSpec } from '../../protocol/index.js'
import { replicaRejoins } from '../db/replica-rejoins.js'
import type { Lab } from '../lab.js'
import { InstanceTask } from '../tasks/instance-tasks.js'
import { syncSpecOf, syncStatuses, type SyncStatus } from './sync.js'

/** A commit waiting this long for an acknowledgement means no replica acknowledges, connected or not (ms). */
const WAIT_MS = 1000

export interface SyncKeeperOptions {
  /** How long a set may have no replica able to acknowledge before it is reported (ms; default 3000). */
  graceMs?: number
  now?: () => number
  /** Keeps a promise for the owner's close. */
  track: <T>(p: Promise<T>) => Promise<T>
}

/**
 * Synchronous replication of the sets (docs/ha.md "Synchronous replication"), on the HA monitor's pass
 * (every second, and at once after an API change): keeps the flag on the set's primary (a promote or an
 * eject moves it in their flows, tasks/promote-replica.ts; here the fall-backs), gives each member's
 * engine the settings its records give (set_sync_replication: the primary's standby names follow
 * replicas added, removed or rejoining), and asks each primary whether a replica can acknowledge
 * (sync_view). A set left with none has its commits waiting, by design: it is shown
 * (`sync_replication_status: waiting`) and, after `graceMs`, notified, rather than left to hang unseen.
 */
export class SyncKeeper {
  private readonly now: () => number
  private readonly applied = new Map<string, string>()
  private readonly applying = new Set<string>()
  private readonly looking = new Set<string>()
  private readonly waitingSince = new Map<string, number>()
  private readonly reported = new Set<string>()
  private readonly statuses = new Map<string, SyncStatus>()

  constructor(
    private readonly lab: Lab,
    private readonly opts: SyncKeeperOptions,
  ) {
    this.now = opts.now ?? Date.now
    syncStatuses.set(lab, this.statuses)
  }

  reconcile(): void {
    const { lab } = this
    const idle = (id: string) => lab.instances.get(id)?.task_id === InstanceTask.NONE.id
    for (const id of lab.instances.syncReplicationIds()) {
      const inst = lab.instances.get(id)!
      if (![id, ...lab.instances.replicaIds(id)].every(idle)) continue
      const rejoin = replicaRejoins(lab.db).get(id)
      const next = inst.slave_of_id ?? (rejoin && lab.instances.get(rejoin.new_source_id) ? rejoin.new_source_id : undefined)
      if (next) {
        // A promote (or an eject the flows did not move it in: a server restart in between).
        lab.instances.setSyncReplication(id, false)
        lab.instances.setSyncReplication(next, true)
        lab.log(`sync: synchronous replication follows the primary: ${id} -> ${next}`)
      } else if (!lab.instances.replicaIds(id).length && ![...replicaRejoins(lab.db).pendingIds()].some((r) => replicaRejoins(lab.db).get(r)?.new_source_id === id)) {
        lab.instances.setSyncReplication(id, false)
        const message = `Instance ${id} has no replica left: synchronous replication is off (commits no longer wait for a replica).`
        lab.notifications.emit('trove.instance.sync_replication.off', { instance_id: id, tenant_id: inst.tenant_id, message }, { instanceId: id, priority: 'ERROR' })
        lab.log(`sync: ${message}`)
      }
    }
    // An ejected source due to rejoin is the rejoin flow's until it follows its new primary (its engine is held fenced).
    const rejoining = replicaRejoins(lab.db).pendingIds()
    for (const inst of lab.instances.listAll()) {
      if (inst.task_id !== InstanceTask.NONE.id && inst.task_id !== InstanceTask.RESTART_REQUIRED.id) continue
      if (rejoining.has(inst.id)) continue
      const spec = syncSpecOf(lab, inst)
      const key = JSON.stringify(spec)
      const before = this.applied.get(inst.id)
      if (before === key) continue
      // Nothing to undo on a member never given settings, unless it is in a replication relation (a server restart).
      if (before === undefined && spec === null && !inst.slave_of_id && !lab.instances.replicaIds(inst.id).length) continue
      if (spec === null && !['postgresql', 'mariadb', 'mysql'].includes(inst.dsv_manager ?? '')) continue
      this.apply(inst.id, spec, key)
    }
    const primaries = new Set(lab.instances.syncReplicationIds())
    for (const id of this.statuses.keys()) if (!primaries.has(id)) this.forget(id)
    for (const id of primaries) if (!this.looking.has(id) && idle(id)) void this.opts.track(this.look(id))
  }

  private forget(id: string): void {
    this.statuses.delete(id)
    this.waitingSince.delete(id)
    this.reported.delete(id)
  }

  /**
   * One call at a time per member; a failed one is tried again at the next pass. Not tracked for the monitor's stop:
   * its outcome touches only this keeper's memory and the log, and a call to an agent not connected to this broker yet
   * (a server just started: the broker's sessions start empty, the call is lost) would hold a server's close for its
   * whole timeout (bench/failover.mjs, control-plane-down: a close took 10 s). The next server applies again.
   */
  private apply(id: string, spec: SyncSpec | null, key: string): void {
    if (this.applying.has(id) || !this.lab.compute.hasBootstrap(id)) return
    this.applying.add(id)
    void this.lab.rpc
      .call(id, 'set_sync_replication', { sync: spec }, 15_000)
      .then(
        () => {
          this.applied.set(id, key)
          this.lab.log(`sync: instance ${id}: ${spec ? (spec.role === 'primary' ? `primary, acknowledged by one of ${spec.standbys.join(', ')}` : 'replica, acknowledges') : 'not synchronous'}`)
        },
        (e: Error) => {
          this.applied.delete(id)
          this.lab.log(`sync: instance ${id}: set_sync_replication failed: ${e.message}`)
        },
      )
      .finally(() => this.applying.delete(id))
  }

  /** Ask the primary; report a set whose commits wait for a replica that none can be. */
  private async look(id: string): Promise<void> {
    const { lab } = this
    this.looking.add(id)
    try {
      const status: SyncStatus = await lab.rpc.call(id, 'sync_view', {}, 2000).then(
        (v) => (!v.synchronous ? 'async' : v.acknowledging > 0 && v.oldestWaitMs < WAIT_MS ? 'synchronous' : 'waiting'),
        (e: Error) => {
          lab.log(`sync: ${id} did not answer sync_view: ${e.message}`)
          return 'unknown' as const
        },
      )
      if (lab.instances.get(id)?.sync_replication !== 1) return
      this.statuses.set(id, status)
      // Settings a member missed (its agent was away): given again at the next pass.
      if (status !== 'synchronous') for (const m of [id, ...lab.instances.replicaIds(id)]) this.applied.delete(m)
      if (status !== 'waiting') {
        this.waitingSince.delete(id)
        if (status === 'synchronous' && this.reported.delete(id)) this.notify(id, 'restored', `Synchronous replication of ${id}: a replica acknowledges commits again.`)
        return
      }
      const since = this.waitingSince.get(id) ?? this.now()
      this.waitingSince.set(id, since)
      if (this.now() - since < (this.opts.graceMs ?? 3000) || this.reported.has(id)) return
      this.reported.add(id)
      this.notify(id, 'waiting', `Synchronous replication of ${id}: no replica can acknowledge; commits wait until one can, or until sync_replication is turned off.`)
    } finally {
      this.looking.delete(id)
    }
  }

  private notify(id: string, what: 'waiting' | 'restored', message: string): void {
    const inst = this.lab.instances.get(id)
    this.lab.notifications.emit(
      `trove.instance.sync_replication.${what}`,
      { instance_id: id, tenant_id: inst?.tenant_id, message },
      { instanceId: id, priority: what === 'waiting' ? 'ERROR' : 'INFO' },
    )
    this.lab.log(`sync: ${message}`)
  }
}
