import { RPC_TIMEOUT } from '../broker/rpc.js'
import type { Lab } from '../lab.js'
import { healthySince } from './agent-health.js'
import { REBOOT_HEALTHY_WAIT_MS } from './reboot-instance.js'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * The compute side of resize volume for a driver whose volumes are filesystems (a sandbox's:
 * compute/sandbox-resize.ts). Online, nothing else happens to the instance. Offline (a host whose root
 * may not grow a mounted ext4), the guest is stopped as a reboot stops it (shutdown_agent, then the
 * agent's process), the volume grown, the sandbox started again, and the flow waits, as a reboot does,
 * for the engine to answer before the agent's resize_fs reports the new size.
 */
export async function growInstanceVolume(lab: Lab, id: string, sizeGb: number): Promise<void> {
  if (!lab.compute.growVolume) return
  let stoppedAt = 0
  const stopGuest = async () => {
    try {
      await lab.rpc.call(id, 'shutdown_agent', {}, RPC_TIMEOUT.low * 2)
    } catch (e) {
      lab.log(`instance ${id}: agent did not shut down cleanly (${(e as Error).message}); stopping it`)
    }
    await lab.compute.stopAgent(id)
    stoppedAt = Date.now()
  }
  const grown = await lab.compute.growVolume(id, sizeGb, stopGuest)
  if (!grown || grown.online) return
  const deadline = Date.now() + REBOOT_HEALTHY_WAIT_MS
  while (!healthySince(lab, id, stoppedAt)) {
    if (lab.tasks.isClosed) throw new Error('server shutting down')
    if (Date.now() > deadline) throw new Error(`the guest did not report the database as healthy within ${REBOOT_HEALTHY_WAIT_MS / 1000} s of the volume's offline grow`)
    await sleep(200)
  }
}
