import { randomBytes } from 'node:crypto'
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { EjectedFence, ReplicaContext, ReplicationUser } from '../../protocol/index.js'
import type { EngineContext, InstancePaths } from './context.js'
import type { EngineSync } from './sync.js'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Runs engine work with no other lifecycle operation meanwhile (the supervisor's
 * maintenance); `stopped` stops the engine before and starts it again after.
 */
export interface Maintenance {
  run<T>(fn: () => Promise<T>, opts?: { stopped?: boolean }): Promise<T>
}

/**
 * One engine's replication (internals.md 2 and 4): the guest side of the
 * replication RPCs. `m` is absent during prepare, where the engine already runs
 * inside the supervisor's exclusive section.
 */
export interface EngineReplication {
  /** Create (or keep) the replication account and the source settings. */
  enableAsMaster(m?: Maintenance): Promise<void>
  /** master{host,port} + replica_conf{replication_user}: how a replica reaches this source. */
  replicaContext(): Promise<ReplicaContext>
  /**
   * Follow `ctx`. At prepare (`m` absent) the data is loaded from the source first
   * where seeding did not already copy it; later (a new source after a promotion)
   * the instance keeps its data and only re-points.
   */
  attach(ctx: ReplicaContext, m?: Maintenance): Promise<void>
  /** Stop following the source; the instance becomes a writable primary. */
  detach(forFailover: boolean, m: Maintenance): Promise<void>
  /** The old primary's last step once it follows the new one. */
  demote(m: Maintenance): Promise<void>
  makeReadOnly(readOnly: boolean): Promise<void>
  /** The position of the last write (MariaDB gtid_binlog_pos, PostgreSQL LSN, Redis offset). */
  latestTxnId(): Promise<string>
  /** Wait until this replica has applied `txn`. */
  waitForTxn(txn: string, timeoutMs: number): Promise<void>
  /** [the source this replica follows, its last applied transaction as a number]. */
  lastTxn(): Promise<[string, number]>
  /**
   * This instance was ejected from its set (bootstrap.ejected): make the engine refuse writes from its
   * next start on (its config), and at once when `running` (an engine that outlived its agent), before
   * the server's rejoin flow makes it a replica of the new primary.
   */
  fence(f: EjectedFence, running: boolean): Promise<void>
  /** Fill the empty data dir from the source instead of init (PostgreSQL); false: init normally. */
  seed?(ctx: ReplicaContext): Promise<boolean>
  /** Synchronous replication (sync.ts); absent where the engine has none (Redis). */
  readonly sync?: EngineSync
}

/** What the agent remembers about replication (conf/replication.json, root, 0600). */
export interface ReplicationState {
  role?: 'primary' | 'replica'
  /** The replication account: created here (a source) or used to reach the source (a replica). */
  user?: ReplicationUser
  source?: { host: string; port: number }
}

export const replicationStateFile = (paths: InstancePaths): string => join(paths.conf, 'replication.json')

export async function loadReplicationState(paths: InstancePaths): Promise<ReplicationState> {
  try {
    return JSON.parse(await readFile(replicationStateFile(paths), 'utf8')) as ReplicationState
  } catch {
    return {}
  }
}

export async function saveReplicationState(paths: InstancePaths, state: ReplicationState): Promise<void> {
  const file = replicationStateFile(paths)
  const tmp = `${file}.tmp`
  await rm(tmp, { force: true })
  await writeFile(tmp, JSON.stringify(state) + '\n', { mode: 0o600 })
  await rename(tmp, file)
}

/** A replication account: the state's, or a new one (upstream: slave_<8 hex>, random password). */
export function replicationUserOf(state: ReplicationState, prefix = 'slave_'): ReplicationUser {
  return state.user ?? { name: `${prefix}${randomBytes(4).toString('hex')}`, password: randomBytes(18).toString('base64url') }
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined, or throws `timeout()` after `ms`. */
export async function pollUntil<T>(probe: () => Promise<T | undefined>, ms: number, timeout: () => Error, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() >= deadline) throw timeout()
    await sleep(everyMs)
  }
}

/**
 * get_replica_context: where this source is and how to log in to it, with the position
 * a replica starts from. Refused until enable_as_master made the replication account.
 */
export async function replicaContextOf(ctx: EngineContext, logPosition: () => Promise<string>): Promise<ReplicaContext> {
  const state = await loadReplicationState(ctx.paths)
  if (!state.user) throw new Error('this instance is not a replication source (enable_as_master first)')
  const b = ctx.bootstrap
  return {
    master: { host: b.address, port: b.port },
    replica_conf: { log_position: await logPosition(), replication_user: state.user },
    datastore_manager: b.datastore.manager,
  }
}

/** After a detach: this instance follows no source any more and is a primary. */
export async function markDetached(paths: InstancePaths): Promise<void> {
  const state = await loadReplicationState(paths)
  delete state.source
  await saveReplicationState(paths, { ...state, role: 'primary' })
}
