import { promotableAt, type HaSpec } from '../../protocol/index.js'
import type { InstanceJoined } from '../db/instances.js'
import type { Lab } from '../lab.js'
import { InstanceTask } from '../tasks/instance-tasks.js'
import type { ReplicationSetPayload } from '../tasks/promote-replica.js'
import { decide, type Decision } from './decision.js'
import { AUTO_FAILOVER, haSpecOf } from './flag.js'
import { probeEngine } from './probe.js'
import { Timeline } from './timeline.js'
import { SyncKeeper } from './sync-keeper.js'

export interface HaMonitorOptions {
  /** Moves the set's endpoints now (EndpointSync.syncNow), not at the next tick. */
  syncEndpoints: () => Promise<void>
  /** When the writer endpoint last moved to an instance (EndpointSync.writerMovedAt): the timeline's `writer_moved`. */
  writerMovedAt?: (id: string) => number | undefined
  /** How often sets are looked at (ms; default 100). */
  tickMs?: number
  /** How long a synchronous set may have no replica able to acknowledge before it is reported (ms; sync-keeper.ts). */
  syncGraceMs?: number
  now?: () => number
}

/** The monitor of a lab, for the API's hook (haChanged). */
const monitors = new WeakMap<Lab, HaMonitor>()

/** The flag changed (API): specs and leases follow now, not at the next pass. */
export function haChanged(lab: Lab): void {
  monitors.get(lab)?.reconcile()
}

/**
 * Automatic failover (issue 16 items 2-4, docs/ha.md). For each set with `auto_failover` on:
 * acknowledges the primary's heartbeats (its lease, protocol/ha.ts), and once it has not been
 * heard for the lease plus the margin, asks the witnesses (decision.ts): its engine (probe.ts) and
 * each replica's link (ha_view). When they agree it is gone, the primary is marked failed over
 * first (never leased again), then the eject flow promotes the most advanced replica, the others
 * follow it, the endpoints move, and a notification records the timeline. Also keeps each
 * member's agent on the HA spec its records give (fast heartbeats, the lease) and the flag on
 * the set's primary through promotes and detaches.
 */
export class HaMonitor {
  private readonly now: () => number
  private readonly startedAt: number
  /** When the server last received a heartbeat of each HA primary (server clock). */
  private readonly lastHeard = new Map<string, number>()
  private primaries = new Set<string>()
  private readonly applied = new Map<string, string>()
  private readonly looking = new Set<string>()
  private readonly timelines = new Map<string, Timeline>()
  private readonly degraded = new Set<string>()
  /** Primaries whose set has no replica to promote: leased again even with their engine down. */
  private readonly revive = new Set<string>()
  private timer: NodeJS.Timeout | undefined
  private lastReconcile = 0
  private closed = false
  private readonly pending = new Set<Promise<unknown>>()
  /** Synchronous replication of the sets, on the same pass (sync-keeper.ts). */
  private readonly sync: SyncKeeper

  constructor(
    private readonly lab: Lab,
    private readonly opts: HaMonitorOptions,
  ) {
    this.now = opts.now ?? Date.now
    this.startedAt = this.now()
    this.sync = new SyncKeeper(lab, { graceMs: opts.syncGraceMs, now: this.now, track: (p) => this.track(p) })
    monitors.set(lab, this)
  }

