import type { Migration } from './migration.js'

/**
 * Automatic failover (issue 16 items 1-4, a lab extension): `auto_failover` on the primary of a
 * replication set (1 = on). Only a source with replicas has it on; it moves to the new primary with a
 * failover or a promote, and goes off when the last replica leaves (docs/ha.md).
 */
export const m014: Migration = {
  version: 14,
  name: 'auto failover',
  sql: `
ALTER TABLE instances ADD COLUMN auto_failover INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN failed_over_to TEXT;
`,
}
