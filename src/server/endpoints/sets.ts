import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { allocate, release } from '../compute/addresses.js'
import { replicaRejoins } from '../db/replica-rejoins.js'
import { replicationSets, type SetMemberRow } from '../db/replication-sets.js'
import type { Lab } from '../lab.js'
import { InstanceTask } from '../tasks/instance-tasks.js'
import { Haproxy } from './haproxy.js'
import type { EndpointSet } from './haproxy-config.js'

/**
 * Keeps the replication sets (m013) and their HAProxy (haproxy.ts) in step with the instances' records:
 * a source that gets a replica becomes a set with two addresses of its own (writer and reader, on the
 * engine's port, claimed like an instance's); replicas join their source's set; a member that is deleted
 * or detached leaves it; the set goes with its last member. The primary is the member the others
 * replicate from, so a promote or an eject moves the writer endpoint once its flow has written the new
 * relation. A set with a member in a task (building, promoting, ejecting, detaching) is left as it was
 * until the task ends: its relations are half-written meanwhile.
 *
 * Run by the server at start and then every second (`start`); a write elsewhere needs no hook here.
 */
export class EndpointSync {
  readonly haproxy: Haproxy
  private readonly ownerDir: string
  /** The primary last applied per set: a change is made at run time first (no reload in the way). */
  private readonly applied = new Map<string, string | null>()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private readonly movedAt = new Map<string, number>()

  constructor(private readonly lab: Lab) {
    this.ownerDir = join(lab.config.dataDir, 'endpoints')
    this.haproxy = new Haproxy({ dir: this.ownerDir })
  }

  /** Syncs now and then every `ms`; a failed sync is logged and tried again at the next tick. */
  start(ms = 1000): void {
    const tick = () => void (this.running ?? this.serialized(() => this.sync()))
    tick()
    this.timer = setInterval(tick, ms)
    this.timer.unref()
  }

  /** One pass now, after any pass in progress (a failover moves the writer at once, not at the next tick). */
  syncNow(): Promise<void> {
    return this.serialized(() => this.sync())
  }

  /**
   * The eject flow's candidate is writable (tasks/eject-replica.ts): the writer endpoint of its set moves to it
   * now, at run time, before the other replicas follow it (each restarts its engine: seconds on the failover's
   * path otherwise). Passes made while the flow runs keep it (a busy set keeps the primary last applied); the
   * records say the same once the flow has ended.
   */
  writerTo(instanceId: string): Promise<void> {
    return this.serialized(() => this.moveWriter(instanceId))
  }

  /** Runs `pass` after any pass in progress, never beside one; a failure is logged (the next tick tries again). */
  private async serialized(pass: () => Promise<void>): Promise<void> {
    while (this.running) await this.running
    this.running = pass()
      .catch((e: Error) => this.lab.log(`endpoints: ${e.message}`))
      .finally(() => {
        this.running = undefined
      })
    await this.running
  }

  /** When the writer of the set of `instanceId` last moved to it at run time (ms, server clock). */
  writerMovedAt(instanceId: string): number | undefined {
    return this.movedAt.get(instanceId)
  }

  private async moveWriter(instanceId: string): Promise<void> {
    const set = replicationSets(this.lab.db).ofInstance(instanceId)
    const before = set && this.applied.get(set.id)
    if (!set || before === undefined || before === instanceId || this.haproxy.masterPid() === null) return
    await this.haproxy.movePrimary(set.id, before, instanceId)
    this.applied.set(set.id, instanceId)
    this.movedAt.set(instanceId, Date.now())
    this.lab.log(`endpoints: set ${set.id}: writer moved to ${instanceId} (writable; before the other members follow it)`)
  }

