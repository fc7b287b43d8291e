// Fault injection (issue 6) on a real lab, part 1 of 4 (test/helpers/chaos.ts has the shared
// parts): the server is SIGKILLed at every recorded step of the create, restart, delete and
// reboot flows (TROVE_TEST_CRASH_AT, see tasks/engine.ts) and restarted. `npm test` runs the lean
// mode (Redis, one round); `npm run chaos` (CHAOS=long) adds rounds, random kills mid-flow and the
// reboot flow.
import t from 'tap'
import { join } from 'node:path'
import type { TroveClient } from '../../src/sdk/index.js'
import { instanceDirs } from '../helpers/guest.js'
import { tempDir } from '../helpers/lab.js'
import { LONG, byName, clientOf, leftovers, needsRedis, redisCli, ROUNDS, sleep, startServer, until, crashAt as crashAtHelper, type CrashLab } from '../helpers/chaos.js'

t.test('chaos: the server killed at every recorded step of create, restart, reboot and delete', needsRedis, async (t) => {
  const dir = tempDir(t, 'tx')
  const dataDir = join(dir, 'lab')
  const created = new Map<string, { id: string; ip: string }>()

  const lab: CrashLab = { dataDir, server: await startServer(t, dataDir) }
  const crashAt = (point: string, act: (c: TroveClient) => Promise<unknown>, ready: string[] = []) => crashAtHelper(t, lab, point, act, ready)

  const c = () => clientOf(dataDir)
  const waitStatus = async (name: string, want: string, ms = 90_000) =>
    until(
      async () => {
        const i = await byName(c(), name)
        return i?.status === want
      },
      ms,
      `${name} ${want}`,
    )

  for (let round = 0; round < ROUNDS; round++) {
    const names = ['start', 'launch', 'wait'].map((s) => `cx${round}-${s}`)
    // Create: killed right after each of its steps is recorded; the build resumes at the next start.
    for (const [i, step] of ['start', 'launch', 'wait'].entries()) {
      await crashAt(`create_instance:${step}`, (cl) => cl.instances.create({ name: names[i]!, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } }))
      const ms = await waitStatus(names[i]!, 'ACTIVE')
      const inst = (await byName(c(), names[i]!))!
      t.pass(`create killed at ${step}: ACTIVE ${ms} ms after the restart`)
      t.equal(inst.operating_status, 'HEALTHY')
      created.set(names[i]!, { id: inst.id, ip: inst.ip?.[0] ?? '' })
      t.match(redisCli(dataDir, inst.id, 'PING'), /PONG/, 'its engine answers')
    }
    const listed = (await c().instances.page({ limit: 100 })).items.map((i) => i.name).sort()
    t.same(listed, [...created.keys()].sort(), 'every instance recorded before the crashes is there, once')
    t.equal(new Set([...created.values()].map((v) => v.ip)).size, created.size, 'no address given twice')

    // Restart: killed at its steps; the instance ends ACTIVE and HEALTHY, the task NONE.
    const data = names[0]!
    const { id: dataId } = created.get(data)!
    t.equal(redisCli(dataDir, dataId, 'SET', 'chaos:key', `round-${round}`), 'OK')
    t.equal(redisCli(dataDir, dataId, 'SAVE'), 'OK')
    for (const [i, step] of ['start', 'restart'].entries()) {
      const { id } = created.get(names[i]!)!
      await crashAt(`restart_instance:${step}`, (cl) => cl.request('POST', `/instances/${id}/action`, { body: { restart: {} } }), [id])
      const ms = await waitStatus(names[i]!, 'ACTIVE', 60_000)
      await until(async () => (await c().instances.get(id)).operating_status === 'HEALTHY', 180_000, 'HEALTHY')
      t.pass(`restart killed at ${step}: ACTIVE ${ms} ms after the restart`)
    }
    t.equal(redisCli(dataDir, dataId, 'GET', 'chaos:key'), `round-${round}`, 'the data written before is still there')

    if (LONG) {
      // Reboot (mgmt): stop, launch, wait.
      for (const step of ['stop', 'launch', 'wait']) {
        const { id } = created.get(names[2]!)!
        await crashAt(`reboot_instance:${step}`, () => clientOf(dataDir, 'trove-lab-admin').request('POST', `/mgmt/instances/${id}/action`, { body: { reboot: {} } }), [id])
        const ms = await waitStatus(names[2]!, 'ACTIVE', 90_000)
        t.pass(`reboot killed at ${step}: ACTIVE ${ms} ms after the restart`)
      }
      // A kill at a random moment of a create, not at a step boundary.
      const name = `cx${round}-random`
      await lab.server.child.kill('SIGTERM')
      await lab.server.exited
      lab.server = await startServer(t, dataDir)
      const pending = c()
        .instances.create({ name, flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
        .catch((e: Error) => e)
      await sleep(Math.floor(Math.random() * 1500))
      lab.server.child.kill('SIGKILL')
      await lab.server.exited
      await pending
      lab.server = await startServer(t, dataDir)
      const got = await byName(c(), name)
      if (got) {
        await waitStatus(name, 'ACTIVE')
        created.set(name, { id: got.id, ip: got.ip?.[0] ?? '' })
        t.pass('a create killed at a random moment ends ACTIVE')
      } else t.pass('a create killed before its row was written left no instance')
    }

    // Delete: killed at each step; the instance is gone for good and leaves nothing behind.
    const deletions: Array<[string, string]> = [
      ['start', names[0]!],
      ['stop', names[1]!],
      ['destroy', names[2]!],
    ]
    for (const [step, name] of deletions) {
      const { id, ip } = created.get(name)!
      await crashAt(`delete_instance:${step}`, (cl) => cl.instances.delete(id), [id])
      const ms = await until(async () => !(await byName(c(), name)), 60_000, `${name} deleted`)
      await until(() => leftovers(dataDir, id, ip).length === 0, 20_000, 'nothing left').catch(() => undefined)
      t.same(leftovers(dataDir, id, ip), [], `delete killed at ${step}: gone ${ms} ms after the restart, nothing left behind`)
      created.delete(name)
    }
  }
  for (const [name, { id }] of created)
    await c()
      .instances.delete(id)
      .then(() => until(async () => !(await byName(c(), name)), 60_000, 'deleted'))
  t.same(instanceDirs(dataDir), [], 'no instance directory left')
  t.notMatch(lab.server.out(), /error \S+ (GET|POST|PUT|PATCH|DELETE) /, 'no request ended in a 500')
})
