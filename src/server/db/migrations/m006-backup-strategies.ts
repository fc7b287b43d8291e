import type { Migration } from './migration.js'

/**
 * Backup strategies (internals.md 7, api.md 6.13): where a project's (instance_id '')
 * or one instance's backups go. One strategy per project and instance.
 */
export const m006: Migration = {
  version: 6,
  name: 'backup strategies',
  sql: `
CREATE TABLE backup_strategy (
  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, instance_id TEXT NOT NULL DEFAULT '', backend TEXT NOT NULL DEFAULT 'swift',
  swift_container TEXT NOT NULL, created TEXT NOT NULL, UNIQUE (tenant_id, instance_id));
`,
}
