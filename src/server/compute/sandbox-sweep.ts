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
