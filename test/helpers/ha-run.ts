// One checker run over one fault on a replication set (issue 16 items 6-8), shared by test/e2e/chaos-ha.ts and
// bench/failover.mjs: clients write through the writer endpoint, the fault is injected with the admin verbs, the
// set fails over by itself, the old primary is healed, the set is waited for until it is whole
// again (the old primary rejoined as a replica by itself), every member is read and the history analysed.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FaultKind, Instance, TroveClient } from '../../src/sdk/index.js'
import { analyse, prepare, readMember, serverOf, startWriters, type CheckerReport, type Engine, type MemberRead, type Target } from './ha-checker.js'
import { HA } from './auto-failover.js'

/**
 * The lab's options for the sets: the dead-link tests' HA timings (heartbeat 200 ms, lease 1 s, margin
 * 0.5 s; ServerOptions.ha). The set fails over by itself (docs/ha.md); nothing here ejects or promotes.
 */
export const HA_LAB = { ha: HA }

export const ENGINE_PORTS: Record<Engine, number> = { postgresql: 5432, mariadb: 3306, redis: 6379 }

/** The faults of the item 7: each a list of verbs injected at once into the primary; `pause` is healed after pauseMs. */
export const SCENARIOS: Record<string, FaultKind[]> = {
  // The agent lives and its supervisor restarts the engine in place. Its heartbeats go on but, the engine not
  // HEALTHY, renew no lease: when the restart takes longer than the lease and margin (and the replicas see
  // their link down) the set fails over instead, else it recovers in place. The checker measures the time to
  // the first acknowledged write after the fault either way, and the report says which (failedOver).
  'kill-engine': ['kill-engine'],
  'kill-engine+agent': ['kill-agent', 'kill-engine'],
  pause: ['pause'],
  partition: ['partition'],
  // kill -9 of the primary's engine and agent, the control plane stopped right after (before its lease and margin
  // could lapse) and started again CONTROL_PLANE_DOWN_MS later: no failover can be decided meanwhile; the new control
  // plane learns the members' state afresh (heartbeats, views) and fails over. Needs runFault's `controlPlane`.
  'control-plane-down': ['kill-agent', 'kill-engine'],
}

/** How long the control-plane-down scenario keeps the control plane stopped, from the fault. */
export const CONTROL_PLANE_DOWN_MS = 5000

/** Stops the control plane and starts it again on the same data directory (new API clients: a new port). */
export interface ControlPlane {
  stop(): Promise<void>
  start(): Promise<{ client: TroveClient; admin: TroveClient }>
}

/** Polls `probe` until it holds; the deadline only ends a hang (a busy machine is slower, not failing). */
export async function until(probe: () => boolean | Promise<boolean>, ms = 300_000, every = 200): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await probe()) return true
    await sleep(every)
  }
  return probe()
}

/** A source and its replicas, ACTIVE, with the credentials the checker's clients use. */
export interface HaSet {
  engine: Engine
  ids: string[]
  /** sync_replication on. */
  sync: boolean
  user: string
  password: string
  /** The writer endpoint as a checker target. */
  writer: Target
  /** A member's own address as a target. */
  member(inst: Instance): Target
}

const ready = (i: Instance) => i.status === 'ACTIVE' || i.status === 'ERROR' || i.status === 'FAILED'

/**
 * Creates a source with `replicas` replicas (SQL engines: database d1, user u1), turns on auto_failover and, with `sync`, sync_replication, and waits for its writer endpoint and for the set to be whole.
 */
export async function createSet(client: TroveClient, engine: Engine, name: string, replicas = 1, o: { sync?: boolean } = {}): Promise<HaSet> {
  const sql = engine !== 'redis'
  const extra = sql ? { databases: [{ name: 'd1' }], users: [{ name: 'u1', password: 'Ha-check-1', databases: [{ name: 'd1' }] }] } : {}
  const made = await client.instances.create({ name, flavorRef: '1', volume: { size: 1 }, datastore: { type: engine }, ...extra })
  let src = made
  await until(async () => ready((src = await client.instances.get(made.id))), 600_000, 500)
  if (src.status !== 'ACTIVE') throw new Error(`${engine} source ${made.id}: ${src.status} ${JSON.stringify(src.fault ?? '')}`)
  const [user, password] = sql ? ['u1', 'Ha-check-1'] : ['root', (await client.root.enable(src.id)).password!]
  await client.instances.create({ name: `${name}-r`, replica_of: src.id, replica_count: replicas })
  const ids = [src.id, ...(((await client.instances.get(src.id)).replicas ?? []).map((r) => r.id) as string[])]
  for (const id of ids.slice(1)) {
    let r: Instance | undefined
    await until(async () => ready((r = await client.instances.get(id))), 600_000, 500)
    if (r?.status !== 'ACTIVE') throw new Error(`${engine} replica ${id}: ${r?.status} ${JSON.stringify(r?.fault ?? '')}`)
  }
  await client.instances.update(src.id, { auto_failover: true })
  if (o.sync) await client.instances.update(src.id, { sync_replication: true })
  let shown: Instance | undefined
  await until(async () => typeof (shown = await client.instances.get(src.id)).writer_endpoint === 'string', 120_000)
  if (!(await until(async () => (await setState(client, ids, o.sync)).whole, 120_000, 250))) throw new Error(`${engine} set of ${src.id}: not whole with auto_failover on in 120 s`)
  const [host, port] = String(shown?.writer_endpoint).split(':')
  const base = { engine, user, password, ...(sql ? { database: 'd1' } : {}) }
  return {
    engine,
    ids,
    sync: o.sync === true,
    user,
    password,
    writer: { ...base, host: host!, port: Number(port) },
    member: (inst) => ({ ...base, host: inst.ip![0]!, port: ENGINE_PORTS[engine] }),
  }
}

