import type { Migration } from './migration.js'

/**
 * Modules (internals.md 7, api.md 6.20): the modules, the instances they are applied
 * to, and the reapply requests recorded for the task side.
 */
export const m005: Migration = {
  version: 5,
  name: 'modules',
  sql: `
-- contents holds the AES-256-GCM ciphertext of what the client sent (never the clear
-- text); md5 is of the clear contents. tenant_id NULL = every project ("all"), and
-- datastore_id / datastore_version_id NULL = every datastore / version.
CREATE TABLE modules (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, contents TEXT NOT NULL, description TEXT,
  tenant_id TEXT, datastore_id TEXT REFERENCES datastores(id), datastore_version_id TEXT REFERENCES datastore_versions(id),
  auto_apply INTEGER NOT NULL DEFAULT 0, visible INTEGER NOT NULL DEFAULT 1, live_update INTEGER NOT NULL DEFAULT 0,
  md5 TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, deleted_at TEXT,
  priority_apply INTEGER NOT NULL DEFAULT 0, apply_order INTEGER NOT NULL DEFAULT 5, is_admin INTEGER NOT NULL DEFAULT 0);
CREATE INDEX modules_tenant ON modules(tenant_id, deleted);

CREATE TABLE instance_modules (
  id TEXT PRIMARY KEY, instance_id TEXT NOT NULL REFERENCES instances(id), module_id TEXT NOT NULL REFERENCES modules(id),
  md5 TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, deleted_at TEXT);
CREATE INDEX instance_modules_module ON instance_modules(module_id, deleted);
CREATE INDEX instance_modules_instance ON instance_modules(instance_id, deleted);

-- PUT /modules/{id}/instances: recorded here (state 'pending') until the guest side
-- re-applies the module; tenant_id is the caller, whose instances a non-admin may touch.
CREATE TABLE module_reapply_requests (
  id TEXT PRIMARY KEY, module_id TEXT NOT NULL REFERENCES modules(id), tenant_id TEXT NOT NULL, is_admin INTEGER NOT NULL,
  md5 TEXT, include_clustered INTEGER NOT NULL DEFAULT 0, batch_size INTEGER, batch_delay INTEGER, force INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'pending', created TEXT NOT NULL);
`,
}
