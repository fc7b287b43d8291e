import type { Migration } from './migration.js'

/**
 * Backup schedules and retention (issue 15, items 1-2; a lab extension, upstream keeps
 * schedules in Mistral). A schedule is a cron pattern per instance; `next_run` is the
 * next due time (naive UTC), moved on each time it runs, so a server that was down over
 * several due times runs it once. Each run is an execution: its backup, or its error.
 * Backups taken by a schedule are `automated`; they expire by the instance's retention
 * (`backup_retention_days`, lab default 1; `backup_retention_count`, NULL = no count
 * limit), which also holds for a deleted instance (from its `deleted_at`).
 */
export const m011: Migration = {
  version: 11,
  name: 'backup-schedules',
  sql: `
CREATE TABLE backup_schedules (
  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, instance_id TEXT NOT NULL REFERENCES instances(id),
  name TEXT NOT NULL, description TEXT, pattern TEXT NOT NULL, incremental INTEGER NOT NULL DEFAULT 0,
  next_run TEXT NOT NULL, last_run TEXT, created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX backup_schedules_instance ON backup_schedules(instance_id);
CREATE INDEX backup_schedules_next ON backup_schedules(next_run);
CREATE TABLE backup_executions (
  id TEXT PRIMARY KEY, schedule_id TEXT NOT NULL REFERENCES backup_schedules(id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL, instance_id TEXT NOT NULL, scheduled_at TEXT NOT NULL, started TEXT NOT NULL,
  state TEXT NOT NULL, backup_id TEXT, error TEXT);
CREATE INDEX backup_executions_schedule ON backup_executions(schedule_id, started);
ALTER TABLE backups ADD COLUMN automated INTEGER NOT NULL DEFAULT 0;
CREATE INDEX backups_automated ON backups(automated, deleted);
ALTER TABLE instances ADD COLUMN backup_retention_days INTEGER NOT NULL DEFAULT 1;
ALTER TABLE instances ADD COLUMN backup_retention_count INTEGER;
`,
}
