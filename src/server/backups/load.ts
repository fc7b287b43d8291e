import type { Lab } from '../lab.js'
import { backupStore, type BackupJoined } from '../db/backups.js'
import { resourceNotFound } from '../errors.js'
import type { Requester } from '../instances/load.js'

/** A backup visible to the requester: its own project's, or any for an admin (upstream's find_by with context); else 404. */
export function loadBackup(lab: Lab, who: Requester, id: string): BackupJoined {
  const b = backupStore(lab.db).get(id)
  if (!b || (b.tenant_id !== who.projectId && !who.isAdmin)) throw resourceNotFound(id)
  return b
}
