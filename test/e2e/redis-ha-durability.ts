// Redis durability in HA sets (docs/ha.md "Redis durability"): every member of an HA set runs appendonly yes with
// appendfsync everysec, so a primary killed (-9) keeps every write it acknowledged, whether its supervisor starts it
// again (it reloads its AOF, and its replica resynchronises from that) or the set fails over. The control: the same
// kill on an instance outside any HA set (appendonly no, RDB snapshots only) loses them.
import t from 'tap'
import { clientRun, createHaSet, startHaLab, until } from '../helpers/auto-failover.js'

const KEYS = Array.from({ length: 1000 }, (_, i) => i + 1)

t.test('redis: an HA primary keeps its acknowledged writes through kill -9', async (t) => {
  const lab = await startHaLab(t, 'redis')
  const api = lab.server.lab
  const addr = (id: string) => api.instances.get(id)!.address!
  const config = async (id: string, key: string) => (await clientRun('redis', addr(id), `CONFIG GET ${key}`)).split('\n')[1]
  const persistence = async (id: string) => await clientRun('redis', addr(id), 'INFO persistence')
  const { source: src, replica: rep, writer } = await createHaSet(lab, 'dur')
  for (const id of [src.id, rep.id]) {
    await until(async () => (await config(id, 'appendonly').catch(() => '')) === 'yes', 'appendonly yes')
    // The first AOF is written in the background (CONFIG SET appendonly yes): done once no rewrite runs.
    await until(async () => /aof_enabled:1[\s\S]*aof_rewrite_in_progress:0[\s\S]*aof_rewrite_scheduled:0/.test(await persistence(id).catch(() => '')), 'the AOF written')
  }
  t.equal(await config(src.id, 'appendfsync'), 'everysec', 'appendfsync everysec')

  // 1000 keys (one MSET) and 20 single writes, each acknowledged; then kill -9 of the primary's engine.
  t.equal(await clientRun('redis', writer, `MSET ${KEYS.map((k) => `k${k} v${k}`).join(' ')}`), 'OK', 'MSET of 1000 keys acknowledged')
  let acked = 0
  for (let k = 1001; k <= 1020; k++) if ((await clientRun('redis', writer, `SET k${k} v${k}`).catch(() => '')) === 'OK') acked++
  t.equal(acked, 20, '20 more writes acknowledged')
  const all = [...KEYS, ...Array.from({ length: 20 }, (_, i) => 1001 + i)]
  const killedAt = Date.now()
  t.match((await lab.admin.mgmtInstances.injectFault(src.id, 'kill-engine')).effect, /SIGKILL/, "the primary's engine killed (-9)")
  // Back: a write through the writer endpoint (the same primary started again, or the replica after a failover).
  await until(() => lab.ops.tryWrite(writer, 5000), 'a write through writer_endpoint again')
  const failedOver = api.notifications.list('trove.instance.auto_failover').length > 0
  t.comment(`redis: writes again ${Date.now() - killedAt} ms after the kill (${failedOver ? 'failed over' : 'the same primary, started again'})`)
  t.equal(await lab.ops.count(writer, all), all.length, 'every acknowledged write is on the primary')
  const other = failedOver ? src.id : rep.id
  await until(
    () =>
      lab.ops.count(addr(other), all).then(
        (c) => c === all.length,
        () => false,
      ),
    'every acknowledged write on the other member',
  )
  t.pass('and on the other member')

  // The control: an instance in no HA set runs the configured persistence (appendonly no) and loses them.
  const solo = await lab.client.instances.create({ name: 'dur-solo', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
  await lab.waitFor(solo.id, (i) => i.status === 'ACTIVE', 'solo ACTIVE')
  await lab.client.root.enable(solo.id, 'Pw-one-1')
  t.equal(await config(solo.id, 'appendonly'), 'no', 'out of an HA set: appendonly no (the configured value)')
  t.equal(await clientRun('redis', addr(solo.id), `MSET ${KEYS.map((k) => `k${k} v${k}`).join(' ')}`), 'OK', 'MSET acknowledged')
  const pid = lab.enginePid(solo.id)
  await lab.admin.mgmtInstances.injectFault(solo.id, 'kill-engine')
  await until(() => lab.enginePid(solo.id) !== pid && lab.ops.tryWrite(addr(solo.id), 5000).then((ok) => ok), 'the solo engine started again')
  const kept = await lab.ops.count(addr(solo.id), KEYS)
  t.comment(`redis without AOF: ${kept} of ${KEYS.length} acknowledged keys kept after kill -9`)
  t.ok(kept < KEYS.length, 'control: without the AOF, acknowledged writes are lost')
})