  /** Stops syncing; HAProxy keeps serving (the endpoints outlive the control plane). */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.running
  }

  /** One pass: places new members, drops departed ones, applies the result to HAProxy. */
  async sync(): Promise<void> {
    const sets = replicationSets(this.lab.db)
    const rejoining = replicaRejoins(this.lab.db).pendingIds()
    await this.place()
    const bySet = new Map<string, SetMemberRow[]>()
    for (const m of sets.members()) bySet.set(m.set_id, [...(bySet.get(m.set_id) ?? []), m])
    const out: EndpointSet[] = []
    for (const set of sets.all()) {
      const members = bySet.get(set.id) ?? []
      if (members.length === 0) {
        sets.remove(set.id)
        release(set.writer_address, this.ownerDir)
        release(set.reader_address, this.ownerDir)
        this.applied.delete(set.id)
        continue
      }
      const busy = members.some((m) => m.task_id !== InstanceTask.NONE.id)
      // An ejected source waiting to rejoin (tasks/rejoin-replica.ts) stays in its set but is neither
      // its primary nor a reader until it follows the new primary (its data may have diverged).
      const steady = members.filter((m) => !rejoining.has(m.instance_id))
      const primary = busy ? (this.applied.get(set.id) ?? null) : primaryOf(steady, this.applied.get(set.id) ?? null)
      if (!busy) {
        // A member neither the primary nor replicating from a member has left the set (detached).
        for (const m of steady) {
          if (m.instance_id !== primary && !members.some((s) => s.instance_id === m.slave_of_id)) sets.leave(m.instance_id)
        }
      }
      const serving = steady.filter((m) => m.address && m.port)
      out.push({
        id: set.id,
        port: set.port,
        writerAddress: set.writer_address,
        readerAddress: set.reader_address,
        members: serving.map((m) => ({ id: m.instance_id, address: m.address!, port: m.port!, primary: m.instance_id === primary })),
      })
      const before = this.applied.get(set.id)
      if (before !== undefined && primary !== null && before !== primary && this.haproxy.masterPid() !== null) {
        const moved = await this.haproxy.movePrimary(set.id, before, primary).then(
          () => true,
          (e: Error) => void this.lab.log(`endpoints: set ${set.id}: ${e.message}`),
        )
        if (moved) {
          this.movedAt.set(primary, Date.now())
          this.lab.log(`endpoints: set ${set.id}: writer moved to ${primary}`)
        }
      }
      this.applied.set(set.id, primary)
    }
    await this.haproxy.apply(out)
  }

  /** Instances in a replication relation without a set: replicas join their source's set; a new source makes one. */
  private async place(): Promise<void> {
    const sets = replicationSets(this.lab.db)
    for (const u of sets.unplaced()) {
      const sourceId = u.slave_of_id ?? u.id
      const existing = sets.ofInstance(sourceId)
      if (existing) {
        sets.join(u.id, existing.id)
        continue
      }
      const source = this.lab.instances.get(sourceId)
      if (!source?.address || !source.port) continue // not placed yet: the next pass
      mkdirSync(this.ownerDir, { recursive: true, mode: 0o700 })
      const inUse = this.lab.instances.addressesInUse()
      for (const s of sets.all()) inUse.add(s.writer_address).add(s.reader_address)
      const writer = await allocate(source.port, this.ownerDir, inUse)
      const reader = await allocate(source.port, this.ownerDir, inUse.add(writer))
      const id = randomUUID()
      this.lab.db.transaction(() => {
        sets.create({ id, port: source.port!, writer_address: writer, reader_address: reader })
        sets.join(sourceId, id)
        if (u.id !== sourceId) sets.join(u.id, id)
      })()
      this.lab.log(`endpoints: set ${id} for ${sourceId}: writer ${writer}:${source.port}, reader ${reader}:${source.port}`)
    }
  }
}

/**
 * The member the others replicate from: of the members with no source, the one with the most replicas;
 * on a tie (a detach left two members without a source), the one automatic failover made primary (never
 * the one it failed over: an eject of a one-replica set leaves both without replicas, ha/), then the
 * primary it was.
 */
function primaryOf(members: readonly SetMemberRow[], was: string | null): string | null {
  let best: { id: string; n: number; ha: number } | null = null
  for (const m of members) {
    if (m.slave_of_id) continue
    const n = members.filter((r) => r.slave_of_id === m.instance_id).length
    const ha = m.auto_failover === 1 ? 1 : m.auto_failover === 2 ? -1 : 0
    if (!best || n > best.n || (n === best.n && (ha > best.ha || (ha === best.ha && m.instance_id === was)))) best = { id: m.instance_id, n, ha }
  }
  return best?.id ?? null
}

/** `writer_endpoint` and `reader_endpoint` (`host:port`) of an instance in a set; nothing otherwise. */
export function endpointView(lab: Lab, instanceId: string): Record<string, string> {
  const set = replicationSets(lab.db).ofInstance(instanceId)
  if (!set) return {}
  return { writer_endpoint: `${set.writer_address}:${set.port}`, reader_endpoint: `${set.reader_address}:${set.port}` }
}
