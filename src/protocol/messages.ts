import type { ServiceStatusName } from './statuses.js'

/**
 * RPC over MQTT (internals.md section 0 and 2). Both calls and casts are published
 * at QoS 1 on the agent's rpc topic; a call carries `reply: true` and is answered on
 * the reply topic with the same id. Ids are unique per request, so an agent that
 * sees the same id twice (a QoS 1 redelivery) answers from its cache instead of
 * running the operation again.
 */
export interface RpcRequest {
  id: string
  method: RpcMethod
  args: Record<string, unknown>
  /** Epoch milliseconds when the server sent it. */
  sent: number
  /** True for a call (a reply is expected), false for a cast. */
  reply: boolean
  /** The caller gives up after this many milliseconds; the agent may skip stale work. */
  timeoutMs?: number
}

export interface RpcError {
  /** A short class name, e.g. 'GuestError', 'NotSupported', 'BadRequest'. */
  type: string
  message: string
}

export interface RpcReply {
  id: string
  ok: boolean
  result?: unknown
  error?: RpcError
}

/** Guest RPC methods implemented so far (the upstream names). */
export type RpcMethod =
  | 'prepare'
  | 'rpc_ping'
  | 'get_filesystem_stats'
  | 'stop_db'
  | 'restart'
  | 'shutdown_agent'
  // databases, users and root (issue 4)
  | 'create_database'
  | 'delete_database'
  | 'list_databases'
  | 'create_user'
  | 'delete_user'
  | 'list_users'
  | 'get_user'
  | 'update_attributes'
  | 'change_passwords'
  | 'grant_access'
  | 'revoke_access'
  | 'list_access'
  | 'enable_root'
  | 'enable_root_with_password'
  | 'disable_root'
  | 'is_root_enabled'
  // configuration groups (issue 4 item 4)
  | 'update_overrides'
  | 'apply_overrides'
  // backups and restore (issue 4 item 6; src/protocol/backup.ts)
  | 'create_backup'
  | 'delete_backup_files'
  // resize and upgrade (issue 4 item 5)
  | 'start_db_with_conf_changes'
  | 'reset_configuration'
  | 'resize_fs'
  | 'pre_upgrade'
  | 'post_upgrade'
  | 'upgrade'
  // access (is_public / allowed_cidrs, issue 4 item 3)
  | 'update_access'
  // replication (issue 4 item 7; src/protocol/replication.ts)
  | 'backup_required_for_replication'
  | 'get_replication_snapshot'
  | 'get_replica_context'
  | 'attach_replica'
  | 'detach_replica'
  | 'enable_as_master'
  | 'demote_replication_master'
  | 'make_read_only'
  | 'get_latest_txn_id'
  | 'get_last_txn'
  | 'wait_for_txn'
  // guest logs (issue 4 item 8)
  | 'guest_log_list'
  | 'guest_log_action'
  // modules (issue 4 item 9)
  | 'module_list'
  | 'module_apply'
  | 'module_remove'

/** Result of get_filesystem_stats: sizes of the instance's volume (its data dir). */
export interface FilesystemStats {
  /** GB used by the data directory. */
  used: number
  /** GB allotted (the volume size). */
  total: number
  /** bytes free of the allotment. */
  free: number
}

/** Agent -> server events (the conductor casts). */
export type AgentEvent =
  | {
      kind: 'heartbeat'
      /** Epoch milliseconds; older events than the last one seen are dropped. */
      sent: number
      status: ServiceStatusName
      /** A fault message when status is FAILED (e.g. the engine would not start). */
      fault?: string
      /** Process ids, so the server can clean up if the agent is gone. */
      agentPid: number
      enginePid?: number
    }
  | {
      /**
       * Progress of a backup (upstream's conductor update_backup): BUILDING when it
       * starts, then COMPLETED (with size, checksum, location) or FAILED (with message).
       */
      kind: 'update_backup'
      sent: number
      backupId: string
      state: 'BUILDING' | 'COMPLETED' | 'FAILED'
      /** GB, as upstream reports it. */
      size?: number
      checksum?: string
      location?: string
      message?: string
    }
  | {
      /** Published by the broker as the agent's last will when its connection drops. */
      kind: 'gone'
      sent: number
    }

export function encode(msg: RpcRequest | RpcReply | AgentEvent): Buffer {
  return Buffer.from(JSON.stringify(msg))
}

/** Parse a payload; undefined when it is not a JSON object. */
export function decode<T>(payload: Buffer | string): T | undefined {
  try {
    const v: unknown = JSON.parse(payload.toString())
    return v !== null && typeof v === 'object' ? (v as T) : undefined
  } catch {
    return undefined
  }
}
