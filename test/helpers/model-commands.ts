// The model and the commands of the model-based test (test/e2e/model.ts): what each operation
// does to the model, how it runs through the SDK on the real lab, and the checks after each step.
import fc from 'fast-check'
import { BadRequestError, type Instance } from '../../src/sdk/index.js'
import { PASSWORD, createTable, deleteAndWait, leftDir, orphans, readRows, settle, settleBackup, until, writeRow, type Engine, type System } from './model-system.js'

export type { Engine, System }

/** Instances one engine's run may hold at once. */
const MAX_INSTANCES = 4
/** Values of the group created with an instance (PostgreSQL: a smaller max_connections than a replica's, issue 11). */
export const CREATE_GROUP: Record<Engine, Record<string, unknown>> = {
  mariadb: { connect_timeout: 20 },
  postgresql: { max_connections: 50 },
  redis: { timeout: 300 },
}
/** A group of dynamic values, attached and detached without a restart. */
export const LIVE_GROUP: Record<Engine, Record<string, unknown>> = {
  mariadb: { connect_timeout: 25 },
  postgresql: { statement_timeout: 60000 },
  redis: { 'maxmemory-policy': 'allkeys-lru' },
}

interface MInstance {
  name: string
  id: string
  /** The name of the instance this one replicates from. */
  source?: string
  rows: number[]
  /** The attached configuration group, if any. */
  group?: 'create' | 'live'
}
interface MBackup {
  name: string
  id: string
  instance: string
  rows: number[]
}
export interface Model {
  engine: Engine
  instances: MInstance[]
  backups: MBackup[]
  deleted: string[]
  next: number
  seq: number
}
export interface Real {
  sys: System
  groups: Record<'create' | 'live', string>
  log: (m: string) => void
}

const sql = (m: Model) => m.engine !== 'redis'
const primaries = (m: Model) => m.instances.filter((i) => !i.source)
const replicas = (m: Model) => m.instances.filter((i) => i.source)
const replicasOf = (m: Model, name: string) => m.instances.filter((i) => i.source === name)
const pick = <T>(list: T[], n: number): T => list[n % list.length]!
const byName = (m: Model, name: string) => m.instances.find((i) => i.name === name)!
const newName = (m: Model, what: string) => `${m.engine.slice(0, 2)}-${what}-${++m.seq}`

/** After every step: what the model predicts, on the real lab. */
export async function verify(m: Model, r: Real): Promise<void> {
  for (const mi of m.instances) {
    const inst = await settle(r.sys, mi.id)
    if (inst.status !== 'ACTIVE') throw new Error(`${mi.name}: ${inst.status}, the model expects ACTIVE (fault: ${JSON.stringify((inst as { fault?: unknown }).fault ?? null)})`)
    const want = mi.source ? byName(m, mi.source).id : undefined
    if (inst.replica_of?.id !== want) throw new Error(`${mi.name}: replica_of ${inst.replica_of?.id ?? 'none'}, the model expects ${want ?? 'none'}`)
    const expected = [...mi.rows].sort((a, b) => a - b).join(',')
    // A replica converges: wait for it (bounded); a primary has its rows at once.
    const rows = await until(
      () => readRows(r.sys, m.engine, inst),
      (v) => Array.isArray(v) && v.join(',') === expected,
      mi.source ? 30_000 : 2_000,
    )
    if (!Array.isArray(rows) || rows.join(',') !== expected) throw new Error(`${mi.name}: rows ${rows instanceof Error ? rows.message : rows.join(',')}, the model expects ${expected}`)
  }
  for (const id of m.deleted) {
    const left = orphans(r.sys, id)
    if (left.length) throw new Error(`deleted instance ${id} left processes ${left.join(', ')}`)
    if (leftDir(r.sys, id)) throw new Error(`deleted instance ${id} left its directory`)
  }
}

async function create(_m: Model, r: Real, name: string, body: Record<string, unknown>): Promise<Instance> {
  const made = await r.sys.client.instances.create({ name, ...body } as never)
  const inst = await settle(r.sys, made.id)
  if (inst.status !== 'ACTIVE') throw new Error(`${name}: create ended ${inst.status}`)
  return inst
}

const accounts = (m: Model, extra: boolean) =>
  sql(m)
    ? {
        databases: [{ name: 'd1' }, ...(extra ? [{ name: 'd2' }] : [])],
        users: [{ name: 'u1', password: PASSWORD, databases: [{ name: 'd1' }] }, ...(extra ? [{ name: 'u2', password: 'Pw-two-2', databases: [{ name: 'd2' }] }] : [])],
      }
    : {}

type Cmd = fc.AsyncCommand<Model, Real>

