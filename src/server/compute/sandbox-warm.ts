import { randomUUID } from 'node:crypto'
import { lstatSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { sandboxLimits } from './sandbox-guest.js'
import { PartPool, POOL_VOLUME_GB } from './sandbox-pool.js'
import { updateSandboxLimits } from './sandbox-resize.js'
import type { SandboxRuntime } from './sandbox.js'

/**
 * The flavor a warm sandbox starts with (the seeded m1.tiny's); a create of another flavor sets its own
 * (`runc update`) before the agent reads its bootstrap.
 */
export const WARM_FLAVOR = { ramMb: 512, vcpus: 1 } as const

/** Warm sandboxes kept at most (each holds an agent waiting, ~50 MB RSS): one create's worth. */
export const WARM_MAX = 1

export interface WarmSandboxesOptions {
  /** Warm sandboxes kept ready (0: none). */
  size: number
  /** Makes the warm sandbox of the future instance `id` whole (dir, uid, namespace, volume, sandbox, agent); its agent's pid. */
  make: (id: string) => Promise<number>
  /** Removes a warm sandbox no create took (every part, as a delete does). */
  drop: (id: string) => Promise<unknown>
  /** Whether the warm sandbox's agent still runs. */
  alive: (id: string) => boolean
  log: (m: string) => void
  sweeping?: () => Promise<unknown> | undefined
}

/**
 * Sandboxes made whole before the create that takes them, their agent started and waiting for its bootstrap
 * (docs/isolation.md, *Warm sandboxes*): what a `none` lab's standby agent is to a process, for a sandbox. The
 * runc start and the agent's Node start (~0.25 s of a sandboxed create on a quiet machine) leave the create's
 * path; what is left is the filter, the flavor's limits and the bootstrap.
 *
 * A sandbox's every part is named by its instance id (its directory, its runc container and cgroup), so a warm
 * one is made under an id drawn ahead (a random UUID, like any instance's) and the create that takes it uses
 * that id for its instance. Never used before: no tenant's file, process or address is in it, and nothing goes
 * back to the pool. Only 1 GB volumes are kept warm (the pooled size); other creates take the usual path.
 */
export class WarmSandboxes {
  private readonly pool: PartPool<number>
  /** Ids taken by a create whose reserve has not run yet (the same allocation lock). */
  private readonly taken = new Set<string>()

  constructor(private readonly o: WarmSandboxesOptions) {
    this.pool = new PartPool({
      size: o.size,
      what: 'warm sandbox',
      newKey: randomUUID,
      make: o.make,
      drop: o.drop,
      log: o.log,
      ...(o.sweeping ? { sweeping: o.sweeping } : {}),
    })
  }

  start(): void {
    if (this.o.size > 0) this.pool.start()
  }

  refill(): void {
    this.pool.refill()
  }

  /** The ids of the warm sandboxes ready or being made. */
  keys(): string[] {
    return this.pool.keys()
  }

  get readyCount(): number {
    return this.pool.readyCount
  }

  settled(): Promise<void> {
    return this.pool.settled()
  }

  /**
   * The id of a warm sandbox for a new instance with a volume of `volumeGb` (now the caller's: its reserve comes
   * next), or undefined. One whose agent has died is removed, and the next tried.
   */
  take(volumeGb: number): string | undefined {
    if (volumeGb !== POOL_VOLUME_GB) return undefined
    for (let got = this.pool.claim(); got; got = this.pool.claim()) {
      if (this.o.alive(got.key)) {
        this.taken.add(got.key)
        return got.key
      }
      this.o.log(`warm sandbox ${got.key}: its agent is gone: removed`)
      void this.o.drop(got.key).catch((e: Error) => this.o.log(`warm sandbox ${got.key} not removed: ${e.message}`))
    }
    return undefined
  }

  /** Whether `id` is a warm sandbox taken for a create (answered once: its reserve). */
  reserved(id: string): boolean {
    return this.taken.delete(id)
  }

  /** Whether the lab must keep `id`'s directory though no instance row names it (ready, being made, or taken). */
  holds(id: string): boolean {
    return this.taken.has(id) || this.pool.keys().includes(id)
  }

  /** Stops refilling and waits for the makes running; the warm sandboxes ready stay (what a crash leaves). */
  halt(): Promise<void> {
    return this.pool.halt()
  }

  /** Stops refilling and removes every warm sandbox no create took. */
  drain(): Promise<void> {
    return this.pool.drain()
  }
}

/** A warm sandbox's limits to the create's flavor (`runc update`; nothing when it is WARM_FLAVOR, which it started with). */
export async function warmLimits(rt: SandboxRuntime, id: string, flavor: { ramMb: number; vcpus: number }): Promise<void> {
  if (flavor.ramMb !== WARM_FLAVOR.ramMb || flavor.vcpus !== WARM_FLAVOR.vcpus) await updateSandboxLimits(rt, id, sandboxLimits(flavor))
}

/**
 * Until a warm sandbox's agent has loaded and waits for its bootstrap (`marker`, the file it writes in its volume
 * then), at most a minute; throws when the agent ends first (`alive` false) or the minute passes.
 */
export async function agentAwaiting(marker: string, alive: () => boolean, logFile: string): Promise<void> {
  for (const end = Date.now() + 60_000; !lstatSync(marker, { throwIfNoEntry: false }); await sleep(10)) {
    if (!alive()) throw new Error(`its agent ended (see ${logFile})`)
    if (Date.now() > end) throw new Error('its agent did not wait for a bootstrap within 60 s')
  }
}
