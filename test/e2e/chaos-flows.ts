// Fault injection (issue 6), part 2 of 4: backup, restore, resize flavor, replica create and
// promote (and, long, detach and configuration attach moments): the server is killed at one mid
// step of each (lean) or at every step (long, `npm run chaos`); the flow must end (backup
// COMPLETED or FAILED, instance ACTIVE), keep every row written before, and leave a consistent set.
import t from 'tap'
import { join } from 'node:path'
import type { TroveClient } from '../../src/sdk/index.js'
import { instanceDirs } from '../helpers/guest.js'
import { tempDir } from '../helpers/lab.js'
import { LONG, byName, clientOf, needsRedis, redisCli, sleep, startServer, until, crashAt as crashAtHelper, type CrashLab } from '../helpers/chaos.js'

t.test('chaos: the server killed mid backup, restore, resize, replica create and promote', needsRedis, async (t) => {
  const dir = tempDir(t, 'tf')
  const dataDir = join(dir, 'lab')
  const c = () => clientOf(dataDir)
  // Lean: one representative mid step of each flow; long: every step.
  const points = {
    backup: LONG ? ['start', 'cast'] : ['cast'],
    restore: LONG ? ['start', 'launch', 'wait'] : ['launch'],
    resize: LONG ? ['start', 'resize'] : ['resize'],
    replica: LONG ? ['start', 'launch', 'wait'] : ['launch'],
  }
  const lab: CrashLab = { dataDir, server: await startServer(t, dataDir) }
  const crashAt = (point: string, act: (c: TroveClient) => Promise<unknown>, ready: string[] = []) => crashAtHelper(t, lab, point, act, ready)

  const settled = (id: string, ms = 90_000) =>
    until(
      async () => {
        const i = await c().instances.get(id)
        return ['ACTIVE', 'ERROR'].includes(i.status)
      },
      ms,
      `${id} ACTIVE or ERROR`,
    )
  const create = async (name: string, extra: Record<string, unknown> = {}) => {
    const inst = await c().instances.create({ name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' }, ...extra })
    await until(async () => (await c().instances.get(inst.id)).status === 'ACTIVE', 90_000, `${name} ACTIVE`)
    return inst.id
  }
  /** Writes `n` rows under `prefix` and saves them; returns what was written. */
  const write = (id: string, prefix: string, n = 20): Record<string, string> => {
    const rows: Record<string, string> = {}
    for (let i = 0; i < n; i++) rows[`${prefix}:${i}`] = `v${i}-${prefix}`
    t.equal(redisCli(dataDir, id, 'MSET', ...Object.entries(rows).flat()), 'OK', `${n} rows written (${prefix})`)
    t.equal(redisCli(dataDir, id, 'SAVE'), 'OK')
    return rows
  }
  const missing = (id: string, rows: Record<string, string>): string[] => {
    const keys = Object.keys(rows)
    const got = redisCli(dataDir, id, 'MGET', ...keys).split('\n')
    return keys.filter((k, i) => got[i] !== rows[k])
  }
  const maxmemory = (id: string) => redisCli(dataDir, id, 'CONFIG', 'GET', 'maxmemory').split('\n').pop()
  const MB = 1024 * 1024

  const src = await create('fx-src')
  const before = write(src, 'before')

  // Backup: the task resumes at its step and the backup ends COMPLETED or FAILED, never NEW/BUILDING.
  let restorable: string | undefined
  for (const step of points.backup) {
    let backupId = ''
    await crashAt(
      `create_backup:${step}`,
      async (cl) => {
        backupId = (await cl.backups.create({ name: `b-${step}`, instance: src })).id
      },
      [src],
    )
    const found = (await c().backups.page({ limit: 100 })).items.find((b) => b.name === `b-${step}`)
    if (!found) {
      t.pass(`backup killed at ${step} before its row was written: no backup`)
      continue
    }
    backupId = found.id
    const ms = await until(async () => ['COMPLETED', 'FAILED'].includes((await c().backups.get(backupId)).status), 120_000, `backup ${step} ended`)
    const status = (await c().backups.get(backupId)).status
    t.pass(`backup killed at ${step}: ${status} ${ms} ms after the restart`)
    t.equal(status, 'COMPLETED', 'the resumed backup completes')
    if (status === 'COMPLETED') restorable = backupId
    await until(async () => (await c().instances.get(src)).status === 'ACTIVE', 180_000, 'source ACTIVE')
  }
  t.same(missing(src, before), [], 'the source kept every row')
  if (!restorable) {
    const b = await c().backups.create({ name: 'b-clean', instance: src })
    await until(async () => (await c().backups.get(b.id)).status === 'COMPLETED', 120_000, 'clean backup')
    restorable = b.id
  }

  // Restore: create from the backup, killed at the create steps; ACTIVE with every row backed up.
  for (const step of points.restore) {
    const name = `fx-rs-${step}`
    await crashAt(`create_instance:${step}`, (cl) => cl.instances.create({ name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' }, restorePoint: { backupRef: restorable! } }))
    const got = await byName(c(), name)
    if (!got) {
      t.pass(`restore killed at ${step} before its row was written`)
      continue
    }
    const ms = await settled(got.id)
    const inst = await c().instances.get(got.id)
    t.equal(inst.status, 'ACTIVE', `restore killed at ${step}: ${inst.status} ${ms} ms after the restart`)
    if (inst.status === 'ACTIVE') t.same(missing(got.id, before), [], 'the restored instance has every row written before the backup')
    await c().instances.delete(got.id)
  }

  // Resize flavor: killed at its steps; ACTIVE with the new flavor (or the old one and a fault), maxmemory to match, rows kept.
  let flavor = '1'
  for (const step of points.resize) {
    const want = flavor === '1' ? '2' : '1'
    await crashAt(`resize_flavor:${step}`, (cl) => cl.instances.resizeFlavor(src, want), [src])
    const ms = await until(
      async () => {
        const i = await c().instances.get(src)
        return i.status === 'ACTIVE' || i.status === 'ERROR'
      },
      120_000,
      'resized',
    )
    const inst = await c().instances.get(src)
    t.equal(inst.status, 'ACTIVE', `resize killed at ${step}: ${inst.status} ${ms} ms after the restart`)
    const now = String((inst.flavor as { id?: string } | undefined)?.id ?? '')
    t.equal(now, want, `flavor ${now} (asked ${want})`)
    flavor = now
    await until(() => maxmemory(src) === String((flavor === '2' ? 768 : 384) * MB), 180_000, 'maxmemory').catch(() => undefined)
    t.equal(maxmemory(src), String((flavor === '2' ? 768 : 384) * MB), `maxmemory follows flavor ${flavor}`)
    t.same(missing(src, before), [], 'rows kept across the resize')
  }

  // Replica create: killed at the create steps; ACTIVE, replica_of the source, with the rows and new writes.
  const replicas: string[] = []
  for (const step of points.replica) {
    const name = `fx-rp-${step}`
    await crashAt(`create_instance:${step}`, (cl) => cl.instances.create({ name, replica_of: src }), [src])
    const got = await byName(c(), name)
    if (!got) {
      t.pass(`replica create killed at ${step} before its row was written`)
      continue
    }
    const ms = await settled(got.id)
    const inst = await c().instances.get(got.id)
    t.equal(inst.status, 'ACTIVE', `replica create killed at ${step}: ${inst.status} ${ms} ms after the restart`)
    t.equal(inst.replica_of?.id, src, 'replica_of the source')
    replicas.push(got.id)
  }
  if (!replicas.length) {
    t.fail('no replica was created')
    return
  }
  const set = async (primary: string, members: string[], tag: string) => {
    const shown = await c().request<{ instance: Record<string, any> }>('GET', `/instances/${primary}`)
    t.notOk(shown.body.instance.replica_of, `${tag}: the primary is no replica`)
    t.same(((shown.body.instance.replicas ?? []) as Array<{ id: string }>).map((r) => r.id).sort(), [...members].sort(), `${tag}: the primary lists every replica`)
    const rows = write(primary, `after-${tag}`, 5)
    for (const m of members) {
      const i = await c().instances.get(m)
      t.equal(i.replica_of?.id, primary, `${tag}: ${m} follows the primary`)
      t.equal(i.status, 'ACTIVE')
      await until(() => missing(m, rows).length === 0, 20_000, 'replicated').catch(() => undefined)
      t.same(missing(m, rows), [], `${tag}: ${m} receives new writes`)
      t.same(missing(m, before), [], `${tag}: ${m} has the rows written before`)
    }
  }
  await set(src, replicas, 'created')

  // Promote: killed at its steps; the candidate ends the primary, every other member follows it.
  let primary = src
  let members = replicas
  const promoteSteps = LONG
    ? (cand: string, others: string[]) => [
        'start',
        'read_only',
        'catch_up',
        'detach',
        'enable_as_master',
        'writable',
        ...others.filter((r) => r !== cand).map((r) => `replica:${r}`),
        'old_primary',
        'finish',
      ]
    : () => ['enable_as_master']
  for (let round = 0; ; round++) {
    const candidate = members[round % members.length]!
    const steps = promoteSteps(candidate, members)
    const step = steps[round]
    if (!step) break
    await crashAt(`promote_to_replica_source:${step}`, (cl) => cl.instances.promoteToReplicaSource(candidate), [primary, ...members])
    const ms = await until(
      async () => {
        const all = await Promise.all([primary, ...members].map((id) => c().instances.get(id)))
        return all.every((i) => i.status === 'ACTIVE' || i.status === 'ERROR')
      },
      120_000,
      'promote ended',
    )
    const st = (await c().instances.get(candidate)).status
    t.equal(st, 'ACTIVE', `promote killed at ${step}: ${st} ${ms} ms after the restart`)
    members = [primary, ...members.filter((m) => m !== candidate)]
    primary = candidate
    await set(primary, members, `promote-${step}`)
    if (!LONG) break
  }

  // Detach (long): a replica detached with the server killed at each step ends standalone and writable.
  if (LONG) {
    for (const step of ['start', 'detach']) {
      const member = members.pop()
      if (!member) break
      await crashAt(`detach_replica:${step}`, (cl) => cl.instances.detachReplica(member), [member])
      const ms = await until(
        async () => {
          const i = await c().instances.get(member)
          return i.status === 'ACTIVE' && !i.replica_of
        },
        60_000,
        'detached',
      )
      t.pass(`detach killed at ${step}: ACTIVE and standalone ${ms} ms after the restart`)
      const shown = await c().request<{ instance: Record<string, any> }>('GET', `/instances/${primary}`)
      t.notOk(
        ((shown.body.instance.replicas ?? []) as Array<{ id: string }>).some((r) => r.id === member),
        'the primary no longer lists it',
      )
      t.same(missing(member, before), [], 'the detached instance kept the rows')
      t.equal(redisCli(dataDir, member, 'SET', 'detached:key', 'w'), 'OK', 'and takes writes')
      await c().instances.delete(member)
    }
  }

  // Configuration attach (synchronous in the API): the server SIGKILLed while the request is
  // in flight (long: several moments) or right after it answered (lean). The group must end
  // recorded consistently: attached and live (or RESTART_REQUIRED until a restart), or not
  // attached and never applied; the instance ACTIVE afterwards, never stuck.
  const policy = (id: string) => redisCli(dataDir, id, 'CONFIG', 'GET', 'maxmemory-policy').split('\n').pop()
  const group = await c().configurations.create({ name: 'fx-lru', values: { 'maxmemory-policy': 'allkeys-lru' }, datastore: { type: 'redis' } })
  const defaultPolicy = policy(primary)
  for (const delay of LONG ? [-1, 0, 2, 5, 10, 20] : [-1]) {
    const attach = c()
      .configurations.attach(primary, group.id)
      .then(
        () => 'answered',
        (e: Error) => e.message,
      )
    if (delay >= 0) await sleep(delay)
    else await attach
    lab.server.child.kill('SIGKILL')
    await lab.server.exited
    const answer = await attach
    lab.server = await startServer(t, dataDir)
    const tag = delay < 0 ? 'attach killed after it answered' : `attach killed ${delay} ms into the request (${answer})`
    await until(async () => ['ACTIVE', 'RESTART_REQUIRED'].includes((await c().instances.get(primary)).status), 180_000, 'a clear state')
    const inst = await c().instances.get(primary)
    const attached = inst.configuration?.id === group.id
    if (delay < 0) t.ok(attached, `${tag}: the group is recorded`)
    if (attached && inst.status === 'ACTIVE') t.equal(policy(primary), 'allkeys-lru', `${tag}: attached and live`)
    await c().instances.restart(primary)
    await until(async () => (await c().instances.get(primary)).status === 'ACTIVE', 60_000, 'ACTIVE after a restart')
    t.equal(policy(primary), attached ? 'allkeys-lru' : defaultPolicy, `${tag}: ${attached ? 'attached' : 'not attached'} (${inst.status}), and the engine agrees after a restart`)
    if (attached) {
      await c().configurations.detach(primary)
      await until(async () => ['ACTIVE', 'RESTART_REQUIRED'].includes((await c().instances.get(primary)).status), 180_000, 'detached')
      if ((await c().instances.get(primary)).status !== 'ACTIVE') {
        await c().instances.restart(primary)
        await until(async () => (await c().instances.get(primary)).status === 'ACTIVE', 60_000, 'ACTIVE after detach')
      }
      t.equal(policy(primary), defaultPolicy, 'detached: the default is back')
    }
  }
  t.same(missing(primary, before), [], 'rows kept across the configuration attaches')

  // Replicas first: a source with replicas cannot be deleted.
  for (const id of members) await c().instances.delete(id)
  await until(async () => !(await c().instances.page({ limit: 100 })).items.some((i) => members.includes(i.id)), 90_000, 'replicas deleted')
  await c().instances.delete(primary)
  await until(async () => (await c().instances.page({ limit: 100 })).items.length === 0, 90_000, 'all deleted')
  t.same(instanceDirs(dataDir), [], 'no instance directory left')
  t.notMatch(lab.server.out(), /error \S+ (GET|POST|PUT|PATCH|DELETE) /, 'no request ended in a 500')
})