export class Create implements Cmd {
  constructor(
    readonly group: boolean,
    readonly extra: boolean,
  ) {}
  check = (m: Readonly<Model>) => m.instances.length < MAX_INSTANCES
  async run(m: Model, r: Real) {
    const name = newName(m, 'db')
    const inst = await create(m, r, name, {
      flavorRef: '1',
      volume: { size: 1 },
      datastore: { type: m.engine },
      ...accounts(m, this.extra),
      ...(this.group ? { configuration: r.groups.create } : {}),
    })
    await createTable(r.sys, m.engine, inst)
    m.instances.push({ name, id: inst.id, rows: [], ...(this.group ? { group: 'create' as const } : {}) })
    await verify(m, r)
  }
  toString = () => `create(group=${this.group}, extra=${this.extra})`
}

/** A new row on a primary; in the model it reaches every instance replicating (directly or not) from it. */
async function write(m: Model, r: Real, target: MInstance): Promise<void> {
  const n = ++m.next
  await writeRow(r.sys, m.engine, await r.sys.client.instances.get(target.id), n)
  const reach = (name: string) => {
    byName(m, name).rows.push(n)
    for (const x of replicasOf(m, name)) reach(x.name)
  }
  reach(target.name)
}

class Write implements Cmd {
  constructor(readonly at: number) {}
  check = (m: Readonly<Model>) => primaries(m as Model).length > 0
  async run(m: Model, r: Real) {
    await write(m, r, pick(primaries(m), this.at))
    await verify(m, r)
  }
  toString = () => `write(${this.at})`
}

class Backup implements Cmd {
  constructor(
    readonly at: number,
    readonly incremental: boolean,
  ) {}
  check = (m: Readonly<Model>) => primaries(m as Model).length > 0
  async run(m: Model, r: Real) {
    const target = pick(primaries(m), this.at)
    const parent = this.incremental ? m.backups.filter((b) => b.instance === target.name).pop() : undefined
    const name = newName(m, 'bk')
    if (this.incremental && m.engine === 'redis') {
      // The documented refusal: Redis has no incremental backups (400), nothing changes.
      const err = await r.sys.client.backups.create({ name, instance: target.id, incremental: 1 }).then(
        () => undefined,
        (e: Error) => e,
      )
      if (!(err instanceof BadRequestError) || !/Incremental backups are not supported/.test(err.message))
        throw new Error(`redis incremental backup: expected a 400 refusal, got ${err ? err.message : 'success'}`)
    } else {
      const b = await r.sys.client.backups.create({ name, instance: target.id, ...(parent ? { parent_id: parent.id } : {}) })
      const status = await settleBackup(r.sys, b.id)
      if (status !== 'COMPLETED') throw new Error(`backup ${name} of ${target.name}: ${status}`)
      m.backups.push({ name, id: b.id, instance: target.name, rows: [...target.rows] })
    }
    await verify(m, r)
  }
  toString = () => `backup(${this.at}, incremental=${this.incremental})`
}

class Restore implements Cmd {
  constructor(
    readonly which: number,
    readonly withUsers: boolean,
  ) {}
  check = (m: Readonly<Model>) => m.backups.length > 0 && m.instances.length < MAX_INSTANCES
  async run(m: Model, r: Real) {
    const b = pick(m.backups, this.which)
    const name = newName(m, 'rs')
    // With users: the request names the database and user the backup already holds (issue 11).
    const inst = await create(m, r, name, { flavorRef: '1', volume: { size: 1 }, restorePoint: { backupRef: b.id }, ...(this.withUsers ? accounts(m, true) : {}) })
    m.instances.push({ name, id: inst.id, rows: [...b.rows] })
    await verify(m, r)
  }
  toString = () => `restore(${this.which}, users=${this.withUsers})`
}

class Replica implements Cmd {
  constructor(readonly at: number) {}
  check = (m: Readonly<Model>) => primaries(m as Model).length > 0 && m.instances.length < MAX_INSTANCES
  async run(m: Model, r: Real) {
    const src = pick(primaries(m), this.at)
    const name = newName(m, 'rp')
    const inst = await create(m, r, name, { replica_of: src.id, replica_count: 1 })
    m.instances.push({ name, id: inst.id, source: src.name, rows: [...src.rows] })
    await verify(m, r)
  }
  toString = () => `replica(${this.at})`
}

class Promote implements Cmd {
  constructor(readonly at: number) {}
  check = (m: Readonly<Model>) => replicas(m as Model).length > 0
  async run(m: Model, r: Real) {
    const rep = pick(replicas(m), this.at)
    const old = byName(m, rep.source!)
    await r.sys.client.instances.promoteToReplicaSource(rep.id)
    for (const x of replicasOf(m, old.name)) if (x !== rep) x.source = rep.name
    rep.source = undefined
    old.source = rep.name
    await verify(m, r)
    // The new source takes writes, and they reach the old one and every other replica.
    await write(m, r, rep)
    await verify(m, r)
  }
  toString = () => `promote(${this.at})`
}

