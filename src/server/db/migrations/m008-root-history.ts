import type { Migration } from './migration.js'

/**
 * Root history (internals.md 7): one row per instance whose root was enabled through
 * the API; GET /root answers from it, as upstream does. `deleted_at` is set when root
 * is disabled (upstream keeps no trace of the disable; here a later enable clears it).
 */
export const m008: Migration = {
  version: 8,
  name: 'root-history',
  sql: `
CREATE TABLE root_enabled_history (
  id TEXT PRIMARY KEY, user TEXT NOT NULL, created TEXT NOT NULL, deleted_at TEXT);
`,
}
