import { replicaContextOf, syncSpecOf, type ReplicaContext, type ReplicationRpc, type SyncRpc } from '../../protocol/index.js'
import type { Datastore } from '../datastores/types.js'
import type { EngineReplication, Maintenance } from '../datastores/replication.js'
import type { EngineSync } from '../datastores/sync.js'
import { RpcFailure } from '../rpc-failure.js'
import type { Handlers } from './types.js'

/** What the replication methods act on: the supervisor's engine and its maintenance. */
export interface ReplicationHost {
  readonly datastore: Datastore | undefined
  /** Settles once a restarted agent has re-adopted its engine (then requires a prepared instance). */
  ready(): Promise<unknown>
  maintenance<T>(fn: (ds: Datastore) => Promise<T>, opts?: { stopped?: boolean; timeoutMs?: number }): Promise<T>
}

/** The engine's synchronous replication, or NotSupported (Redis). */
function syncOf(r: EngineReplication): EngineSync {
  if (!r.sync) throw new RpcFailure('NotSupported', 'Synchronous replication is not supported for this datastore.')
  return r.sync
}

/** wait_for_txn's default wait when the call carries no timeout (upstream: 60 to 120 s). */
const WAIT_TXN_MS = 120_000

/**
 * The replication RPCs (internals.md 2): get_replication_snapshot, get_replica_context,
 * attach_replica, detach_replica, enable_as_master, demote_replication_master,
 * make_read_only, get_latest_txn_id, get_last_txn, wait_for_txn and
 * backup_required_for_replication. Engine work that changes the engine runs in the
 * supervisor's maintenance (one lifecycle operation at a time); reads run directly.
 */
export function replicationMethods(host: () => ReplicationHost): Handlers<ReplicationRpc & SyncRpc> {
  const engine = (): EngineReplication => {
    const h = host()
    const r = h.datastore?.replication
    if (!h.datastore) throw new RpcFailure('GuestError', 'the instance is not prepared')
    if (!r) throw new RpcFailure('NotSupported', `Replication is not supported for the '${h.datastore.name}' datastore.`)
    return r
  }
  const maintenance = (): Maintenance => {
    const h = host()
    return { run: (fn, opts) => h.maintenance(() => fn(), opts) }
  }
  /** Also checks that the instance is prepared (maintenance refuses otherwise). */
  const prepared = async (): Promise<EngineReplication> => {
    await host()
      .ready()
      .catch((err: Error) => {
        throw new RpcFailure('GuestError', err.message)
      })
    const r = engine()
    await host().maintenance(async () => undefined)
    return r
  }
  /**
   * enable_as_master reads the replication account from replication.json, or makes one
   * with a new password: two at once (two replicas created together) would each make
   * one, and the first replica would log in with a password the second replaced.
   */
  let masterChain: Promise<unknown> = Promise.resolve()
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = masterChain.then(fn, fn)
    masterChain = run.catch(() => undefined)
    return run
  }
  const context = (v: unknown): ReplicaContext => {
    try {
      return replicaContextOf(v)
    } catch (err) {
      throw new RpcFailure('BadRequest', (err as Error).message)
    }
  }
  return {
    /** No backup: a replica is seeded straight from its source (pg_basebackup, mariadb-dump, Redis sync). */
    backup_required_for_replication: async () => false,
    get_replication_snapshot: async () => {
      const r = await prepared()
      const ctx = await oneAtATime(async () => {
        await r.enableAsMaster(maintenance())
        return r.replicaContext()
      })
      const ds = host().datastore!
      return {
        dataset: { datastore_manager: ctx.datastore_manager ?? ds.name, dataset_size: 0, snapshot_id: null },
        replication_strategy: `${ds.name}-native`,
        ...ctx,
      }
    },
    get_replica_context: async () => (await prepared()).replicaContext(),
    attach_replica: async (args) => {
      const ctx = context(args.replica_info)
      await (await prepared()).attach(ctx, maintenance())
      return null
    },
    detach_replica: async (args) => {
      await (await prepared()).detach(args.for_failover === true, maintenance())
      return null
    },
    enable_as_master: async () => {
      const r = await prepared()
      await oneAtATime(() => r.enableAsMaster(maintenance()))
      return null
    },
    demote_replication_master: async () => {
      await (await prepared()).demote(maintenance())
      return null
    },
    make_read_only: async (args) => {
      const r = await prepared()
      await maintenance().run(() => r.makeReadOnly(args.read_only !== false))
      return null
    },
    get_latest_txn_id: async () => (await prepared()).latestTxnId(),
    get_last_txn: async () => (await prepared()).lastTxn(),
    set_sync_replication: async (args) => {
      let spec: ReturnType<typeof syncSpecOf>
      try {
        spec = syncSpecOf(args.sync)
      } catch (err) {
        throw new RpcFailure('BadRequest', (err as Error).message)
      }
      const sync = syncOf(await prepared())
      await maintenance().run(() => sync.apply(spec))
      return null
    },
    sync_view: async () => syncOf(await prepared()).view(),
    wait_for_txn: async (args, req) => {
      if (typeof args.txn !== 'string') throw new RpcFailure('BadRequest', 'txn must be a string')
      await (await prepared()).waitForTxn(args.txn, req.timeoutMs ?? WAIT_TXN_MS)
      return null
    },
  }
}
