import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { GB } from '../../common/units.js'
import { attachedInstances, attachInstance, type Attachment, detachInstance, type LabNetwork } from './network.js'
import { readSandboxRecord } from './sandbox-guest.js'
import { createVolume, destroyVolume, moveVolume, sweepVolumes, type Volume, type VolumePaths } from './volume.js'

/** A pooled part's key starts with this (a network namespace's `trove-pool…`, an image's `pool….img`). */
export const POOL_PREFIX = 'pool'
/** Parts of each kind kept ready by default (TROVE_SANDBOX_POOL; 0 turns the pools off). */
export const DEFAULT_POOL_SIZE = 2
/** How long the pools wait after the last create's step before they refill (ms): refills compete with creates for the CPU. */
export const DEFAULT_REFILL_DELAY_MS = 1000
/** The one volume size pooled (GB): other sizes are made at create. */
export const POOL_VOLUME_GB = 1

/** TROVE_SANDBOX_POOL=N (0-16), else the default; anything else is refused in one line. */
export function poolSizeFrom(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_POOL_SIZE
  const n = Number(text)
  if (!/^\d+$/.test(text) || n > 16) throw new Error(`TROVE_SANDBOX_POOL=${text} refused: a whole number from 0 to 16`)
  return n
}

export function poolKey(): string {
  return `${POOL_PREFIX}${randomBytes(10).toString('hex')}`
}

export interface PartPoolOptions<T> {
  /** Parts kept ready (made and not yet claimed, or being made); 0: none. */
  size: number
  /** Makes the part named `key`; on failure leaves nothing of it. */
  make: (key: string) => Promise<T>
  /** Removes a part never claimed. */
  drop: (key: string, part: T) => Promise<unknown>
  log: (m: string) => void
  what: string
  /** A new part's key (default poolKey()). */
  newKey?: () => string
  /**
   * A sweep of the lab running, if one does: a make waits for it (a sweep keeps the keys the pool lists at its start
   * and takes any other part of the lab for an orphan's: a namespace made while it ran was swept, seen in
   * test/e2e/sandbox-scale-races.ts).
   */
  sweeping?: () => Promise<unknown> | undefined
}

/**
 * Parts made ahead of the creates that take them. Bookkeeping only, in this process: `claim` is synchronous (two
 * creates never get the same part: Node runs one at a time) and takes a part out of the pool for good. `refill`
 * makes at most `size - (ready + making)` parts, off the caller's path (the owner calls it when creates go quiet);
 * a make that fails stops the refills until the next claim (no loop on a broken host). `drain` stops the pool and
 * removes what it holds.
 */
export class PartPool<T> {
  private readonly ready: Array<{ key: string; part: T }> = []
  private readonly making = new Set<string>()
  private stopped = true
  private failed = false
  private readonly inFlight = new Set<Promise<void>>()

  constructor(private readonly o: PartPoolOptions<T>) {}

  /** Starts keeping the pool full. */
  start(): void {
    this.stopped = false
    this.refill()
  }

  /** The keys the pool holds or is making (a sweep must keep them). */
  keys(): string[] {
    return [...this.making, ...this.ready.map((r) => r.key)]
  }

  get readyCount(): number {
    return this.ready.length
  }

  /** A ready part, now the caller's (undefined when none is ready). */
  claim(): { key: string; part: T } | undefined {
    this.failed = false
    return this.ready.shift()
  }

  /** Settles when no make runs. */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight])
  }

  /** Starts making parts up to the pool's size (none once stopped, or after a failed make until the next claim). */
  refill(): void {
    const sweep = this.o.sweeping?.()
    // Checked in the tick the keys are listed as making (no await in between).
    if (sweep) {
      void sweep.then(() => this.refill())
      return
    }
    while (!this.stopped && !this.failed && this.ready.length + this.making.size < this.o.size) {
      const key = (this.o.newKey ?? poolKey)()
      this.making.add(key)
      const run = this.o.make(key).then(
        async (part) => {
          this.making.delete(key)
          if (this.stopped) await this.o.drop(key, part).catch((e: Error) => this.o.log(`pool: ${this.o.what} ${key} not removed: ${e.message}`))
          else this.ready.push({ key, part })
        },
        (e: Error) => {
          this.making.delete(key)
          this.failed = true
          this.o.log(`pool: a ${this.o.what} was not made (no more until the next create takes one): ${e.message}`)
        },
      )
      const tracked = run.finally(() => this.inFlight.delete(tracked))
      this.inFlight.add(tracked)
    }
  }

  /** Stops refilling and waits for the makes running (their parts removed); keeps the parts ready, as a crash would. */
  async halt(): Promise<void> {
    this.stopped = true
    await this.settled()
  }

  /** Stops refilling and removes every part not claimed (those being made too, once made). */
  async drain(): Promise<void> {
    this.stopped = true
    await this.settled()
    for (const r of this.ready.splice(0)) await this.o.drop(r.key, r.part).catch((e: Error) => this.o.log(`pool: ${this.o.what} ${r.key} not removed: ${e.message}`))
  }
}

export interface SandboxPoolsOptions {
  size: number
  /** The lab's sweep running, if one does (refills wait for it). */
  sweeping?: () => Promise<unknown> | undefined
  /** Refills wait this long after the last claim or `quiet` (default DEFAULT_REFILL_DELAY_MS). */
  refillDelayMs?: number
  /** DIR/sandbox/pool (root 0700): the pooled volumes' images and mount points. */
  dir: string
  net: LabNetwork
  log: (m: string) => void
}

