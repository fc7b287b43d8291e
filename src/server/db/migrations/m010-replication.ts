import type { Migration } from './migration.js'

/**
 * Replication (internals.md 7): `instances.slave_of_id` names the replica source of a
 * replica (upstream's column, a foreign key to instances); NULL for a primary or a
 * standalone instance. Indexed: every view of a source lists its replicas.
 */
export const m010: Migration = {
  version: 10,
  name: 'replication',
  sql: `
ALTER TABLE instances ADD COLUMN slave_of_id TEXT REFERENCES instances(id);
CREATE INDEX instances_slave_of ON instances(slave_of_id, deleted);
`,
}
