// Fault injection (issue 6), part 4 of 4: the volume fills up; the API stays clear and the
// instance recovers when space is freed.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs'
import { join } from 'node:path'
import { killEverythingUnder } from '../helpers/lab.js'
import { clientOf, instanceDir, needsRedis, redisCli, sleep, startServer, until } from '../helpers/chaos.js'

t.test('chaos: a full volume is reported clearly and recovers when space is freed', needsRedis, async (t) => {
  // The lab's whole data directory (database, instances) on a small tmpfs.
  const root = mkdtempSync('/tmp/tz.')
  chmodSync(root, 0o711)
  const dataDir = join(root, 'lab')
  mkdirSync(dataDir, { mode: 0o711 })
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0711', 'tmpfs', dataDir]).status === 0
  if (!mounted) {
    rmSync(root, { recursive: true, force: true })
    t.comment('cannot mount a tmpfs here: not checked')
    return
  }
  t.teardown(async () => {
    await killEverythingUnder(root)
    spawnSync('umount', ['-l', dataDir])
    rmSync(root, { recursive: true, force: true })
  })
  // The `none` volume (a directory on the lab's disk, here a small tmpfs) whatever TROVE_ISOLATION says: a sandbox's own
  // ext4 volume filling up is test/e2e/isolation-sandbox.ts's.
  const server = await startServer(t, dataDir, { TROVE_ISOLATION: 'none' })
  const c = () => clientOf(dataDir)
  const inst = await c().instances.create({ name: 'full', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
  await until(async () => (await c().instances.get(inst.id)).status === 'ACTIVE', 90_000, 'ACTIVE')
  t.equal(redisCli(dataDir, inst.id, 'SET', 'before', 'full'), 'OK')

  // Fill every byte left.
  const filler = join(instanceDir(dataDir, inst.id), 'data', 'filler')
  const fs = statfsSync(dataDir)
  spawnSync('fallocate', ['-l', String(fs.bavail * fs.bsize), filler])
  spawnSync('dd', ['if=/dev/zero', `of=${filler}.2`, 'bs=64k'], { stdio: 'ignore' })
  t.equal(statfsSync(dataDir).bavail, 0, 'the volume is full')
  t.match(redisCli(dataDir, inst.id, 'SAVE'), /ERR|error/i, 'the engine cannot save')
  await sleep(3000)
  const shown = await c().request<{ instance: Record<string, any> }>('GET', `/instances/${inst.id}`)
  t.equal(shown.status, 200, 'show still answers (no 500)')
  t.comment(`while full: status ${shown.body.instance.status}, operating_status ${shown.body.instance.operating_status}, volume ${JSON.stringify(shown.body.instance.volume)}`)
  t.ok(['ACTIVE', 'ERROR'].includes(shown.body.instance.status), 'a clear state')
  const listed = await c().request('GET', '/instances')
  t.equal(listed.status, 200, 'list answers')
  const refused = await c()
    .request('POST', '/instances', { body: { instance: { name: 'no-room', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } } } })
    .catch((e: { status?: number }) => e)
  t.equal((refused as { status?: number }).status, 503, 'a create on a full disk: 503 with Retry-After, never a 500')

  // Free the space: everything works again.
  rmSync(filler, { force: true })
  rmSync(`${filler}.2`, { force: true })
  await until(() => redisCli(dataDir, inst.id, 'SAVE') === 'OK', 180_000, 'SAVE works again')
  t.equal(redisCli(dataDir, inst.id, 'SET', 'after', 'freed'), 'OK', 'writes work again')
  await until(
    async () => {
      const i = await c().instances.get(inst.id)
      return i.status === 'ACTIVE' && i.operating_status === 'HEALTHY'
    },
    180_000,
    'ACTIVE and HEALTHY',
  )
  t.pass('ACTIVE and HEALTHY after the space was freed')
  for (const i of (await c().instances.page({ limit: 100 })).items) await c().instances.delete(i.id)
  await until(async () => (await c().instances.page({ limit: 100 })).items.length === 0, 60_000, 'deleted')
  server.child.kill('SIGTERM')
  await server.exited
  t.notMatch(server.out(), /error \S+ (GET|POST|PUT|PATCH|DELETE) /, 'no request ended in a 500')
})