/** The set as the API shows it: its primary (no source, auto_failover on) and whether every other member follows it, ACTIVE. */
export async function setState(client: TroveClient, ids: string[], sync = false): Promise<{ primary?: string; whole: boolean }> {
  const members = await Promise.all(ids.map((id) => client.instances.get(id)))
  const primaries = members.filter((m) => m.replica_of === undefined && m.auto_failover === true)
  const primary = primaries.length === 1 ? primaries[0] : undefined
  const whole =
    primary !== undefined && members.every((m) => m.status === 'ACTIVE' && (m === primary || m.replica_of?.id === primary.id)) && (!sync || primary.sync_replication_status === 'synchronous')
  return { primary: primary?.id, whole }
}

export interface FaultRun {
  report: CheckerReport
  /** Members that could not be read at the end (their server id unknown). */
  unreadable: string[]
  /** The instance that is the primary after the run. */
  newPrimaryId: string | undefined
  /**
   * Fault -> the set whole again as the API shows it (the primary ACTIVE, every other member ACTIVE and its
   * replica; after a failover: the old primary rejoined as a replica by itself). undefined: not within rejoinMs.
   */
  wholeMs: number | undefined
  /** Epoch ms of the fault (when the verb answered). */
  faultAt: number
  /** control-plane-down: fault -> the control plane started again (answering its API). */
  upMs?: number
  /**
   * partition, with `agentLog`: fault -> the cut-off primary's agent fencing its engine by its lease (its log line's
   * time); undefined: not before the heal.
   */
  fencedMs?: number
}

/** The time of the first 'fencing the engine' line of an agent's log at or after `since` (epoch ms). */
export function fencedAt(log: string, since: number): number | undefined {
  for (const m of log.matchAll(/^(\S+) ha: lease lapsed and no replica connected: fencing/gm)) {
    const at = Date.parse(m[1]!)
    if (at >= since) return at
  }
  return undefined
}

/**
 * One fault on the set's current primary `primaryId`, injected by `admin` (the verbs), with `clients` writers
 * through the writer endpoint; the set fails over by itself (or, kill-engine, may recover in place); heal; the
 * set waited for until whole again; every member read; the history analysed.
 */
