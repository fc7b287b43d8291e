import type { Migration } from './migration.js'

/**
 * Replication sets and their stable endpoints (issue 16, a lab extension): a set is made when its
 * source gets its first replica and keeps its id, and so its endpoint addresses, through promotes and
 * ejects (the source's id would not). Members are the live instances that belong to it.
 */
export const m013: Migration = {
  version: 13,
  name: 'replication sets',
  sql: `
CREATE TABLE replication_sets (
  id TEXT PRIMARY KEY, port INTEGER NOT NULL,
  writer_address TEXT NOT NULL, reader_address TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE replication_set_members (
  instance_id TEXT PRIMARY KEY REFERENCES instances(id),
  set_id TEXT NOT NULL REFERENCES replication_sets(id));
CREATE INDEX replication_set_members_set ON replication_set_members(set_id);
`,
}
