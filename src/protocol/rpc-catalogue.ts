import type { ArchiveStatus } from './archive.js'
import type { BackupInfo } from './backup.js'
import type { ReplicaContext } from './replication.js'
import type { HaRpc } from './ha.js'
import type { SyncRpc } from './sync.js'
import type { AccessSpec, FlavorSpec, UpgradeSpec } from './resize.js'

/**
 * Every guest RPC (internals.md 2, the upstream names): what the server sends as
 * `args` and what the agent answers as `result`. The server's `call` and the agent's
 * handler table are both typed from this interface, so a method, an argument or a
 * result the two ends disagree on is a compile error. Nothing here is trusted at run
 * time: the agent still checks every argument (a server, or a tenant on the broker,
 * may send anything), and the server treats replies as the agent's word.
 *
 * Argument and result shapes are type aliases, not interfaces, so they stay
 * assignable to `Record<string, unknown>` where the server stores them as such.
 */

/** Result of get_filesystem_stats: sizes of the instance's volume (its data dir). */
export interface FilesystemStats {
  /** GB used by the data directory. */
  used: number
  /** GB allotted (the volume size). */
  total: number
  /** bytes free of the allotment. */
  free: number
}

/** An empty argument object. */
type None = Record<string, never>

/** Process and status (issue 1). */
export interface CoreRpc {
  prepare: { args: None; result: null }
  rpc_ping: { args: None; result: boolean }
  get_filesystem_stats: { args: None; result: FilesystemStats }
  stop_db: { args: None; result: null }
  restart: { args: None; result: null }
  shutdown_agent: { args: None; result: null }
}

/** A database as create_database takes it and list_databases returns it. */
export type RpcDatabase = { name: string; character_set?: string; collate?: string }
/** A user as get_user/list_users return it. */
export type RpcUserView = { name: string; host: string; databases: Array<{ name: string }> }
/** A user as create_user takes it. */
export type RpcUserSpec = { name: string; host?: string; password: string; databases?: Array<{ name: string }> }
/** A page: the items and the marker of the next page (null on the last page), as upstream returns it. */
export type RpcPage<T> = [T[], string | null]
/** list_databases/list_users paging. */
type PageArgs = { limit?: number; marker?: string | null; include_marker?: boolean }
/** A user named by name and host ('%' when the host is left out). */
type UserKey = { username: string; hostname?: string }

/** Databases, users and root (issue 4). */
export interface AccountRpc {
  create_database: { args: { databases: RpcDatabase[] }; result: null }
  delete_database: { args: { database: string | { name: string } }; result: null }
  list_databases: { args: PageArgs; result: RpcPage<{ name: string }> }
  create_user: { args: { users: RpcUserSpec[] }; result: null }
  delete_user: { args: { user: { name: string; host?: string } }; result: null }
  list_users: { args: PageArgs; result: RpcPage<RpcUserView> }
  get_user: { args: UserKey; result: RpcUserView | null }
  update_attributes: { args: UserKey & { user_attrs: { name?: string; host?: string; password?: string } }; result: null }
  change_passwords: { args: { users: Array<{ name: string; host?: string; password: string }> }; result: null }
  grant_access: { args: UserKey & { databases: Array<string | { name: string }> }; result: null }
  revoke_access: { args: UserKey & { database: string | { name: string } }; result: null }
  list_access: { args: UserKey; result: Array<{ name: string }> }
  enable_root: { args: None; result: { name: string; password: string } }
  enable_root_with_password: { args: { root_password?: string | null }; result: { name: string; password: string } }
  disable_root: { args: None; result: null }
  is_root_enabled: { args: None; result: boolean }
}

/** Configuration group values: scalars by parameter name. */
export type RpcOverrides = Record<string, string | number | boolean | null>

/** Configuration groups (issue 4 item 4). */
export interface ConfigRpc {
  update_overrides: { args: { overrides: RpcOverrides; remove?: boolean }; result: null }
  apply_overrides: { args: { overrides: RpcOverrides }; result: null }
}

/** Backups (issue 4 item 6; create_backup is a cast, progress comes back as update_backup events). */
export interface BackupRpc {
  create_backup: { args: { backup_info: BackupInfo }; result: null }
}

/** Continuous archiving (issue 15, protocol/archive.ts). */
export interface ArchiveRpc {
  /**
   * On or off (the instance's backup retention changed to or from 0 days); the server
   * has already rewritten agent.json's `archive`. Answers the archiver's state.
   */
  set_archiving: { args: { enabled: boolean }; result: ArchiveStatus }
}

/** Resize and upgrade (issue 4 item 5). */
export interface ReconfigureRpc {
  start_db_with_conf_changes: { args: { flavor: FlavorSpec }; result: null }
  reset_configuration: { args: { flavor: FlavorSpec }; result: null }
  resize_fs: { args: { volumeSize: number }; result: FilesystemStats }
  pre_upgrade: { args: None; result: UpgradeSpec }
  upgrade: { args: { datastore: UpgradeSpec }; result: null }
  post_upgrade: { args: None; result: null }
}