export async function runFault(o: {
  client: TroveClient
  admin: TroveClient
  set: HaSet
  primaryId: string
  scenario: keyof typeof SCENARIOS
  clients?: number
  pauseMs?: number
  /** How long the set may take to be whole again after the fault (default 300 s). */
  rejoinMs?: number
  /** Called every 2 s while the set is not whole (a reconciliation pass: a killed agent is started again). */
  reconcile?: () => Promise<unknown>
  /** An instance's agent log (partition: the cut-off primary is waited for to fence itself before the heal, 30 s at most). */
  agentLog?: (id: string) => string
  /** control-plane-down: the control plane to stop and start again (the clients the run uses after it are start's). */
  controlPlane?: ControlPlane
  log?: (m: string) => void
}): Promise<FaultRun> {
  const { set } = o
  let { admin, client } = o
  if (o.scenario === 'control-plane-down' && !o.controlPlane) throw new Error('control-plane-down needs a controlPlane to stop and start')
  const log = o.log ?? (() => undefined)
  // The table, and the primary's identity, through the writer endpoint (retried: a loaded machine times out a connect).
  let initialPrimary = ''
  await until(async () => {
    try {
      await prepare(set.writer)
      initialPrimary = await serverOf(set.writer)
      return true
    } catch {
      return false
    }
  }, 120_000)
  // Keys above every earlier run's on this set (a set is reused across faults): the analysis reads only these.
  const firstKey = Date.now() * 1000
  const writers = startWriters(set.writer, { clients: o.clients ?? 2, firstKey })
  let faultAt = 0
  let fencedMs: number | undefined
  let upMs: number | undefined
  try {
    if (!(await writers.moreAcks(30, 120_000))) throw new Error('the writers got no acknowledgement before the fault')
    for (const kind of SCENARIOS[o.scenario]!) log(`${o.scenario}: ${(await admin.mgmtInstances.injectFault(o.primaryId, kind)).effect}`)
    // The fault's time is when the verb answered (the signal sent, the rules applied): a write sent before may
    // still have been taken by the primary before it, and would count as an instant recovery.
    faultAt = Date.now()
    if (o.scenario === 'control-plane-down') {
      await o.controlPlane!.stop()
      log(`${o.scenario}: control plane stopped ${Date.now() - faultAt} ms after the fault`)
      await until(() => Date.now() >= faultAt + CONTROL_PLANE_DOWN_MS, 60_000, 50)
      ;({ client, admin } = await o.controlPlane!.start())
      upMs = Date.now() - faultAt
      log(`${o.scenario}: control plane started again ${upMs} ms after the fault`)
    }
    const healAt = o.scenario === 'pause' ? faultAt + (o.pauseMs ?? 20_000) : undefined
    const inPlace = o.scenario === 'kill-engine'
    // The new primary's first acknowledged write, then more traffic on it.
    const moved = await writers.until((op) => op.server !== undefined && (inPlace || op.server !== initialPrimary) && op.sentAt >= faultAt, 300_000)
    if (!moved) throw new Error(inPlace ? 'no write was acknowledged after the fault in 300 s' : 'no write was acknowledged by another server than the old primary in 300 s')
    await writers.moreAcks(20, 120_000)
    if (healAt !== undefined) await until(() => Date.now() >= healAt, 120_000, 100)
    if (o.scenario === 'partition' && o.agentLog) {
      const log = o.agentLog
      await until(() => fencedAt(log(o.primaryId), faultAt) !== undefined, 30_000, 100)
      const at = fencedAt(log(o.primaryId), faultAt)
      if (at !== undefined) fencedMs = at - faultAt
    }
    if (o.scenario === 'pause' || o.scenario === 'partition') log(`${o.scenario}: heal: ${(await admin.mgmtInstances.injectFault(o.primaryId, 'heal')).effect}`)
    // Writes after the heal: an old primary that still took writes through the endpoint would show as split brain.
    await writers.moreAcks(20, 120_000)
  } finally {
    await writers.stop()
  }
  // The set whole again: after a failover the old primary rejoins by itself (the rejoin flow, on its first
  // heartbeat after the eject; a killed agent first needs a reconciliation pass to be started again).
  let wholeMs: number | undefined
  let lastPass = 0
  await until(
    async () => {
      if ((await setState(client, set.ids, set.sync)).whole) {
        wholeMs = Date.now() - faultAt
        return true
      }
      if (o.reconcile && Date.now() - lastPass >= 2000) {
        lastPass = Date.now()
        await o.reconcile().catch((e: Error) => log(`reconcile: ${e.message}`))
      }
      return false
    },
    o.rejoinMs ?? 300_000,
    250,
  )
  if (wholeMs !== undefined) log(`${o.scenario}: the set whole again ${(wholeMs / 1000).toFixed(1)} s after the fault`)
  let finalPrimary = ''
  await until(async () => {
    try {
      finalPrimary = await serverOf(set.writer)
      return true
    } catch {
      return false
    }
  }, 120_000)
  const members: MemberRead[] = []
  const unreadable: string[] = []
  let newPrimaryId: string | undefined
  for (const id of set.ids) {
    const inst = await client.instances.get(id)
    let read: MemberRead | undefined
    await until(
      async () => {
        try {
          read = await readMember(set.member(inst))
          return true
        } catch {
          return false
        }
      },
      60_000,
      500,
    )
    if (!read) {
      unreadable.push(id)
      continue
    }
    members.push(read)
    if (read.server === finalPrimary) newPrimaryId = id
  }
  const report = analyse({ ops: writers.ops, faultAt, initialPrimary, finalPrimary, members, firstKey })
  return { report, unreadable, newPrimaryId, wholeMs, faultAt, fencedMs, upMs }
}

/**
 * Deletes the set's instances: each replica first, its source once it has none left (a source with replicas
 * cannot be deleted); tried again in turns, as failovers change which member is the source.
 */
export async function deleteSet(client: TroveClient, set: HaSet): Promise<void> {
  let left = [...set.ids].reverse()
  await until(
    async () => {
      for (const id of [...left]) {
        try {
          await client.instances.delete(id)
          left = left.filter((x) => x !== id)
        } catch (e) {
          if ((e as { status?: number }).status === 404) left = left.filter((x) => x !== id)
        }
      }
      return left.length === 0
    },
    240_000,
    500,
  )
}