  start(): void {
    this.reconcile()
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 100)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    this.closed = true
    clearInterval(this.timer)
    await Promise.allSettled([...this.pending])
  }

  /**
   * An accepted heartbeat: an HA primary's is acknowledged (renew_lease) and counted when its engine
   * is HEALTHY. One whose engine is down (crashed, or held stopped by an agent that started again) is
   * not: its lease lapses and the witnesses decide; a local restart would race the promotion. Only a set
   * with no replica able to take over (DEGRADED) gets its primary back that way (`revive`).
   */
  onHeartbeat(id: string, sent: number, status?: string): void {
    if (this.closed || !this.primaries.has(id)) return
    if (status === 'HEALTHY') this.revive.delete(id)
    else if (!this.revive.has(id)) return
    this.lastHeard.set(id, this.now())
    this.lab.rpc.cast(id, 'renew_lease', { sent }).catch(() => undefined)
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p)
    void p.finally(() => this.pending.delete(p)).catch(() => undefined)
    return p
  }

  private tick(): void {
    if (this.closed || this.lab.tasks.isClosed) return
    if (this.now() - this.lastReconcile >= 1000) this.reconcile()
    for (const id of this.primaries) {
      if (this.looking.has(id)) continue
      const last = this.lastHeard.get(id) ?? this.startedAt
      if (this.now() < promotableAt(last, this.lab.config.ha)) {
        this.timelines.delete(id)
        this.degraded.delete(id)
        continue
      }
      this.looking.add(id)
      void this.track(this.look(id, last))
        .catch((e: Error) => this.lab.log(`ha: set of ${id}: ${e.message}`))
        .finally(() => this.looking.delete(id))
    }
  }

  /** The primary's lease has lapsed: ask the witnesses, and fail over when they agree. */
  private async look(id: string, lastHeardAt: number): Promise<void> {
    const { lab } = this
    const inst = lab.instances.get(id)
    if (!inst || inst.auto_failover !== AUTO_FAILOVER.on) return
    const timeline = this.timelines.get(id) ?? new Timeline(lastHeardAt, this.now())
    this.timelines.set(id, timeline)
    const replicas = lab.instances.replicasOf(id)
    const busy = [inst, ...replicas].some((m) => m.task_id !== InstanceTask.NONE.id)
    const [engineAnswers, views] = await Promise.all([
      inst.address && inst.port ? probeEngine(inst.dsv_manager ?? '', inst.address, inst.port, 500) : Promise.resolve(false),
      Promise.all(
        replicas.map((r) =>
          lab.rpc.call(r.id, 'ha_view', {}, 1000).then(
            // A reply not shaped as a view (an agent may be hostile) counts as none: that replica did not answer.
            (v) => (v !== null && typeof v === 'object' && typeof v.linkUp === 'boolean' ? { id: r.id, linkUp: v.linkUp } : { id: r.id }),
            () => ({ id: r.id }),
          ),
        ),
      ),
    ])
    const decision = decide({ now: this.now(), lastHeardAt: this.lastHeard.get(id) ?? lastHeardAt, lease: lab.config.ha, busy, engineAnswers, replicas: views })
    if (!decision.failover) return this.notGone(inst, decision)
    if (!this.primaries.has(id) || lab.instances.get(id)?.auto_failover !== AUTO_FAILOVER.on) return
    timeline.mark('agreed', this.now())
    await this.failover(inst, replicas, timeline)
  }

  private notGone(inst: InstanceJoined, d: Extract<Decision, { failover: false }>): void {
    // Once per episode of silence: why the set was not failed over.
    const timeline = this.timelines.get(inst.id)
    if (timeline && !timeline.noted) {
      timeline.noted = true
      this.lab.log(`ha: ${inst.id} not heard within its lease; not failing over: ${d.reason}`)
    }
    if (d.degraded) this.revive.add(inst.id)
    if (!d.degraded || this.degraded.has(inst.id)) return
    this.degraded.add(inst.id)
    const message = `Automatic failover of ${inst.id} cannot complete: the primary is gone and ${d.reason}; the set is DEGRADED.`
    this.lab.instances.addFault(inst.id, message)
    this.lab.notifications.emit('trove.instance.auto_failover.degraded', { instance_id: inst.id, tenant_id: inst.tenant_id, message }, { instanceId: inst.id, priority: 'ERROR' })
    this.lab.log(`ha: ${message}`)
  }

  /**
   * The eject flow (tasks/eject-replica.ts), started as the API's eject would, without its
   * heartbeat check (the witnesses above are stricter). The old primary is marked failed over
   * before anything moves: from then on no heartbeat of it is acknowledged.
   */
  private async failover(inst: InstanceJoined, replicas: InstanceJoined[], timeline: Timeline): Promise<void> {
    const { lab } = this
    this.primaries.delete(inst.id)
    lab.instances.setAutoFailover(inst.id, AUTO_FAILOVER.deposed)
    const payload: ReplicationSetPayload = { source: inst.id, replicas: replicas.map((r) => r.id) }
    lab.db.transaction(() => {
      for (const id of [inst.id, ...payload.replicas]) lab.instances.setTask(id, 'EJECTING')
    })()
    lab.log(`ha: ${inst.id} is gone (no heartbeat, engine down, replicas' links down): failing over`)
    lab.notifications.start({ tenantId: inst.tenant_id }, 'instance_eject', inst.id, { instance_id: inst.id, automatic: true })
    const task = lab.tasks.submit('eject_replica_source', inst.id, payload as unknown as Record<string, unknown>)
    // The flow ends its members' tasks last: the new relation is written once the row is no longer running.
    while ((task.state as string) === 'running' && !this.closed) await new Promise((r) => setTimeout(r, 25))
    const primary = payload.replicas.find((r) => lab.instances.get(r) && !lab.instances.get(r)!.slave_of_id)
    const promoted = task.state === 'done' ? primary : undefined
    if (!promoted) {
      lab.log(`ha: automatic failover of ${inst.id} did not complete (${task.error ?? task.state}); the set is DEGRADED`)
      lab.notifications.emit(
        'trove.instance.auto_failover.error',
        { instance_id: inst.id, tenant_id: inst.tenant_id, timeline: timeline.json(), error: task.error ?? task.state },
        { instanceId: inst.id, priority: 'ERROR' },
      )
      return
    }
    // The eject flow moved the writer once the candidate was writable (before the other replicas followed it).
    const moved = this.opts.writerMovedAt?.(promoted)
    if (moved !== undefined && moved >= timeline.seenAt) timeline.mark('writer_moved', moved)
    timeline.mark('promoted', this.now())
    lab.instances.setAutoFailover(inst.id, AUTO_FAILOVER.deposed, promoted)
    lab.instances.setAutoFailover(promoted, AUTO_FAILOVER.on)
    this.primaries.add(promoted)
    this.lastHeard.set(promoted, this.now())
    this.reconcile()
    await this.opts.syncEndpoints()
    timeline.mark('endpoints_moved', this.now())
    const traits = { instance_id: inst.id, new_primary_id: promoted, tenant_id: inst.tenant_id, timeline: timeline.json() }
    lab.notifications.emit('trove.instance.auto_failover', traits, { instanceId: promoted })
    lab.log(`ha: failed over ${inst.id} -> ${promoted}: ${timeline.text()}`)
  }

  /**
   * The flag follows the set's primary (a promote makes the flagged source a replica: the flag goes to
   * its new source; the last replica gone: off; a failed-over primary that follows the set again: cleared),
   * and every member's agent gets the spec its records give (set_ha, and its bootstrap for its next start).
   */
  reconcile(): void {
    const { lab } = this
    this.lastReconcile = this.now()
    if (this.closed) return
    for (const id of lab.instances.autoFailoverIds(1)) {
      const inst = lab.instances.get(id)!
      const replicas = lab.instances.replicasOf(id)
      if ([inst, ...replicas].some((m) => m.task_id !== InstanceTask.NONE.id)) continue
      if (inst.slave_of_id) {
        lab.instances.setAutoFailover(id, AUTO_FAILOVER.off)
        lab.instances.setAutoFailover(inst.slave_of_id, AUTO_FAILOVER.on)
        lab.log(`ha: automatic failover follows the promote: ${id} -> ${inst.slave_of_id}`)
      } else if (!replicas.length && !lab.instances.failedOverTo(id).length) {
        // (A primary a failover made keeps it while the old one may still rejoin as its replica.)
        lab.instances.setAutoFailover(id, AUTO_FAILOVER.off)
        lab.log(`ha: ${id} has no replica left: automatic failover off`)
      }
    }
    for (const id of lab.instances.autoFailoverIds(2)) if (lab.instances.get(id)?.slave_of_id) lab.instances.setAutoFailover(id, AUTO_FAILOVER.off)
    const before = this.primaries
    this.primaries = new Set(lab.instances.autoFailoverIds(1))
    // A new HA primary gets its first lease with set_ha (agent's lease.ts): counted from now here.
    for (const id of this.primaries) if (!before.has(id)) this.lastHeard.set(id, this.now())
    for (const id of before) if (!this.primaries.has(id)) this.lastHeard.delete(id)
    for (const inst of lab.instances.listAll()) {
      if (inst.task_id !== InstanceTask.NONE.id && inst.task_id !== InstanceTask.RESTART_REQUIRED.id) continue
      const spec = haSpecOf(lab, inst)
      // A primary gets its lease once its replicas are idle: while its first replica is being built there is none
      // to promote (and the monitor fails nothing over while a task runs), so a lease could only make it fence
      // itself under that replica's copy (a busy host once delayed the renewals past a 1 s lease: pg_basebackup
      // was cut and the replica FAILED).
      if (spec?.role === 'primary' && lab.instances.replicasOf(inst.id).some((r) => r.task_id !== InstanceTask.NONE.id)) continue
      const key = JSON.stringify(spec ?? null)
      if ((this.applied.get(inst.id) ?? 'null') === key) continue
      this.applied.set(inst.id, key)
      this.apply(inst.id, spec)
    }
    this.sync.reconcile()
  }

  private apply(id: string, spec: HaSpec | undefined): void {
    const { lab } = this
    if (!lab.compute.hasBootstrap(id)) return
    lab.compute.updateBootstrap(id, (b) => {
      if (spec) b.ha = spec
      else delete b.ha
    })
    lab.rpc.cast(id, 'set_ha', { ha: spec ?? null }).catch(() => undefined)
    lab.log(`ha: instance ${id}: ${spec ? `${spec.role}, heartbeat ${spec.heartbeatMs} ms, lease ${spec.leaseMs} ms` : 'not in an HA set'}`)
  }
}
