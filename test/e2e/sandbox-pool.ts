// The sandbox driver's pools (sandbox-pool.ts, docs/isolation.md "Pools") on real runc, CNI, nft and loop devices:
// a create takes a pooled namespace and volume, the pools refill, a crash's pooled parts are swept at the next
// start, and `trove server reset` removes the pooled parts too. Without warm sandboxes (test/e2e/sandbox-warm.ts), which
// would take the pooled parts first.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { netnsName } from '../../src/server/compute/network.js'
import { readSandboxRecord } from '../../src/server/compute/sandbox-guest.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import type { SandboxPools } from '../../src/server/compute/sandbox-pool.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { resetLab } from '../../src/server/index.js'
import { labClient, tempDir, buildServer } from '../helpers/lab.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'
import { redis, waitStatus } from '../helpers/sandbox-proc.js'

const why = sandboxLacking(['redis'], [['catatonit', ['--version']]])
if (why) t.plan(0, why)

/** Waits until the pools hold `n` ready parts of each kind and make none. */
async function full(p: SandboxPools, n: number): Promise<void> {
  while (p.netns.readyCount < n || p.volumes.readyCount < n || p.keys().length > n) await sleep(20)
  await Promise.all([p.netns.settled(), p.volumes.settled()])
}

/** Loop devices whose image is under `dir`. */
const loopsUnder = (dir: string) =>
  execFileSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { encoding: 'utf8' })
    .split('\n')
    .filter((f) => f.startsWith(`${dir}/`))

t.test('a create takes pooled parts, the pools refill, a crash and a reset leave none', async (t) => {
  const dataDir = join(tempDir(t), 'lab')
  const open = async () => {
    const server = await buildServer({ dataDir, host: '127.0.0.1', port: 0, isolation: 'sandbox', reconcileMs: 0, sandboxPool: 1, sandboxWarm: 0, log: () => {} })
    const { cloudsFile } = await server.start()
    const c = server.lab.compute as SandboxedCompute
    return { server, client: labClient(cloudsFile), c, pools: c.pools! }
  }
  let lab = await open()
  const first = lab.c
  t.teardown(async () => {
    await lab.server.close().catch(() => undefined)
    if (existsSync(dataDir)) await removeSandboxLab(first).catch(() => undefined)
  })
  await full(lab.pools, 1)
  const [netKey] = lab.pools.keys()
  const pooledNs = `/run/netns/${netnsName(netKey!)}`
  t.ok(existsSync(pooledNs), 'a namespace is pooled')
  t.equal(loopsUnder(join(dataDir, 'sandbox', 'pool')).length, 1, 'a volume is pooled (attached in the pool dir)')

  const inst = await lab.client.instances.create({ name: 'pooled', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
  const up = await waitStatus(lab.client, inst.id, 'BUILD')
  t.equal(up.status, 'ACTIVE', 'the pooled create is ACTIVE')
  const dir = lab.c.instanceDir(inst.id)
  const rec = readSandboxRecord(dir)
  t.equal(rec.netKey, netKey, 'the instance has the pooled namespace')
  t.equal(execFileSync('ip', ['-n', netnsName(netKey!), '-4', '-o', 'addr', 'show', 'eth0'], { encoding: 'utf8' }).includes(`${up.ip![0]}/`), true, 'with its address')
  t.same(loopsUnder(dir), [join(dir, 'volume.img')], 'the pooled volume is the instance’s image')
  t.equal(statSync(join(dir, 'mnt')).uid, rec.uid, 'its root is the instance’s uid’s')
  const root = await lab.client.root.enable(inst.id)
  t.match(await redis(up.ip![0]!, root.password, ['SET k v']), /\+OK\r\n\+OK/, 'Redis answers on the pooled address')

  await full(lab.pools, 1)
  t.not(lab.pools.keys()[0], netKey, 'the pools refilled with new parts')

  // A crash: the server ends without draining its pools (what a kill -9 leaves).
  const crashedKey = lab.pools.keys()[0]!
  const crashedLoops = loopsUnder(join(dataDir, 'sandbox', 'pool'))
  t.equal(crashedLoops.length, 1)
  await lab.c.pools?.halt() // a crash ends the refills too (none may mount a volume after the next start's sweep)
  lab.c.pools = undefined
  await lab.server.close()
  t.ok(existsSync(`/run/netns/${netnsName(crashedKey)}`), 'the crash left a pooled namespace')
  lab = await open()
  t.notOk(existsSync(`/run/netns/${netnsName(crashedKey)}`), 'the next start removed it')
  t.notOk(
    loopsUnder(join(dataDir, 'sandbox', 'pool')).some((f) => crashedLoops.includes(f)),
    'and the pooled volume',
  )
  t.ok(existsSync(pooledNs), 'the instance keeps its namespace')
  t.equal((await waitStatus(lab.client, inst.id, 'SHUTDOWN')).status, 'ACTIVE', 'and runs')

  // A reset with the pools full (the server stopped without draining them): nothing of the lab is left.
  await full(lab.pools, 1)
  const lastKey = lab.pools.keys()[0]!
  await lab.c.pools?.halt()
  lab.c.pools = undefined
  await lab.server.close()
  await resetLab(dataDir)
  t.notOk(existsSync(dataDir), 'the lab is gone')
  for (const k of [netKey!, lastKey]) t.notOk(existsSync(`/run/netns/${netnsName(k)}`), `no namespace ${netnsName(k)}`)
  t.same(loopsUnder(dataDir), [], 'no loop device')
})
