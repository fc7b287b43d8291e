import type { BackupInfo, CoreRpc, FilesystemStats, RpcMethod } from '../../protocol/index.js'
import type { Accounts } from '../datastores/accounts.js'
import type { Overrides } from '../datastores/overrides.js'
import type { GuestLogManager } from '../guest-log.js'
import type { RpcHandler } from '../rpc.js'
import { accessMethods } from './access.js'
import { accountMethods } from './accounts.js'
import { backupMethods } from './backup.js'
import { archiveMethods } from './archive.js'
import type { ArchiveKeeper } from '../archiving.js'
import { configMethods } from './config.js'
import { logMethods } from './logs.js'
import { moduleMethods, type ModuleManager } from './modules.js'
import { reconfigureMethods, type Reconfigurable } from './reconfigure.js'
import { replicationMethods, type ReplicationHost } from './replication.js'
import type { Handler, Handlers } from './types.js'
import { haMethods } from './ha.js'
import type { Lease } from '../lease.js'
import type { EjectedFence, HaSpec } from '../../protocol/index.js'

/** What the agent's methods act on. */
export interface AgentOperations {
  prepare(): Promise<void>
  stopDb(): Promise<void>
  restart(timeoutMs?: number): Promise<void>
  shutdown(): Promise<void>
  filesystemStats(): Promise<FilesystemStats>
  /** The engine's databases/users/root; without it those RPCs are not supported. */
  accounts?(): Promise<Accounts>
  /** update_overrides/apply_overrides; without them those RPCs are not supported. */
  updateOverrides?(overrides: Overrides, remove: boolean): Promise<void>
  applyOverrides?(overrides: Overrides): Promise<void>
  /** Resize, upgrade and access methods (reconfigure.ts, access.ts); without it those RPCs are not supported. */
  reconfigure?: () => Reconfigurable
  /** guest_log_list/guest_log_action; without it those RPCs are not supported. */
  guestLogs?(): Promise<GuestLogManager>
  /** module_apply/module_list/module_remove; without it those RPCs are not supported. */
  modules?: ModuleManager
  /** The replication methods (replication.ts); without it those RPCs are not supported. */
  replication?: () => ReplicationHost
  /** create_backup (backup.ts); without it that RPC is not supported. */
  createBackup?(info: BackupInfo): Promise<void>
  /** set_archiving (archive.ts); without it that RPC is not supported. */
  archiving?: () => ArchiveKeeper
  /** set_ha/renew_lease/ha_view (ha.ts); `changed` follows a new spec (the heartbeat period). */
  ha?: { lease: () => Lease; changed: (spec: HaSpec | undefined) => void; ejected: (f: EjectedFence, held: boolean) => Promise<void> }
}

/** Every method of the catalogue: a handler, or undefined where this agent lacks the capability. */
type AgentTable = { [M in RpcMethod]: Handler<M> | undefined }

/**
 * A part's table when the agent has what it acts on, otherwise the same names without
 * handlers. The parts' builders only keep their getter for later, so building a table
 * for a capability the agent lacks calls nothing.
 */
function when<T extends object>(enabled: boolean, table: T): { [K in keyof T]: T[K] | undefined } {
  return enabled ? table : (Object.fromEntries(Object.keys(table).map((k) => [k, undefined])) as { [K in keyof T]: undefined })
}

function coreMethods(ops: AgentOperations): Handlers<CoreRpc> {
  return {
    rpc_ping: async () => true,
    get_filesystem_stats: () => ops.filesystemStats(),
    prepare: async () => {
      await ops.prepare()
      return null
    },
    stop_db: async () => {
      await ops.stopDb()
      return null
    },
    restart: async (_args, req) => {
      await ops.restart(req.timeoutMs)
      return null
    },
    shutdown_agent: async () => {
      await ops.shutdown()
      return null
    },
  }
}

/**
 * The guest RPC methods (upstream names, internals.md 2), typed by the catalogue
 * (src/protocol/rpc-catalogue.ts): a method without a handler here, or a handler for
 * a method the catalogue does not have, is a compile error. Methods whose capability
 * the agent lacks are left out, and the dispatcher answers them NotSupported.
 */
export function agentMethods(ops: AgentOperations): Readonly<Record<string, RpcHandler>> {
  const table: AgentTable = {
    ...coreMethods(ops),
    ...when(
      !!ops.accounts,
      accountMethods(() => ops.accounts!()),
    ),
    ...when(
      !!ops.updateOverrides && !!ops.applyOverrides,
      configMethods(() => ({ updateOverrides: ops.updateOverrides!, applyOverrides: ops.applyOverrides! })),
    ),
    ...when(
      !!ops.reconfigure,
      reconfigureMethods(() => ops.reconfigure!()),
    ),
    ...when(
      !!ops.reconfigure,
      accessMethods(() => ops.reconfigure!()),
    ),
    ...when(
      !!ops.guestLogs,
      logMethods(() => ops.guestLogs!()),
    ),
    ...when(
      !!ops.modules,
      moduleMethods(() => ops.modules!),
    ),
    ...when(
      !!ops.replication,
      replicationMethods(() => ops.replication!()),
    ),
    ...when(
      !!ops.createBackup,
      backupMethods((info) => ops.createBackup!(info)),
    ),
    ...when(
      !!ops.archiving,
      archiveMethods(() => ops.archiving!()),
    ),
    ...when(
      !!ops.ha,
      haMethods(
        () => ops.ha!.lease(),
        (spec) => ops.ha!.changed(spec),
        (f, held) => ops.ha!.ejected(f, held),
      ),
    ),
  }
  return Object.fromEntries(Object.entries(table).filter(([, h]) => h !== undefined)) as Record<string, RpcHandler>
}
