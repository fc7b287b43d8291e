import type { Migration } from './migration.js'

/**
 * Continuous archiving (issue 15, items 3-4; a lab extension): the archiver's state as the
 * instance's agent last reported it (protocol/archive.ts ArchiveStatus), kept after the
 * instance is deleted so that a point-in-time restore from its archive can still be
 * checked and its window shown. The archive itself is in the backup store
 * (archive/<instance_id>/), not in the database.
 */
export const m012: Migration = {
  version: 12,
  name: 'archives',
  sql: `
CREATE TABLE instance_archives (
  instance_id TEXT PRIMARY KEY REFERENCES instances(id),
  state TEXT NOT NULL, latest_time TEXT, detail TEXT, updated TEXT NOT NULL);
`,
}
