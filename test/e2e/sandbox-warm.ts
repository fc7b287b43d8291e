// Warm sandboxes (sandbox-warm.ts, docs/isolation.md "Warm sandboxes") on real runc, CNI, nft and loop devices: one
// made ahead with its agent waiting (no bootstrap, no credentials), kept by the reconciler, taken whole by a create of
// a 1 GB volume (the instance gets its id, the flavor's limits, its own filter entry), another made after it; a
// create of another size takes the usual path; a crash's warm sandbox is removed at the next start.
import t from 'tap'
import { existsSync, lstatSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { INSTANCE_FILES } from '../../src/protocol/index.js'
import { readSandboxRecord } from '../../src/server/compute/sandbox-guest.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import { listSandboxes, sandboxCgroupDirs } from '../../src/server/compute/sandbox.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { Reconciler } from '../../src/server/reconcile.js'
import { labClient, tempDir, buildServer } from '../helpers/lab.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'
import { redis, sandboxPids, uidsOf, waitStatus } from '../helpers/sandbox-proc.js'

const why = sandboxLacking(['redis'], [['catatonit', ['--version']]])
if (why) t.plan(0, why)

/** Until the lab holds a warm sandbox ready (none being made); its id. */
async function warmReady(c: SandboxedCompute): Promise<string> {
  while (!c.warm || c.warm.readyCount < 1 || c.warm.keys().length !== 1) await sleep(20)
  return c.warm.keys()[0]!
}

/** The sandbox's memory limit in bytes (cgroup v1 or v2), as the kernel has it. */
function memoryLimit(c: SandboxedCompute, id: string): number | undefined {
  for (const dir of sandboxCgroupDirs(c.runtime, id)) {
    for (const f of ['memory.limit_in_bytes', 'memory.max']) {
      if (existsSync(join(dir, f))) return Number(readFileSync(join(dir, f), 'utf8').trim())
    }
  }
  return undefined
}

t.test('a warm sandbox: made ahead, kept, taken whole by a create, made again; a crash leaves none', async (t) => {
  const dataDir = join(tempDir(t), 'lab')
  const logs: string[] = []
  const open = async () => {
    const server = await buildServer({ dataDir, host: '127.0.0.1', port: 0, isolation: 'sandbox', reconcileMs: 0, sandboxPool: 1, log: (m) => logs.push(m) })
    const { cloudsFile } = await server.start()
    return { server, client: labClient(cloudsFile), c: server.lab.compute as SandboxedCompute }
  }
  let lab = await open()
  const first = lab.c
  t.teardown(async () => {
    await lab.server.close().catch(() => undefined)
    if (existsSync(dataDir)) await removeSandboxLab(first).catch(() => undefined)
  })

  // 1. Made ahead: a sandbox whose agent runs as its uid and waits, with nothing of an instance.
  const warmId = await warmReady(lab.c)
  const dir = lab.c.instanceDir(warmId)
  const rec = readSandboxRecord(dir)
  t.match(rec, { warm: true, awaiting: true }, 'its record says warm, its agent awaiting')
  const agent = lab.c.agentPid(warmId)
  t.ok(agent, 'its agent runs')
  t.same(uidsOf(agent!), [rec.uid, rec.uid, rec.uid, rec.uid], "as the sandbox's uid")
  t.match(readFileSync(`/proc/${agent}/cmdline`, 'utf8'), /--await-config/, 'waiting for a bootstrap (--await-config)')
  t.notOk(existsSync(join(dir, 'mnt', INSTANCE_FILES.bootstrap)), 'no bootstrap (no credentials) in its volume')
  t.ok(lstatSync(join(dir, 'mnt', INSTANCE_FILES.awaiting), { throwIfNoEntry: false })?.isFile(), "its agent's marker: it waits")
  const report = await new Reconciler(lab.server.lab, { graceMs: 0 }).run()
  t.notOk(report.orphanDirs.includes(warmId), 'the reconciler keeps it (no row names it, the lab does)')
  t.ok(existsSync(dir), '...its directory there')

  // 2. A create of a 1 GB volume takes it whole: the instance's id, its flavor's limits, its filter entry.
  const inst = await lab.client.instances.create({ name: 'warm', flavorRef: '2', volume: { size: 1 }, datastore: { type: 'redis' } })
  t.equal(inst.id, warmId, "the instance has the warm sandbox's id")
  const up = await waitStatus(lab.client, inst.id, 'BUILD')
  t.equal(up.status, 'ACTIVE', 'ACTIVE')
  t.match(logs.join('\n'), new RegExp(`instance ${warmId}: warm sandbox, limits in \\d+ ms`), 'launched by handing the bootstrap over')
  const taken = readSandboxRecord(dir)
  t.notOk(taken.warm || taken.awaiting, 'its record is an instance’s now')
  t.match(taken, { port: 6379, flavor: { ramMb: 1024, vcpus: 1 } }, "with the engine's port and the flavor")
  t.equal(memoryLimit(lab.c, inst.id), 1024 * 1024 * 1024, "the sandbox's memory limit is m1.small's 1 GB (it started with m1.tiny's)")
  t.equal(lab.c.agentPid(inst.id), agent, 'the agent that waited is the instance’s')
  t.notOk(existsSync(join(dir, 'mnt', INSTANCE_FILES.awaiting)), 'its marker gone')
  t.ok(sandboxPids(lab.c, inst.id).length >= 3, 'init, agent and engine in its cgroup')
  const root = await lab.client.root.enable(inst.id)
  t.match(await redis(up.ip![0]!, root.password, ['SET k v']), /\+OK\r\n\+OK/, 'Redis answers on its address')

  // 3. Another is made (under a new id); a create of another size takes the usual path.
  const next = await warmReady(lab.c)
  t.not(next, warmId, 'a new warm sandbox, under a new id')
  const cold = await lab.client.instances.create({ name: 'cold', flavorRef: '1', volume: { size: 2 }, datastore: { type: 'redis' } })
  t.not(cold.id, next, 'a 2 GB create does not take the 1 GB warm sandbox')
  t.equal((await waitStatus(lab.client, cold.id, 'BUILD')).status, 'ACTIVE', 'and is ACTIVE the usual way')
  t.notOk(readSandboxRecord(lab.c.instanceDir(cold.id)).awaiting, 'its agent read its bootstrap at start')
  t.equal(lab.c.warm!.keys()[0], next, 'the warm sandbox is still there')

  // 4. A crash: the server ends without removing its warm sandbox; the next start does. A crash ends the process's
  // refills and makes too: halted first, so that none of this lab's ends after the next start's sweep (a refill's
  // volume mounted in the pool's directory then was seen on a busy machine: EBUSY at the teardown).
  await lab.c.warm?.halt()
  await lab.c.pools?.halt()
  lab.c.warm = undefined
  lab.c.pools = undefined
  await lab.server.close()
  t.ok(existsSync(lab.c.instanceDir(next)), 'the crash left the warm sandbox')
  t.ok((await listSandboxes(lab.c.runtime)).includes(next), '...running')
  lab = await open()
  t.notOk(existsSync(lab.c.instanceDir(next)), 'the next start removed it')
  t.notOk((await listSandboxes(lab.c.runtime)).includes(next), '...and its sandbox')
  t.match(logs.join('\n'), new RegExp(`swept warm sandbox ${next}`))
  for (const id of [inst.id, cold.id]) t.equal((await lab.client.instances.get(id)).status, 'ACTIVE', 'the instances are untouched')
  await lab.client.instances.delete(inst.id)
  await lab.client.instances.delete(cold.id)
  for (const id of [inst.id, cold.id]) while (existsSync(lab.c.instanceDir(id))) await sleep(50)
  t.pass('both deleted')
})
