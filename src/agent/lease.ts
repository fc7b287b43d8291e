import { performance } from 'node:perf_hooks'
import { leaseExpiry, type HaSpec, type HaView } from '../protocol/index.js'
import type { ReplicationViews } from './ha-views.js'
import type { Log } from './log.js'
import { oneLine, withDeadline } from './engine-process.js'
import { Serial } from './serial.js'

/** What fencing acts on: the supervisor's stop that lasts (stop_db) and its restart. */
export interface Fenceable {
  /** Stop the engine and keep it stopped (no crash restarts). */
  fence(): Promise<void>
  /** Start it again and wait until it answers. */
  unfence(): Promise<void>
}

/** Heartbeat sending times remembered for acknowledgements (a few lease periods' worth). */
const REMEMBERED_SENDS = 64

/**
 * The primary's lease (issue 16 item 3, docs/ha.md). The control plane acknowledges each
 * heartbeat of an HA primary (renew_lease with the heartbeat's `sent`); the lease then runs until
 * `leaseMs` after THAT heartbeat was sent, on this agent's monotonic clock, so a late or replayed
 * acknowledgement never stretches it past what the server counts on (protocol/ha.ts promotableAt).
 *
 * When the lease has lapsed and no replica is connected, the engine is fenced: stopped, not made
 * read-only. A read-only setting is per session in PostgreSQL (`SET default_transaction_read_only =
 * off` undoes it) and bypassed by privileged MariaDB accounts; a stopped engine takes no write
 * from any session, already open or not. While replicas are connected it stays up (Patroni's
 * failsafe): they would report their link up and the control plane cannot promote any of them, so
 * a control plane that is down does not stop every primary's writes. An agent that starts as an HA
 * primary holds its engine fenced until it gets a lease (`startsFenced`).
 */
export class Lease {
  private spec: HaSpec | undefined
  private readonly sends = new Map<number, number>()
  private expiry = Number.NEGATIVE_INFINITY
  private fenced = false
  private readonly chain = new Serial()
  private checking = false
  /** Logged once per lapse: writable on the replicas' word. */
  private failsafe = false

  /**
   * @param ejected the bootstrap says this instance was ejected from its set (a failover made another member
   * primary): its engine starts fenced read-only by its own config (the supervisor), and the rejoin flow needs it
   * running to make it the new primary's replica, so the lease neither holds it stopped nor stops it, until the
   * instance has another role (set_ha).
   */
  constructor(
    spec: HaSpec | undefined,
    private readonly engine: Fenceable,
    private readonly views: ReplicationViews,
    private readonly log: Log,
    private readonly now: () => number = () => performance.now(),
    private ejected = false,
  ) {
    this.spec = spec
  }

  /** The HA set's spec this member follows now (undefined: in no HA set). */
  get haSpec(): HaSpec | undefined {
    return this.spec
  }

  /** The heartbeat period an HA member uses; undefined: the instance's ordinary one. */
  get heartbeatMs(): number | undefined {
    return this.spec?.heartbeatMs
  }

  /** How often `check` should run: well inside the margin the server leaves for fencing. */
  get checkMs(): number {
    return Math.max(50, Math.min(250, Math.floor((this.spec?.marginMs ?? 1000) / 4)))
  }

  /** How long `check` waits for the engine's view of its replicas. */
  get viewMs(): number {
    return Math.max(1000, this.spec?.marginMs ?? 1000)
  }

  /** The primary holds a lease now (others need none). */
  get holds(): boolean {
    return this.spec?.role !== 'primary' || this.now() < this.expiry
  }

  get isFenced(): boolean {
    return this.fenced
  }

  /** At boot: an HA primary starts with its engine held stopped until the first lease. */
  startsFenced(): boolean {
    if (this.spec?.role !== 'primary') return false
    if (this.ejected) {
      this.log('ha: ejected from its set: the engine starts read-only for its rejoin, not held stopped')
      return false
    }
    this.fenced = true
    this.log('ha: primary without a lease: the engine stays stopped until the control plane renews it')
    return true
  }

