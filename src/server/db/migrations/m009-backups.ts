import type { Migration } from './migration.js'

/**
 * Backups (internals.md 7, upstream's `backups` table): soft-deleted rows, a parent for
 * incrementals, the datastore version the backup was taken from. `location` is the
 * backup's file in the lab's directory store; `checksum` its MD5 (upstream's Swift
 * etag). `last_sent` is the newest update_backup event applied (upstream's
 * conductor_lastseen guard for update_backup).
 */
export const m009: Migration = {
  version: 9,
  name: 'backups',
  sql: `
CREATE TABLE backups (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, location TEXT, backup_type TEXT,
  size REAL, tenant_id TEXT NOT NULL, state TEXT NOT NULL, instance_id TEXT, checksum TEXT,
  backup_timestamp TEXT, deleted INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, updated TEXT NOT NULL,
  deleted_at TEXT, parent_id TEXT, datastore_version_id TEXT REFERENCES datastore_versions(id),
  storage_driver TEXT, last_sent REAL NOT NULL DEFAULT 0);
CREATE INDEX backups_instance ON backups(instance_id, deleted);
CREATE INDEX backups_tenant ON backups(tenant_id, deleted);
CREATE INDEX backups_parent ON backups(parent_id, deleted);
CREATE INDEX backups_updated ON backups(updated);
`,
}
