import type { Migration } from './migration.js'

/**
 * Configuration groups (internals.md 7): the groups, their values, the parameters
 * each datastore version accepts, and the group an instance uses.
 */
export const m003: Migration = {
  version: 3,
  name: 'configuration groups and parameters',
  sql: `
CREATE TABLE configurations (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, tenant_id TEXT NOT NULL,
  datastore_version_id TEXT NOT NULL REFERENCES datastore_versions(id),
  created TEXT NOT NULL, updated TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, deleted_at TEXT);
CREATE INDEX configurations_tenant ON configurations(tenant_id, deleted);

-- Values are stored as the text of what was given (booleans as 1/0, as upstream's
-- drivers store them) and converted by the parameter's type when read.
CREATE TABLE configuration_parameters (
  configuration_id TEXT NOT NULL REFERENCES configurations(id), configuration_key TEXT NOT NULL,
  configuration_value TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, deleted_at TEXT,
  PRIMARY KEY (configuration_id, configuration_key));

-- Bounds are decimal text: MySQL's rules go up to 2^64-1, past SQLite's INTEGER.
-- origin: 'rules' rows follow the shipped validation rules at every start; an admin's
-- create/update/delete makes a row 'admin', and start-up seeding leaves it alone.
-- Parameters go with their version (the mgmt API deletes a version's parameters).
CREATE TABLE datastore_configuration_parameters (
  id TEXT PRIMARY KEY, name TEXT NOT NULL,
  datastore_version_id TEXT NOT NULL REFERENCES datastore_versions(id) ON DELETE CASCADE,
  restart_required INTEGER NOT NULL, max_size TEXT, min_size TEXT, data_type TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0, deleted_at TEXT, origin TEXT NOT NULL DEFAULT 'admin',
  UNIQUE (datastore_version_id, name));

ALTER TABLE instances ADD COLUMN configuration_id TEXT REFERENCES configurations(id);
CREATE INDEX instances_configuration ON instances(configuration_id, deleted);
`,
}
