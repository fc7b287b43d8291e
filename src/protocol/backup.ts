/**
 * Backups between server and guest (internals.md 1.4, 1.5). The lab's backup storage
 * is a directory store (DIR/backups by default): the guest writes a backup under a
 * temporary name, checksums it and renames it when complete; a restore verifies the
 * checksum before it touches the data dir.
 */

/** What a restore (a create with restorePoint) hands to prepare: the backup and its chain. */
export interface RestoreSpec {
  backupId: string
  /** Full chain, oldest (the full backup) first, ending with the backup itself. */
  chain: Array<{ id: string; location: string; checksum: string; type: 'full' | 'incremental' }>
}
