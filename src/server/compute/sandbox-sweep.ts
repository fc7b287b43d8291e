import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { type LabNetwork, sweepNetwork } from './network.js'
import { type SandboxRuntime, sweepSandboxes } from './sandbox.js'
import { sweepUids, type UidOptions } from './uids.js'
import { sweepVolumes } from './volume.js'

export interface SweepParts {
  instancesDir: string
  runtime: SandboxRuntime
  /** The lab's network, once set up. */
  net: LabNetwork | undefined
  uids: UidOptions | undefined
  /** Ids being built that have no instance directory (template builds). */
  building: Iterable<string>
}

/**
 * The parts of a sandboxed lab that no instance directory owns any more (a crash between the steps of a
 * create or a delete, or a directory removed by hand): runc sandboxes and cgroups, loop devices of images
 * under the instances directory, namespaces and leases on the lab network, uid claims of gone directories.
 * An instance's directory is made before any of its parts and removed after all of them, so every id with a
 * directory is kept (its own delete, or the reconciler's removal of the directory, destroys it).
 * Returns what was removed, each as `kind name`.
 */
export async function sweepSandboxParts(o: SweepParts): Promise<string[]> {
  let ids: string[] = []
  try {
    ids = readdirSync(o.instancesDir)
  } catch {
    return []
  }
  const keep = new Set([...ids, ...o.building])
  const removed: string[] = []
  removed.push(...(await sweepSandboxes(o.runtime, keep)).map((id) => `sandbox ${id}`))
  const images = [...keep].map((id) => join(o.instancesDir, id, 'volume.img'))
  removed.push(...(await sweepVolumes(o.instancesDir, images)).map((f) => `volume ${f}`))
  if (o.net) removed.push(...(await sweepNetwork(o.net, keep)).map((n) => `netns ${n}`))
  const dirs = [...keep].map((id) => join(o.instancesDir, id))
  removed.push(...sweepUids(o.instancesDir, dirs, o.uids).map((u) => `uid ${u}`))
  return removed
}

/**
 * One sweep at a time, and a way to wait for it. A sweep keeps the parts of the instance directories and template
 * builds it lists at its start, and takes every other part of the lab for an orphan's: a directory made while it
 * runs would lose its new namespace, uid claim, loop device or sandbox to it (seen with 10 creates at once: "runc
 * run failed: invalid netns path"). So a create (SandboxedCompute.reserve) and a template build wait for it, then
 * make their directory (or build id) in the same tick as the check. A sweep lasts a few runc/losetup/CNI calls,
 * once per reconcile.
 */
export class Sweeper {
  private run: Promise<unknown> | undefined

  constructor(private readonly parts: () => SweepParts) {}

  /** The sweep running, if one does (settles when it ends, whatever its outcome). */
  running(): Promise<unknown> | undefined {
    return this.run
  }

  async sweep(): Promise<string[]> {
    while (this.run) await this.run
    // sweepSandboxParts lists the directories before its first await: marked running in the same tick.
    const run = sweepSandboxParts(this.parts())
    this.run = run.then(
      () => (this.run = undefined),
      () => (this.run = undefined),
    )
    return run
  }
}
