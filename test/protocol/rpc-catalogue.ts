import t from 'tap'
import type { AccountRpc, BackupRpc, CoreRpc, FilesystemStats, RpcMethod } from '../../src/protocol/index.js'
import { agentMethods } from '../../src/agent/handlers/index.js'
import type { Handlers } from '../../src/agent/handlers/types.js'
import type { RpcClient } from '../../src/server/broker/rpc.js'

/**
 * Every method of the catalogue, once. `satisfies` makes this list a compile error when
 * the catalogue gains, loses or renames a method, so the run-time check below always
 * compares the agent's table with the whole catalogue.
 */
const CATALOGUE = {
  prepare: true,
  rpc_ping: true,
  get_filesystem_stats: true,
  stop_db: true,
  restart: true,
  shutdown_agent: true,
  create_database: true,
  delete_database: true,
  list_databases: true,
  create_user: true,
  delete_user: true,
  list_users: true,
  get_user: true,
  update_attributes: true,
  change_passwords: true,
  grant_access: true,
  revoke_access: true,
  list_access: true,
  enable_root: true,
  enable_root_with_password: true,
  disable_root: true,
  is_root_enabled: true,
  update_overrides: true,
  apply_overrides: true,
  create_backup: true,
  set_archiving: true,
  start_db_with_conf_changes: true,
  reset_configuration: true,
  resize_fs: true,
  pre_upgrade: true,
  upgrade: true,
  post_upgrade: true,
  update_access: true,
  backup_required_for_replication: true,
  get_replication_snapshot: true,
  get_replica_context: true,
  attach_replica: true,
  detach_replica: true,
  enable_as_master: true,
  demote_replication_master: true,
  make_read_only: true,
  get_latest_txn_id: true,
  get_last_txn: true,
  wait_for_txn: true,
  guest_log_list: true,
  guest_log_action: true,
  module_list: true,
  module_apply: true,
  module_remove: true,
  set_ha: true,
  renew_lease: true,
  ha_view: true,
  set_sync_replication: true,
  sync_view: true,
} as const satisfies { [M in RpcMethod]: true }

const unused = (): never => {
  throw new Error('not called: only the table is built')
}

t.test('an agent with every capability offers exactly the catalogue', async (t) => {
  const m = agentMethods({
    prepare: unused,
    stopDb: unused,
    restart: unused,
    shutdown: unused,
    filesystemStats: unused,
    accounts: unused,
    updateOverrides: unused,
    applyOverrides: unused,
    reconfigure: unused,
    guestLogs: unused,
    modules: {} as never,
    replication: unused,
    createBackup: unused,
    archiving: unused,
    ha: { lease: unused, changed: unused, ejected: unused },
  })
  t.same(Object.keys(m).sort(), Object.keys(CATALOGUE).sort())
  t.ok(
    Object.values(m).every((h) => typeof h === 'function'),
    'each is a handler',
  )
})

/**
 * Compile-time checks (npm run typecheck): each line below must be an error, or
 * `@ts-expect-error` itself fails the type check. Never called.
 */
export function typeChecks(rpc: RpcClient): void {
  // The server: arguments and results come from the method's name.
  const stats: Promise<FilesystemStats> = rpc.call('id', 'resize_fs', { volumeSize: 2 })
  // @ts-expect-error a misspelled argument
  void rpc.call('id', 'resize_fs', { volume_size: 2 })
  // @ts-expect-error an argument of the wrong type
  void rpc.call('id', 'resize_fs', { volumeSize: '2' })
  // @ts-expect-error a method the catalogue does not have
  void rpc.call('id', 'resize_filesystem', {})
  // @ts-expect-error a result read as what it is not
  const wrong: Promise<string> = rpc.call('id', 'resize_fs', { volumeSize: 2 })
  // @ts-expect-error a cast's missing argument
  void rpc.cast('id', 'create_backup', {})

  // The agent: a part's table has every method of the part and no other.
  const ok: Handlers<BackupRpc> = { create_backup: async () => null }
  // @ts-expect-error a misspelled handler
  const misspelled: Handlers<BackupRpc> = { create_backups: async () => null }
  // @ts-expect-error a missing handler
  const missing: Handlers<AccountRpc> = { is_root_enabled: async () => true }
  // @ts-expect-error a result the catalogue does not allow
  const badResult: Handlers<CoreRpc>['rpc_ping'] = async () => 'pong'
  // @ts-expect-error an argument the catalogue does not name
  const badArg: Handlers<BackupRpc>['create_backup'] = async (args) => (args.backup ? null : null)
  void [stats, wrong, ok, misspelled, missing, badResult, badArg]
}
