/** Wire types (snake_case, field for field: api.md section 8). */

/** A link of a resource. */
export interface Link {
  href: string
  rel: string
}

/** An instance as list and show return it. */
export interface Instance {
  id: string
  name: string
  status: string
  operating_status: string
  links: Link[]
  flavor: { id: string; links?: Link[] }
  datastore: { type: string | null; version: string | null; version_number?: string | null }
  region: string
  access?: { is_public?: boolean; allowed_cidrs?: string[] }
  volume?: { size: number | null; used?: number; used_percent?: number }
  ip?: string[]
  addresses?: Array<{ address: string; type: string; network?: string }>
  hostname?: string
  tenant_id?: string
  created?: string
  updated?: string
  service_status_updated?: string
  fault?: { message: string; created: string; details: string | null }
  /** The lab's extension: how the instance is kept apart (`sandbox`: runc, a uid, a volume and a network namespace of its own; `none`). */
  'lab:isolation'?: 'none' | 'sandbox'
  /** trove lab extension: the flavor limits this host cannot apply, e.g. "not enforced (cgroups turned off)"; absent when all apply. */
  'lab:limits'?: string
  configuration?: { id: string; name: string; links: Link[] }
  replica_of?: { id: string; links: Link[] }
  replicas?: Array<{ id: string; links: Link[] }>
  /** trove lab extension: how long automated backups are kept (count null: no count limit). */
  backup_retention?: { days: number; count: number | null }
  /** trove lab extension: the oldest time a point-in-time restore can reach (ISO 8601 UTC); null without an archive. */
  earliest_restorable_time?: string | null
  /** trove lab extension: the newest time a point-in-time restore can reach (everything committed up to it is archived). */
  latest_restorable_time?: string | null
  /** trove lab extension: the log archiver's state (off, streaming, lagging, gap, failed) and why. */
  archive?: { state: 'off' | 'streaming' | 'lagging' | 'gap' | 'failed'; detail: string | null }
  /** trove lab extension: `host:port` that always reaches the replication set's current primary (issue 16). */
  writer_endpoint?: string
  /** trove lab extension: `host:port` spread over the set's healthy replicas (the primary when none is). */
  reader_endpoint?: string
  /** trove lab extension: the replication set fails over by itself when its primary is gone (a replica shows its source's). */
  auto_failover?: boolean
  /** trove lab extension: each commit on the set's primary waits until a replica has it (a replica shows its source's). */
  sync_replication?: boolean
  /**
   * trove lab extension, with sync_replication on: `synchronous` (a replica acknowledges), `waiting` (none can:
   * commits wait), `async` (the engine fell back), `unknown` (not asked yet).
   */
  sync_replication_status?: 'synchronous' | 'waiting' | 'async' | 'unknown'
  locality?: string
  password?: string
  [extra: string]: unknown
}

/** Body of POST /instances (the `instance` object). */
export interface InstanceCreate {
  name: string
  flavorRef?: string | number
  volume?: { size: number; type?: string | null }
  datastore?: { type?: string; version?: string; version_number?: string }
  databases?: Array<{ name: string; character_set?: string; collate?: string }>
  users?: Array<{ name: string; password: string; host?: string; databases?: Array<{ name: string }> }>
  /**
   * A backup (upstream), or (trove lab extension) a point in time of an instance's log
   * archive: its id (deleted or not) and an ISO 8601 time, or `latest: true`.
   */
  restorePoint?: { backupRef: string } | { instanceRef: string; restoreTime: string } | { instanceRef: string; latest: true }
  availability_zone?: string
  nics?: Array<Record<string, string>>
  configuration?: string
  replica_of?: string
  replica_count?: number
  modules?: Array<{ id: string }>
  locality?: string
  region_name?: string
  access?: { is_public?: boolean; allowed_cidrs?: string[] }
  /** trove lab extension: retention of automated backups (days 0..365, 0 = off; count 1..1000 or null). */
  backup_retention?: { days?: number; count?: number | null }
  /** trove lab extension: with replica_of, the source's replication set fails over by itself. */
  auto_failover?: boolean
}

/** A flavor. `id` is null when the flavor id is not an integer (then use `str_id`). */
export interface Flavor {
  id: number | null
  str_id: string
  name: string
  ram: number
  vcpus: number
  disk: number
  ephemeral: number
  links: Link[]
  local_storage?: number
}

/** A datastore version. Admin callers also see active, packages, image, image_tags, registry_ext, repl_strategy. */
export interface DatastoreVersion {
  id: string
  name: string
  version: string
  links: Link[]
  datastore?: string
  active?: boolean
  packages?: string
  image?: string | null
  image_tags?: string[]
  registry_ext?: string | null
  repl_strategy?: string | null
}

/** A datastore with its (visible) versions. */
export interface Datastore {
  id: string
  name: string
  links: Link[]
  versions: DatastoreVersion[]
  default_version?: string
}
