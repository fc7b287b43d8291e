import type { Migration } from './migration.js'

/**
 * Ejected sources that rejoin their set (issue 16 item 3, a lab extension): an eject records what its
 * dead source became, a replica-to-be of the set's new primary; the rejoin flow (tasks/rejoin-replica.ts)
 * runs when its agent is heard again and removes the row once it follows the new primary.
 */
export const m015: Migration = {
  version: 15,
  name: 'replica rejoins',
  sql: `
CREATE TABLE replica_rejoins (
  instance_id TEXT PRIMARY KEY REFERENCES instances(id),
  new_source_id TEXT NOT NULL REFERENCES instances(id),
  ejected TEXT NOT NULL);
`,
}
