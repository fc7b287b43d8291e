import type { Migration } from './migration.js'

/**
 * Synchronous replication (issue 16, a lab extension, docs/ha.md): `sync_replication` on the primary of a
 * replication set (1 = on): each commit waits until a replica has it. Only a source with replicas has it on;
 * it moves to the new primary with a promote, an eject or an automatic failover, and goes off when the last
 * replica leaves (and no ejected source is to rejoin).
 */
export const m016: Migration = {
  version: 16,
  name: 'sync replication',
  sql: `
ALTER TABLE instances ADD COLUMN sync_replication INTEGER NOT NULL DEFAULT 0;
`,
}
