import { rmSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { detachInstance, type LabNetwork } from './network.js'
import { destroySandbox, type SandboxRuntime } from './sandbox.js'
import { readSandboxRecord, type SandboxRecord, writeSandboxRecord } from './sandbox-guest.js'
import { SANDBOX_RECORD } from './sandbox-host.js'
import { releaseUid, uidOf, type UidOptions } from './uids.js'
import { destroyVolume } from './volume.js'

export interface DestroyParts {
  id: string
  /** The instance's directory (root 0700): its record, bundle, image and mount point. */
  dir: string
  runtime: SandboxRuntime
  net: LabNetwork | undefined
  uids: UidOptions | undefined
  /** Applies the lab's packet filter from the records (the instance's record is gone by then). */
  applyRules: () => Promise<void>
}

/**
 * Removes every part of a sandboxed instance, each step idempotent and tried even when an earlier one failed:
 * the sandbox (its processes, runc state, cgroups), the filter's entry, the namespace, the volume, the uid, the
 * directory. When a step failed the record is put back, so a later delete (or the reconciler) finds the parts.
 */
export async function destroySandboxedInstance(o: DestroyParts): Promise<void> {
  const { id, dir } = o
  let rec: SandboxRecord | undefined
  try {
    rec = readSandboxRecord(dir)
  } catch {
    /* a record cut short: each step below finds its part by name */
  }
  const errors: Error[] = []
  const step = async (f: () => Promise<unknown> | unknown) => {
    try {
      await f()
    } catch (e) {
      errors.push(e as Error)
    }
  }
  await step(() => destroySandbox(o.runtime, id, join(dir, 'bundle')))
  await step(() => unlinkSync(join(dir, SANDBOX_RECORD)))
  await step(() => o.applyRules())
  await step(() => (o.net ? detachInstance(o.net, rec?.netKey ?? id) : undefined))
  await step(() => destroyVolume({ image: join(dir, 'volume.img'), mountPoint: join(dir, 'mnt') }))
  await step(() => {
    const ids = rec?.uid !== undefined ? { uid: rec.uid, gid: rec.gid ?? rec.uid } : uidOf(dir, o.uids)
    if (ids) releaseUid(ids, dir, o.uids)
  })
  if (errors.length) {
    if (rec) writeSandboxRecord(dir, rec)
    throw new Error(`instance ${id}: not everything of its sandbox was removed: ${errors.map((e) => e.message).join('; ')}`)
  }
  rmSync(dir, { recursive: true, force: true })
}