/** Access: is_public / allowed_cidrs (issue 4 item 3). */
export interface AccessRpc {
  /** enforced: false for an engine that cannot check client addresses (Redis). */
  update_access: { args: { access: AccessSpec }; result: { enforced: boolean } }
}

/** get_replication_snapshot's answer: the replica context and upstream's dataset description. */
export type RpcReplicationSnapshot = ReplicaContext & {
  dataset: { datastore_manager: string; dataset_size: number; snapshot_id: null }
  replication_strategy: string
}

/** Replication (issue 4 item 7; src/protocol/replication.ts). */
export interface ReplicationRpc {
  backup_required_for_replication: { args: None; result: boolean }
  get_replication_snapshot: {
    args: { snapshot_info?: { id: string; name: string; instance_id: string }; replica_source_config?: Record<string, unknown> }
    result: RpcReplicationSnapshot
  }
  get_replica_context: { args: None; result: ReplicaContext }
  attach_replica: { args: { replica_info: ReplicaContext; slave_config?: Record<string, unknown>; restart?: boolean }; result: null }
  detach_replica: { args: { for_failover?: boolean }; result: null }
  enable_as_master: { args: { replica_source_config?: Record<string, unknown> }; result: null }
  demote_replication_master: { args: None; result: null }
  make_read_only: { args: { read_only: boolean }; result: null }
  get_latest_txn_id: { args: None; result: string }
  /** [source's server id or system identifier, position]. */
  get_last_txn: { args: None; result: [string, number] }
  wait_for_txn: { args: { txn: string }; result: null }
}

/** A guest log's show dict (api.md 6.5 GuestLog). */
export type RpcGuestLog = {
  name: string
  type: 'SYS' | 'USER'
  status: string
  published: number
  pending: number
  container: string
  prefix: string
  metafile: string
}

/** Guest logs (issue 4 item 8). Upstream reads is_admin from the RPC context; here the server passes it. */
export interface LogRpc {
  guest_log_list: { args: { is_admin?: boolean }; result: RpcGuestLog[] }
  guest_log_action: {
    args: { log_name: string; enable?: boolean; disable?: boolean; publish?: boolean; discard?: boolean; is_admin?: boolean }
    result: RpcGuestLog
  }
}

/** A module as module_apply/module_remove take it (upstream's module view, decrypted contents). */
export type RpcModuleSpec = {
  id: string
  name: string
  type: string
  contents: string
  md5: string
  datastore?: string | null
  datastore_version?: string | null
  tenant?: string | null
  auto_apply?: boolean
  visible?: boolean
  is_admin?: boolean
  priority_apply?: boolean
  apply_order?: number
  live_update?: boolean
  created?: string
  updated?: string
}

/** A module's result.json (internals.md 3.6): what module_apply and module_list return per module. */
export type RpcModuleResult = {
  id: string
  name: string
  type: string
  datastore: string
  datastore_version: string
  tenant: string
  auto_apply: boolean
  visible: boolean
  is_admin: boolean
  md5: string
  status: 'OK' | 'ERROR'
  message: string
  created: string
  updated: string
  removed: string | null
  /** base64, when module_list was asked to include contents. */
  contents?: string
}

/** Modules (issue 4 item 9). */
export interface ModuleRpc {
  module_list: { args: { include_contents?: boolean }; result: RpcModuleResult[] }
  module_apply: { args: { modules: Array<{ module: RpcModuleSpec }> }; result: RpcModuleResult[] }
  module_remove: { args: { module: { module: RpcModuleSpec } | RpcModuleSpec }; result: null }
}

/** The whole catalogue, one entry per method. */
export interface RpcCatalogue extends CoreRpc, AccountRpc, ConfigRpc, BackupRpc, ArchiveRpc, ReconfigureRpc, AccessRpc, ReplicationRpc, LogRpc, ModuleRpc, HaRpc, SyncRpc {}

/** Guest RPC method names. */
export type RpcMethod = keyof RpcCatalogue
/** What the server sends for method M. */
export type RpcArgs<M extends RpcMethod> = RpcCatalogue[M]['args']
/** What the agent answers to method M. */
export type RpcResult<M extends RpcMethod> = RpcCatalogue[M]['result']
/**
 * Arguments as they arrive at the agent: the catalogue's names, each of unknown type
 * (the sender may be hostile). A handler reading a name the catalogue does not have is
 * a compile error; what the value is, it checks at run time.
 */
export type RpcUncheckedArgs<M extends RpcMethod> = { readonly [K in keyof RpcArgs<M>]?: unknown }
/** The methods that take no arguments (a call may send `{}`). */
export type RpcMethodWithoutArgs = { [M in RpcMethod]: Record<string, never> extends RpcArgs<M> ? M : never }[RpcMethod]
/** A helper's trailing arguments for method M: optional when M takes none. */
export type RpcOptionalArgs<M extends RpcMethod> = M extends RpcMethodWithoutArgs ? [args?: RpcArgs<M>] : [args: RpcArgs<M>]
