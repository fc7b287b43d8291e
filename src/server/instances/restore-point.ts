import { existsSync } from 'node:fs'
import type { RestoreSpec } from '../../protocol/index.js'
import type { Lab } from '../lab.js'
import { backupStore, RESTORABLE_STATES, type BackupJoined } from '../db/backups.js'
import { datastoreVersions, type VersionRow } from '../db/datastore-versions.js'
import { datastores } from '../db/datastores.js'
import { Fault, badRequest, notFound } from '../errors.js'
import { loadBackup } from '../backups/load.js'
import { resolveDatastoreVersion } from '../datastores/resolve.js'
import type { Requester } from './load.js'

/** What a create with restorePoint needs: the datastore version to build and the chain for prepare. */
export interface RestorePoint {
  version: Omit<VersionRow, 'bin_dir'>
  spec: RestoreSpec
}

/**
 * Upstream's backup checks of Instance.create (internals.md 1.1, api.md 6.2): the backup
 * is the caller's (404), COMPLETED/RESTORED (409), fits the volume (403), its files
 * exist in the store (404), and comes from the same datastore (400). Without a
 * `datastore` in the body the backup's own version is used. The chain is walked up
 * to its full backup; every link must pass the same checks.
 */
export function resolveRestorePoint(
  lab: Lab,
  who: Requester,
  backupRef: string,
  datastore: { type?: string; version?: string; version_number?: string } | undefined,
  volumeSize: number,
): RestorePoint {
  const backups = backupStore(lab.db)
  const backup = loadBackup(lab, who, backupRef)
  const chain: BackupJoined[] = []
  for (let b: BackupJoined | undefined = backup; b; b = b.parent_id ? backups.get(b.parent_id) : undefined) {
    if (chain.some((c) => c.id === b!.id)) throw badRequest(`Backup ${backup.id} has a cyclic chain of parents.`)
    if (!RESTORABLE_STATES.includes(b.state)) throw new Fault('conflict', `Unable to create instance because backup ${b.id} is not completed. Actual state: ${b.state}.`)
    if (!b.location || !existsSync(b.location)) throw notFound(`Backup file in ${b.location ?? b.id} was not found in the object storage.`)
    chain.unshift(b)
    if (b.parent_id && !backups.get(b.parent_id)) throw notFound(`Backup ${b.parent_id}, the parent of backup ${b.id}, was not found: the chain cannot be restored.`)
  }
  const size = chain.reduce((s, b) => s + (b.size ?? 0), 0)
  if (size > volumeSize) throw new Fault('forbidden', `Backup is too large for given flavor or volume. Backup size: ${size} GBs. Available size: ${volumeSize} GBs.`)
  let version: RestorePoint['version']
  if (datastore?.type || datastore?.version) {
    version = resolveDatastoreVersion(lab, datastore)
    const target = datastores(lab.db).nameOf(version.datastore_id) ?? ''
    if (backup.ds_name && backup.ds_name !== target) {
      throw badRequest(`The datastore from which the backup was taken, ${backup.ds_name}, does not match the destination datastore of ${target}.`)
    }
  } else {
    const v = backup.datastore_version_id ? datastoreVersions(lab.db).get(backup.datastore_version_id) : undefined
    if (!v) throw badRequest(`The datastore version of backup ${backup.id} no longer exists: give the datastore to restore into.`)
    version = v
  }
  return {
    version,
    spec: {
      backupId: backup.id,
      chain: chain.map((b) => ({ id: b.id, location: b.location!, checksum: b.checksum ?? '', type: b.parent_id ? ('incremental' as const) : ('full' as const) })),
    },
  }
}
