import type { Migration } from './migration.js'

/** Identity, datastores, flavors, instances, guest statuses, faults, agent credentials, tasks. */
export const m001: Migration = {
  version: 1,
  name: 'identity, datastores, flavors, instances, tasks',
  sql: `
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE projects (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL DEFAULT 'default',
  description TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1, created TEXT NOT NULL,
  UNIQUE (domain_id, name));
CREATE TABLE users (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL DEFAULT 'default',
  password_hash TEXT NOT NULL, default_project_id TEXT REFERENCES projects(id),
  enabled INTEGER NOT NULL DEFAULT 1, created TEXT NOT NULL, UNIQUE (domain_id, name));
CREATE TABLE roles (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE role_assignments (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  role_id TEXT NOT NULL REFERENCES roles(id), PRIMARY KEY (user_id, project_id, role_id));
-- Tokens are stored as SHA-256 digests: a copy of the database yields no usable token.
CREATE TABLE tokens (
  digest TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  project_id TEXT REFERENCES projects(id) ON DELETE CASCADE, methods TEXT NOT NULL,
  audit_id TEXT NOT NULL, issued_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE INDEX tokens_expires ON tokens(expires_at);

CREATE TABLE datastores (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, default_version_id TEXT);
CREATE TABLE datastore_versions (
  id TEXT PRIMARY KEY, datastore_id TEXT NOT NULL REFERENCES datastores(id), name TEXT NOT NULL,
  manager TEXT NOT NULL, version TEXT NOT NULL, image_id TEXT, image_tags TEXT NOT NULL DEFAULT '',
  packages TEXT NOT NULL DEFAULT '', active INTEGER NOT NULL DEFAULT 1, bin_dir TEXT,
  registry_ext TEXT, repl_strategy TEXT, UNIQUE (datastore_id, name));

CREATE TABLE flavors (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, ram INTEGER NOT NULL, vcpus INTEGER NOT NULL,
  disk INTEGER NOT NULL DEFAULT 0, ephemeral INTEGER NOT NULL DEFAULT 0);

CREATE TABLE instances (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, tenant_id TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
  flavor_id TEXT NOT NULL, volume_size INTEGER, volume_type TEXT,
  datastore_version_id TEXT REFERENCES datastore_versions(id),
  task_id INTEGER NOT NULL, task_description TEXT NOT NULL, task_start_time TEXT,
  server_status TEXT NOT NULL, address TEXT, port INTEGER, region_id TEXT NOT NULL DEFAULT 'RegionOne',
  access TEXT, deleted INTEGER NOT NULL DEFAULT 0, deleted_at TEXT);
CREATE INDEX instances_tenant ON instances(tenant_id, deleted);
CREATE INDEX instances_deleted ON instances(deleted);
-- At most one live instance holds an address: the allocator relies on it.
CREATE UNIQUE INDEX instances_address ON instances(address) WHERE deleted = 0 AND address IS NOT NULL;

CREATE TABLE service_statuses (
  instance_id TEXT PRIMARY KEY REFERENCES instances(id), status_id INTEGER NOT NULL,
  status_description TEXT NOT NULL, updated_at TEXT NOT NULL, last_sent REAL NOT NULL DEFAULT 0,
  agent_pid INTEGER, engine_pid INTEGER);

CREATE TABLE instance_faults (
  id TEXT PRIMARY KEY, instance_id TEXT NOT NULL REFERENCES instances(id), message TEXT NOT NULL,
  details TEXT, created TEXT NOT NULL, updated TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX instance_faults_instance ON instance_faults(instance_id, deleted);

-- Per-agent MQTT credentials: a salted SHA-256 of a 256-bit random secret. The
-- secret's entropy makes a slow hash pointless; the salt keeps digests unlinkable.
CREATE TABLE agent_credentials (
  instance_id TEXT PRIMARY KEY REFERENCES instances(id), username TEXT NOT NULL UNIQUE,
  salt TEXT NOT NULL, digest TEXT NOT NULL, created TEXT NOT NULL);

-- Each asynchronous flow is a row whose step is recorded before it is taken, so that
-- a restarted server resumes it (or fails it cleanly) instead of leaving it stuck.
CREATE TABLE tasks (
  id TEXT PRIMARY KEY, instance_id TEXT NOT NULL REFERENCES instances(id), kind TEXT NOT NULL,
  state TEXT NOT NULL, step TEXT NOT NULL, payload TEXT NOT NULL DEFAULT '{}', error TEXT,
  created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX tasks_state ON tasks(state);
`,
}
