import type { Migration } from './migration.js'

/** A random UUID (version 4 form) computed by SQLite, for rows this migration writes itself. */
const UUID = `lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
  substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))`
const NOW = `strftime('%Y-%m-%dT%H:%M:%S', 'now')`

/**
 * Upstream's quota tables (internals.md 6 and 7): per-project overrides of the default
 * limits, usage per project and resource (in_use + reserved), and one reservation row
 * per resource an API call reserved, so that a reservation is committed or rolled back
 * exactly once.
 */
export const m002: Migration = {
  version: 2,
  name: 'quotas, quota usages, reservations',
  sql: `
CREATE TABLE quotas (
  id TEXT PRIMARY KEY, created TEXT NOT NULL, updated TEXT NOT NULL, tenant_id TEXT NOT NULL,
  resource TEXT NOT NULL, hard_limit INTEGER NOT NULL, UNIQUE (tenant_id, resource));
CREATE TABLE quota_usages (
  id TEXT PRIMARY KEY, created TEXT NOT NULL, updated TEXT NOT NULL, tenant_id TEXT NOT NULL,
  in_use INTEGER NOT NULL DEFAULT 0, reserved INTEGER NOT NULL DEFAULT 0, resource TEXT NOT NULL,
  UNIQUE (tenant_id, resource));
CREATE TABLE reservations (
  id TEXT PRIMARY KEY, created TEXT NOT NULL, updated TEXT NOT NULL,
  usage_id TEXT NOT NULL REFERENCES quota_usages(id), delta INTEGER NOT NULL, status TEXT NOT NULL);
-- Only reservations still open matter after a restart (they are rolled back then).
CREATE INDEX reservations_status ON reservations(status);

-- A database that already holds instances starts with their usage counted, or its
-- projects could exceed their quota by the instances they had before the upgrade.
-- Instances being deleted (task 0x02 DELETING) are not counted: their delete was accepted.
INSERT INTO quota_usages (id, created, updated, tenant_id, in_use, reserved, resource)
  SELECT ${UUID}, ${NOW}, ${NOW}, tenant_id, COUNT(*), 0, 'instances'
  FROM instances WHERE deleted = 0 AND task_id <> 2 GROUP BY tenant_id;
INSERT INTO quota_usages (id, created, updated, tenant_id, in_use, reserved, resource)
  SELECT ${UUID}, ${NOW}, ${NOW}, i.tenant_id, COALESCE(SUM(f.ram), 0), 0, 'ram'
  FROM instances i LEFT JOIN flavors f ON f.id = i.flavor_id WHERE i.deleted = 0 AND i.task_id <> 2 GROUP BY i.tenant_id;
INSERT INTO quota_usages (id, created, updated, tenant_id, in_use, reserved, resource)
  SELECT ${UUID}, ${NOW}, ${NOW}, tenant_id, COALESCE(SUM(volume_size), 0), 0, 'volumes'
  FROM instances WHERE deleted = 0 AND task_id <> 2 GROUP BY tenant_id;
`,
}