/**
 * The sandbox driver's pools (docs/isolation.md, *Pools*): network namespaces attached to the lab bridge (an
 * address leased, `lo` up) and 1 GB volumes (a fresh ext4, attached and mounted in the pool's directory, root's).
 * Both never used before a create claims them, so nothing of a tenant can be in a part another gets. A claimed
 * namespace keeps its pool name: the instance's record names it (`netKey`); a claimed volume is moved into the
 * instance's directory (moveVolume).
 */
export class SandboxPools {
  readonly netns: PartPool<Attachment>
  readonly volumes: PartPool<Volume>
  private timer: NodeJS.Timeout | undefined
  /** Other pools refilled with these (the warm sandboxes, sandbox-warm.ts). */
  private readonly followers: Array<{ refill: () => void }> = []

  constructor(private readonly o: SandboxPoolsOptions) {
    this.netns = new PartPool({
      size: o.size,
      what: 'network namespace',
      log: o.log,
      ...(o.sweeping ? { sweeping: o.sweeping } : {}),
      make: (key) => attachInstance(o.net, key),
      drop: (key) => detachInstance(o.net, key),
    })
    this.volumes = new PartPool({
      size: o.size,
      what: 'volume',
      log: o.log,
      ...(o.sweeping ? { sweeping: o.sweeping } : {}),
      // Root's until claimed (its root dir made the instance's uid's then).
      make: (key) => createVolume({ ...this.pathsOf(key), sizeBytes: POOL_VOLUME_GB * GB, uid: 0, gid: 0 }),
      drop: (key) => destroyVolume(this.pathsOf(key)),
    })
  }

  private pathsOf(key: string): VolumePaths {
    return { image: join(this.o.dir, `${key}.img`), mountPoint: join(this.o.dir, `${key}.mnt`) }
  }

  /**
   * Removes what a crash left in the pools (before `start`): every volume whose image is in the pool's directory
   * (umounted wherever it is mounted, detached), what else is left there, and every namespace of the lab whose key
   * is a pool's and that no instance's record names (`claimed`).
   */
  async sweepLeftovers(claimed: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = []
    if (existsSync(this.o.dir)) {
      removed.push(...(await sweepVolumes(this.o.dir, [])).map((f) => `pooled volume ${f}`))
      this.removeFiles()
    }
    for (const a of attachedInstances(this.o.net)) {
      if (!a.instanceId.startsWith(POOL_PREFIX) || claimed.has(a.instanceId)) continue
      await detachInstance(this.o.net, a.instanceId)
      removed.push(`pooled netns ${a.netns}`)
    }
    return removed
  }

  /** The pool directory's files and empty mount points (never recursively: a mount point still mounted stays, EBUSY). */
  private removeFiles(): void {
    try {
      for (const f of readdirSync(this.o.dir)) {
        const p = join(this.o.dir, f)
        if (f.endsWith('.mnt')) rmdirSync(p)
        else unlinkSync(p)
      }
      rmdirSync(this.o.dir)
    } catch (e) {
      this.o.log(`pool: ${this.o.dir} not removed: ${(e as Error).message}`)
    }
  }

  start(): void {
    mkdirSync(this.o.dir, { recursive: true, mode: 0o700 })
    this.netns.start()
    this.volumes.start()
  }

  /** A create did a step: the refill waits until creates have been quiet for the delay (each step restarts it). */
  quiet(): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.netns.refill()
      this.volumes.refill()
      for (const f of this.followers) f.refill()
    }, this.o.refillDelayMs ?? DEFAULT_REFILL_DELAY_MS)
    this.timer.unref()
  }

  /** Refills `pool` when these refill (after the same quiet). */
  follow(pool: { refill: () => void }): void {
    this.followers.push(pool)
  }

  /** The keys a sweep must keep (pooled namespaces, ready or being made). */
  keys(): string[] {
    return this.netns.keys()
  }

  /** A pooled namespace whose path still exists, or undefined. */
  claimNetns(): Attachment | undefined {
    const got = this.netns.claim()
    this.quiet()
    return got && existsSync(got.part.netnsPath) ? got.part : undefined
  }

  /**
   * A pooled 1 GB volume moved to `to` (mounted there; its root still root's), true; false when the size is another
   * or none is ready (the caller makes one). A move that fails removes the pooled volume and answers false.
   */
  async takeVolume(sizeGb: number, to: VolumePaths): Promise<boolean> {
    if (sizeGb !== POOL_VOLUME_GB) return false
    const got = this.volumes.claim()
    this.quiet()
    if (!got) return false
    try {
      await moveVolume(this.pathsOf(got.key), to, got.part.device)
      return true
    } catch (e) {
      this.o.log(`pool: volume ${got.key} not taken: ${(e as Error).message}`)
      await destroyVolume(this.pathsOf(got.key)).catch(() => undefined)
      return false
    }
  }

  /** No more refills and no make running; what the pools hold stays (what a crash leaves, for the next start's sweep). */
  async halt(): Promise<void> {
    clearTimeout(this.timer)
    await Promise.all([this.netns.halt(), this.volumes.halt()])
  }

  async drain(): Promise<void> {
    clearTimeout(this.timer)
    await Promise.all([this.netns.drain(), this.volumes.drain()])
    if (existsSync(this.o.dir)) this.removeFiles()
  }
}

/** The pool keys the instances' records name (their namespaces came from the pool). */
export function claimedNetKeys(instancesDir: string, ids: Iterable<string>): Set<string> {
  const keys = new Set<string>()
  for (const id of ids) {
    try {
      const k = readSandboxRecord(join(instancesDir, id)).netKey
      if (k) keys.add(k)
    } catch {
      /* a record being written or cut short */
    }
  }
  return keys
}
