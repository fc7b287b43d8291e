import type { Migration } from './migration.js'

/**
 * Notifications (internals.md 5): every event the server emits, as sent. instance_id
 * and request_id are kept outside the payload so an `.end` can find the `.start`
 * of the same operation (upstream carries it in the RPC context instead).
 */
export const m007: Migration = {
  version: 7,
  name: 'notifications',
  sql: `
CREATE TABLE notifications (
  id TEXT PRIMARY KEY, event_type TEXT NOT NULL, publisher_id TEXT NOT NULL, priority TEXT NOT NULL,
  payload TEXT NOT NULL, created TEXT NOT NULL, instance_id TEXT, request_id TEXT);
CREATE INDEX notifications_instance ON notifications(instance_id, event_type, created);
CREATE INDEX notifications_created ON notifications(created);
`,
}
