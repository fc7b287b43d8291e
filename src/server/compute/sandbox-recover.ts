import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { attachInstance, type LabNetwork } from './network.js'
import { readSandboxRecord, writeSandboxRecord } from './sandbox-guest.js'
import { reclaimUid, type UidOptions } from './uids.js'
import { mountVolume } from './volume.js'

export interface RecoverParts {
  instancesDir: string
  ids: string[]
  net: LabNetwork
  uids: UidOptions | undefined
  log: (m: string) => void
}

/**
 * What a host reboot took from the lab's sandboxed instances, made again at server start before any agent
 * starts (each step a no-op when its part is still there): the volume's loop device and mount, the uid's
 * machine-wide claim (on /run), and the network namespace with the address the instance had (host-local is
 * asked for it again; clients and the instance's row know it). The sandboxes themselves start again with
 * their agents (spawnAgent: no init running, a new sandbox); the packet filter follows the records when the
 * broker is set. An instance whose part cannot be made again is logged and left to its agent's start to fail
 * visibly; the others go on.
 */
export async function recoverSandboxes(o: RecoverParts): Promise<void> {
  for (const id of o.ids) {
    const dir = join(o.instancesDir, id)
    try {
      const rec = readSandboxRecord(dir)
      const image = join(dir, 'volume.img')
      if (existsSync(image)) await mountVolume({ image, mountPoint: join(dir, 'mnt') })
      if (rec.uid !== undefined && !reclaimUid({ uid: rec.uid, gid: rec.gid ?? rec.uid }, dir, o.uids)) o.log(`instance ${id}: its uid ${rec.uid} is claimed by another lab`)
      if (!rec.address) continue
      const a = await attachInstance(o.net, rec.netKey ?? id, rec.address)
      if (a.address !== rec.address) throw new Error(`its address ${rec.address} came back as ${a.address}`)
      if (a.hostIf !== rec.hostIf) {
        writeSandboxRecord(dir, { ...rec, hostIf: a.hostIf })
        o.log(`instance ${id}: network namespace made again at ${a.address}`)
      }
    } catch (e) {
      o.log(`instance ${id}: not recovered after a reboot: ${(e as Error).message}`)
    }
  }
}
