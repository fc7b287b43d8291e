/**
 * Backups between server and guest (internals.md 1.4, 1.5). The lab's backup storage
 * is a directory store (DIR/backups by default): the guest writes a backup under a
 * temporary name, checksums it and renames it when complete; a restore verifies the
 * checksum before it touches the data dir.
 */

import type { PitrSpec } from './archive.js'

/** What a restore (a create with restorePoint) hands to prepare: the backup and its chain. */
export interface RestoreSpec {
  backupId: string
  /** Full chain, oldest (the full backup) first, ending with the backup itself. */
  chain: Array<{ id: string; location: string; checksum: string; type: 'full' | 'incremental' }>
  /** Point-in-time recovery: replay the source's archive after the chain (archive.ts). */
  pitr?: PitrSpec
}

/** What create_backup (a cast) hands to the guest: upstream's backup_info. */
export interface BackupInfo {
  id: string
  name: string
  description: string | null
  instance_id: string
  /** 'full', or 'incremental' on top of `parent`. */
  backup_type: 'full' | 'incremental'
  /** The previous backup of the chain (incrementals only). */
  parent: { id: string; location: string; checksum: string } | null
  datastore: string
  datastore_version: string
}

/**
 * Files of the directory store: `<id><ext>` (data) and `<id>.meta.json` (what an
 * incremental on top of it or a restore needs, e.g. LSNs). Written as `<name>.tmp`,
 * fsynced, then renamed; the checksum is the MD5 of the data file (upstream's etag).
 */
export const BACKUP_META_SUFFIX = '.meta.json'