  /**
   * The rejoin flow says this instance was ejected (set_ha with `ejected`): from now on the lease neither fences
   * nor lifts; true when the engine was held stopped by it (the caller starts it fenced read-only).
   */
  eject(): boolean {
    const held = this.fenced
    this.ejected = true
    this.fenced = false
    if (held) this.log('ha: ejected from its set: the engine starts read-only for its rejoin')
    return held
  }

  /** A heartbeat went out with `sent`: remember when, to count an acknowledgement's lease from it. */
  sent(sent: number): void {
    this.sends.set(sent, this.now())
    if (this.sends.size > REMEMBERED_SENDS) this.sends.delete(this.sends.keys().next().value!)
  }

  /** renew_lease: the heartbeat sent at `sent` was acknowledged. */
  renew(sent: number): void {
    const at = this.sends.get(sent)
    if (at === undefined || !this.spec || this.spec.role !== 'primary') return
    this.expiry = Math.max(this.expiry, leaseExpiry(at, this.spec))
    if (this.holds) this.failsafe = false
    if (this.fenced && this.holds) this.serial(() => this.lift())
  }

  /**
   * set_ha: joins, changes role in, or leaves an HA set. Made a primary (the flag turned on, or a
   * promotion), the message itself is the control plane's word: a first lease from now (the server
   * counts its own from when it sent it; the margin covers the transit). A fenced engine stays fenced
   * until a renewal.
   */
  set(spec: HaSpec | undefined): void {
    const was = this.spec?.role
    this.spec = spec
    if (spec?.role !== 'primary') this.ejected = false
    if (spec?.role === 'primary' && was !== 'primary' && !this.fenced) this.expiry = this.now() + spec.leaseMs
  }

  /** Fence when the lease lapsed and no replica is connected; run every `checkMs`. */
  async check(): Promise<void> {
    if (this.holds || this.fenced || this.checking || this.ejected) return
    this.checking = true
    try {
      // A view that does not answer within the margin (1 s at least) counts as none (fence on doubt): the
      // engine's own SQL can wait behind a commit that waits for a replica (MariaDB semi-sync, cut off), and a
      // check that never ends never fences. The margin is the time the fence has before a promotion.
      const connected = await withDeadline(this.views.replicasConnected(), this.viewMs).catch(() => 0)
      if (connected > 0 && !this.failsafe) this.log(`ha: lease lapsed; ${connected} replica(s) connected: staying writable`)
      this.failsafe = connected > 0
      // Looked at again after the wait: a renewal, or set_ha `ejected` (the rejoin flow, which then needs the
      // engine running), may have come meanwhile.
      if (connected > 0 || this.holds || this.fenced || this.ejected) return
      this.fenced = true
      this.log(`ha: lease lapsed and no replica connected: fencing the engine`)
      await this.serial(async () => {
        await this.engine.fence().catch((e: Error) => this.log(`ha: fence: ${oneLine(e.message)}`))
      })
    } finally {
      this.checking = false
    }
  }

  /** ha_view: the replication as this member sees it. */
  async view(): Promise<HaView> {
    const primary = this.spec?.role === 'primary'
    const replica = this.spec?.role === 'replica'
    return {
      linkUp: replica || !primary ? await this.views.linkUp().catch(() => false) : null,
      replicasConnected: primary ? await this.views.replicasConnected().catch(() => 0) : null,
      leased: primary && this.holds,
      fenced: this.fenced,
    }
  }

  private async lift(): Promise<void> {
    if (!this.fenced || !this.holds) return
    this.log('ha: lease held: starting the engine again')
    try {
      await this.engine.unfence()
      this.fenced = false
    } catch (e) {
      this.log(`ha: unfence: ${oneLine((e as Error).message)}`)
    }
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    return this.chain.run(fn)
  }
}
