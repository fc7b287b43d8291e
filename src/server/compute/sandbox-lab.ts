import { existsSync, rmSync } from 'node:fs'
import { removeFirewall } from './firewall.js'
import { destroyLabNetwork } from './network.js'
import { sweepSandboxes } from './sandbox.js'
import type { SandboxedCompute } from './sandboxed.js'
import { sweepUids } from './uids.js'
import { sweepVolumes } from './volume.js'

/**
 * Removes every sandbox of the lab and the lab's own parts (bridge, subnet, packet filter, runc state,
 * uid claims): `trove server reset` and test teardowns. What a crash left behind is swept by name.
 */
export async function removeSandboxLab(c: SandboxedCompute): Promise<void> {
  const errors: string[] = []
  const step = async (f: () => Promise<unknown> | unknown) => {
    try {
      await f()
    } catch (e) {
      errors.push((e as Error).message)
    }
  }
  await step(() => c.warm?.drain())
  await step(() => c.pools?.drain())
  c.templates.stop()
  await c.templates.settled()
  for (const id of c.sandboxedIds()) await step(() => c.destroy(id, null))
  await step(() => sweepSandboxes(c.runtime, []))
  await step(() => existsSync(c.instancesDir) && sweepVolumes(c.instancesDir, []))
  await step(() => c.hasNetwork() && destroyLabNetwork(c.network))
  await step(() => removeFirewall({ labId: c.labId }))
  await step(() => sweepUids(c.instancesDir, [], c.uidOptions))
  await step(() => rmSync(c.runtime.root, { recursive: true, force: true }))
  if (errors.length) throw new Error(`the lab's sandboxes were not all removed: ${errors.join('; ')}`)
}