class Detach implements Cmd {
  constructor(readonly at: number) {}
  check = (m: Readonly<Model>) => replicas(m as Model).length > 0
  async run(m: Model, r: Real) {
    const rep = pick(replicas(m), this.at)
    await r.sys.client.instances.detachReplica(rep.id)
    rep.source = undefined
    await verify(m, r)
    // It takes writes of its own, which stay there.
    await write(m, r, rep)
    await verify(m, r)
  }
  toString = () => `detach(${this.at})`
}

class ResizeVolume implements Cmd {
  constructor(readonly at: number) {}
  check = (m: Readonly<Model>) => m.instances.length > 0
  async run(m: Model, r: Real) {
    const target = pick(m.instances, this.at)
    const size = (await r.sys.client.instances.get(target.id)).volume?.size ?? 1
    await r.sys.client.instances.resizeVolume(target.id, size + 1)
    await verify(m, r)
    const now = (await r.sys.client.instances.get(target.id)).volume?.size
    if (now !== size + 1) throw new Error(`${target.name}: volume ${now} after a resize to ${size + 1}`)
  }
  toString = () => `resizeVolume(${this.at})`
}

class Restart implements Cmd {
  constructor(readonly at: number) {}
  check = (m: Readonly<Model>) => m.instances.length > 0
  async run(m: Model, r: Real) {
    await r.sys.client.instances.restart(pick(m.instances, this.at).id)
    await verify(m, r)
  }
  toString = () => `restart(${this.at})`
}

/** Primaries without the create-time group (detaching that one would need a restart on PostgreSQL). */
const liveGroupable = (m: Model) => primaries(m).filter((i) => i.group !== 'create')

class Group implements Cmd {
  constructor(readonly at: number) {}
  check = (m: Readonly<Model>) => liveGroupable(m as Model).length > 0
  async run(m: Model, r: Real) {
    const target = pick(liveGroupable(m), this.at)
    if (target.group) {
      await r.sys.client.configurations.detach(target.id)
      target.group = undefined
    } else {
      await r.sys.client.configurations.attach(target.id, r.groups.live)
      target.group = 'live'
    }
    await verify(m, r)
  }
  toString = () => `attach/detach group(${this.at})`
}

class RootEnable implements Cmd {
  constructor(readonly at: number) {}
  check = (m: Readonly<Model>) => primaries(m as Model).length > 0
  async run(m: Model, r: Real) {
    const target = pick(primaries(m), this.at)
    const root = await r.sys.client.root.enable(target.id)
    if (!root.password || !(await r.sys.client.root.isEnabled(target.id))) throw new Error(`${target.name}: root enable gave no password or is not shown enabled`)
    await verify(m, r)
  }
  toString = () => `rootEnable(${this.at})`
}

class Delete implements Cmd {
  constructor(readonly at: number) {}
  /** Only instances nothing replicates from (a source with replicas is refused: detach first). */
  check = (m: Readonly<Model>) => m.instances.some((i) => !replicasOf(m as Model, i.name).length)
  async run(m: Model, r: Real) {
    const target = pick(
      m.instances.filter((i) => !replicasOf(m, i.name).length),
      this.at,
    )
    await deleteAndWait(r.sys, target.id)
    m.instances = m.instances.filter((i) => i !== target)
    m.deleted.push(target.id)
    // The engine and agent go with the instance (the delete flow waits for them).
    await until(
      async () => orphans(r.sys, target.id).length + Number(leftDir(r.sys, target.id)),
      (n) => n === 0,
      30_000,
    )
    await verify(m, r)
  }
  toString = () => `delete(${this.at})`
}

const at = fc.nat(7)
export const commands = [
  fc.tuple(fc.boolean(), fc.boolean()).map(([g, e]) => new Create(g, e)),
  at.map((n) => new Write(n)),
  fc.tuple(at, fc.boolean()).map(([n, inc]) => new Backup(n, inc)),
  fc.tuple(at, fc.boolean()).map(([n, u]) => new Restore(n, u)),
  at.map((n) => new Replica(n)),
  at.map((n) => new Promote(n)),
  at.map((n) => new Detach(n)),
  at.map((n) => new ResizeVolume(n)),
  at.map((n) => new Restart(n)),
  at.map((n) => new Group(n)),
  at.map((n) => new RootEnable(n)),
  at.map((n) => new Delete(n)),
]

/** Everything one run made goes: replicas first (a source with replicas cannot be deleted), then backups. */
export async function cleanUp(m: Model, r: Real): Promise<void> {
  while (m.instances.length) {
    const leaves = m.instances.filter((i) => !replicasOf(m, i.name).length)
    await Promise.all(leaves.map((i) => deleteAndWait(r.sys, i.id).catch((e: Error) => r.log(`clean-up: ${i.name}: ${e.message}`))))
    m.deleted.push(...leaves.map((i) => i.id))
    m.instances = m.instances.filter((i) => !leaves.includes(i))
  }
  for (const b of m.backups.reverse()) await r.sys.client.backups.delete(b.id).catch(() => undefined)
}
