// Resize of sandboxed instances end to end (docs/isolation.md, issue 14): the volume (a loop-mounted ext4
// image) grows, per engine, with the data kept; a full volume fails the engine's writes with "No space left
// on device", the instance goes ERROR with a fault saying so and is ACTIVE and writable again after the
// resize; a size beyond the host's free space is refused with the figures; a new flavor moves the sandbox's
// memory, CPU and pids limits (its cgroup files) and the engine's own settings.
import t, { type Test } from 'tap'
import { readFileSync, readdirSync, statSync, statfsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execInSandbox, sandboxCgroupDirs } from '../../src/server/compute/sandbox.js'
import { removeSandboxLab } from '../../src/server/compute/sandbox-lab.js'
import type { SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { updateSandboxLimits } from '../../src/server/compute/sandbox-resize.js'
import type { Instance, TroveClient } from '../../src/sdk/index.js'
import { labClient, startLab } from '../helpers/lab.js'
import { sharedSandboxTemplates } from '../helpers/sandbox-templates.js'
import { engineClient, writeRows } from '../helpers/clients.js'
import { sandboxLacking } from '../helpers/sandbox-host.js'

const why = sandboxLacking(['redis', 'mariadb', 'postgresql'], [['resize2fs', []]])
if (why) t.plan(0, why)

const GB = 1024 ** 3

/** Polls until the instance's status is no longer `from` (long poll where the server offers it). */
async function waitInstance(client: TroveClient, id: string, from: string): Promise<Instance> {
  const deadline = Date.now() + 600_000
  for (;;) {
    const i = await client.instances.get(id)
    if (i.status !== from || Date.now() > deadline) return i
    await (client.instances.changed(id, from, 20_000) ?? sleep(200))
  }
}

/** Polls until `ok` holds for the instance (a status reached from a heartbeat, not a task). */
async function waitFor(client: TroveClient, id: string, ok: (i: Instance) => boolean, what: string): Promise<Instance> {
  const deadline = Date.now() + 300_000
  for (;;) {
    const i = await client.instances.get(id)
    if (ok(i)) return i
    if (Date.now() > deadline) throw new Error(`instance ${id}: not ${what} in 300 s (status ${i.status})`)
    await (client.instances.changed(id, i.status, 5_000) ?? sleep(200))
  }
}

/** The volume as the host's kernel sees it: the filesystem's size and what the engine's uid may still write. */
function fsOf(c: SandboxedCompute, id: string): { total: number; avail: number; image: number } {
  const s = statfsSync(join(c.instanceDir(id), 'mnt'))
  return { total: s.blocks * s.bsize, avail: s.bavail * s.bsize, image: statSync(join(c.instanceDir(id), 'volume.img')).size }
}

/** A file under the volume (host side) whose name matches, e.g. the engine's log or config. */
function findIn(dir: string, re: RegExp, depth = 3): string | undefined {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isFile() && re.test(e.name)) return p
    if (e.isDirectory() && depth > 0 && e.name !== 'data' && e.name !== 'lost+found') {
      const f = findIn(p, re, depth - 1)
      if (f) return f
    }
  }
  return undefined
}

/** The sandbox's cgroup file `name` (whichever hierarchy has it). */
function cgroupFile(c: SandboxedCompute, id: string, name: string): string | undefined {
  for (const dir of sandboxCgroupDirs(c.runtime, id)) {
    try {
      return readFileSync(join(dir, name), 'utf8').trim()
    } catch {
      /* not this hierarchy */
    }
  }
  return undefined
}

async function createActive(t: Test, c: SandboxedCompute, client: TroveClient, body: Parameters<TroveClient['instances']['create']>[0]): Promise<Instance> {
  const made = await client.instances.create(body)
  const inst = await waitInstance(client, made.id, 'BUILD')
  if (inst.status !== 'ACTIVE') {
    const log = (f: string) => {
      try {
        return readFileSync(f, 'utf8').slice(-3000)
      } catch {
        return ''
      }
    }
    t.fail(`${body.name}: ${inst.status}; sandbox.log: ${log(join(c.instanceDir(made.id), 'sandbox.log'))}`)
  }
  return inst
}

/**
 * Fills the volume as a tenant's shell would (the instance's uid, inside its sandbox): all but `leaveMb`
 * at once (fallocate), then, with `leaveMb` 0, the rest written until the kernel says ENOSPC (dd's stderr).
 */
async function fillFromShell(c: SandboxedCompute, id: string, leaveMb: number): Promise<string> {
  const mb = Math.floor(fsOf(c, id).avail / 1024 ** 2) - Math.max(leaveMb, 8)
  const f = await execInSandbox(c.runtime, id, ['fallocate', '-l', `${mb}M`, '/var/lib/trove-instance/fill'])
  if (f.code !== 0) throw new Error(`fallocate: ${f.stderr}`)
  if (leaveMb > 0) return ''
  const r = await execInSandbox(c.runtime, id, ['dd', 'if=/dev/zero', 'of=/var/lib/trove-instance/fill-rest', 'bs=1M'], 300_000)
  return r.stderr
}

t.test('resize of sandboxed instances: the volume grows (disk full cured), the flavor moves the limits', async (t) => {
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0, maxVolumeSize: 100_000, ...sharedSandboxTemplates })
  const c = lab.server.lab.compute as SandboxedCompute
  t.teardown(() => removeSandboxLab(c))
  const client = labClient(lab.cloudsFile)
  const admin = labClient(lab.cloudsFile, {}, 'trove-lab-admin')

  for (const engine of ['redis', 'postgresql', 'mariadb']) {
    await t.test(engine, async (t) => {
      const users = engine === 'redis' ? {} : { databases: [{ name: 'd1' }], users: [{ name: 'u1', password: 'Pw-one-1', databases: [{ name: 'd1' }] }] }
      const inst = await createActive(t, c, client, { name: `rs-${engine}`, flavorRef: '1', volume: { size: 1 }, datastore: { type: engine }, ...users })
      if (inst.status !== 'ACTIVE') return
      const id = inst.id
      const ip = inst.ip![0]!
      const [user, pw] = engine === 'redis' ? ['root', (await client.root.enable(id)).password] : ['u1', 'Pw-one-1']
      const sql = (q: string) => engineClient(engine, ip, user, pw, q)
      writeRows(engine, ip, user, pw, 1, 100)
      const before = fsOf(c, id)
      t.ok(before.total > 0.9 * GB && before.total <= GB, `a 1 GB filesystem (${before.total} bytes)`)

      // Beyond the host's free space: refused with the figures, nothing changed.
      const tenant = lab.server.lab.instances.get(id)!.tenant_id
      await admin.request('PUT', `/mgmt/quotas/${tenant}`, { body: { quotas: { volumes: -1 } } })
      const hostFree = statfsSync(c.instancesDir).bavail * statfsSync(c.instancesDir).bsize
      const tooBig = Math.ceil(hostFree / GB) + 10
      await t.rejects(
        client.instances.resizeVolume(id, tooBig),
        { status: 400, message: new RegExp(`to ${tooBig} GB is refused: it needs [\\d.]+ GB more on the host, which has [\\d.]+ GB free`) },
        `a volume of ${tooBig} GB refused with the figures`,
      )
      t.equal((await client.instances.get(id)).status, 'ACTIVE', 'still ACTIVE')
      t.equal(fsOf(c, id).image, before.image, 'the image unchanged')

      // Disk full (Redis and PostgreSQL): the engine's writes fail with ENOSPC; the instance says so.
      if (engine === 'redis') {
        // 16 MB of values that do not compress: the next snapshot (dump.rdb) cannot fit once the volume is full.
        sql(Array.from({ length: 16 }, (_, i) => `SET big${i} ${randomBytes(512 * 1024).toString('hex')}`).join('\n') + '\n')
        // Saved while there is room: what Redis holds in memory only is lost when it cannot save at its stop
        // (the offline grow stops it; a Redis that cannot persist refuses writes meanwhile: MISCONF below).
        t.equal(sql('SAVE'), 'OK', 'saved before the volume fills')
        t.match(await fillFromShell(c, id, 0), /No space left on device/, "a tenant's shell fills the volume")
        sql('BGSAVE')
        // Redis's own log (the agent's agent.log beside it in the volume is not the engine's).
        const logFile = findIn(join(c.instanceDir(id), 'mnt'), /^redis.*\.log$/)
        let saved = ''
        for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(200)) {
          saved = sql('INFO persistence')
          if (/rdb_bgsave_in_progress:0/.test(saved) && /rdb_last_bgsave_status:err/.test(saved)) break
        }
        t.match(saved, /rdb_last_bgsave_status:err/, 'the engine could not save (BGSAVE failed)')
        t.match(sql('SET after-full 1'), /MISCONF/, 'writes refused by the engine (MISCONF: unable to persist to disk)')
        if (logFile) t.match(readFileSync(logFile, 'utf8'), /No space left on device/, `the engine's log says "No space left on device" (${logFile})`)
      } else if (engine === 'postgresql') {
        // The tenant's other files take all but 64 MB; its table grows past that.
        await fillFromShell(c, id, 64)
        let err = ''
        try {
          // Unlogged (no WAL for the rows) and stored out of line, uncompressed: the table itself fills the volume.
          sql(`CREATE UNLOGGED TABLE big (v text); ALTER TABLE big ALTER v SET STORAGE EXTERNAL; INSERT INTO big SELECT repeat(md5(g::text), 3200) FROM generate_series(1, 20000) g;`)
        } catch (e) {
          err = (e as Error).message
        }
        t.match(err, /No space left on device/, 'the engine fails the write: No space left on device')
        // A new session may be refused while the volume is full: its backend can need a buffer whose dirty page it
        // then fails to write ("could not write block ...: No space left on device", seen in one run). The server is
        // alive and the next session is served: asked until one is (a deadline ends a hang only).
        const refused: string[] = []
        let answer = ''
        for (const deadline = Date.now() + 60_000; !answer && Date.now() < deadline; ) {
          try {
            answer = sql('SELECT 1;')
          } catch (e) {
            refused.push((e as Error).message)
            await sleep(200)
          }
        }
        t.equal(answer, '1', `and keeps answering${refused.length ? ` (${refused.length} sessions refused first: ${refused[0]})` : ''}`)
      }
      if (engine !== 'mariadb') {
        const full = await waitFor(client, id, (i) => i.status === 'ERROR', 'ERROR')
        t.match(full.fault?.message, /^Volume full: [\d.]+ of [\d.]+ GB used, no space left .*Resize the volume/, `ERROR with the fault: ${full.fault?.message}`)
        t.ok(fsOf(c, id).avail < 0.01 * GB, `the filesystem has ${fsOf(c, id).avail} bytes left for the engine`)
      }

      // Grow to 2 GB: the data kept, the filesystem 2 GB, the engine writes again, ACTIVE.
      const t0 = Date.now()
      await client.instances.resizeVolume(id, 2)
      const grown = await waitInstance(client, id, 'RESIZE')
      if (grown.volume?.size !== 2) t.comment(`${engine}: ${grown.status} ${grown.fault?.message}\n${lab.logs.filter((l) => l.includes(id)).join('\n')}`)
      t.comment(`${engine}: resize volume 1 -> 2 GB took ${Date.now() - t0} ms (API call to ACTIVE)`)
      const after = await waitFor(client, id, (i) => i.status === 'ACTIVE', 'ACTIVE')
      t.equal(grown.volume?.size, 2, 'the instance shows 2 GB')
      const now = fsOf(c, id)
      t.equal(now.image, 2 * GB, 'the image is 2 GB')
      t.ok(now.total > 1.9 * GB && now.total <= 2 * GB, `the filesystem is 2 GB (${now.total} bytes)`)
      t.ok(now.avail > 0.9 * GB, `with ${now.avail} bytes free`)
      t.ok((after.volume?.used ?? 0) > 0, `usage from the filesystem: ${after.volume?.used} GB, ${after.volume?.used_percent}%`)
      t.ok(after.volume && after.volume.used_percent! < 60, 'under 60% of the new size')
      const count = engine === 'redis' ? sql('DBSIZE') : sql('SELECT count(*) FROM t;')
      t.ok(Number(count) >= 100, `the data kept (${count})`)
      if (engine === 'redis') {
        t.match(sql('BGSAVE'), /Background saving started|already in progress/, 'BGSAVE again')
        for (let i = 0; i < 300 && !/rdb_bgsave_in_progress:0/.test(sql('INFO persistence')); i++) await sleep(100)
        t.match(sql('INFO persistence'), /rdb_last_bgsave_status:ok/, 'the engine saves again')
      }
      writeRows(engine, ip, user, pw, 101, 200)
      t.ok(Number(engine === 'redis' ? sql('DBSIZE') : sql('SELECT count(*) FROM t;')) >= 200, 'writes work again')
      const logs = lab.logs.filter((l) => l.includes(id) && /volume grown (offline|online)|sandbox down/.test(l))
      t.comment(logs.join('\n'))
      await t.rejects(client.instances.resizeVolume(id, 1), { status: 400, message: /must be larger than the current volume size of '2'/ }, 'a shrink refused as upstream does')

      // The flavor (Redis): the sandbox's limits move (its cgroup files), and the engine's maxmemory.
      if (engine === 'redis') {
        const conf = () => findIn(join(c.instanceDir(id), 'mnt'), /^redis\.conf$/)
        const maxmem = () => /^maxmemory (\d+)/m.exec(readFileSync(conf()!, 'utf8'))?.[1]
        const mem0 = maxmem()
        t.equal(cgroupFile(c, id, 'memory.limit_in_bytes') ?? cgroupFile(c, id, 'memory.max'), String(512 * 1024 * 1024), 'memory limit of m1.tiny: 512 MiB')
        await client.instances.resizeFlavor(id, '3')
        const resized = await waitInstance(client, id, 'RESIZE')
        t.equal(resized.status, 'ACTIVE', 'ACTIVE after the flavor resize')
        t.equal(resized.flavor?.id, '3', 'flavor m1.medium')
        const v1 = cgroupFile(c, id, 'memory.limit_in_bytes')
        if (v1 !== undefined) {
          t.equal(v1, String(2048 * 1024 * 1024), 'memory.limit_in_bytes: 2 GiB')
          t.equal(cgroupFile(c, id, 'memory.memsw.limit_in_bytes') ?? String(2048 * 1024 * 1024), String(2048 * 1024 * 1024), 'memory+swap the same: no swap')
          t.equal(cgroupFile(c, id, 'cpu.cfs_quota_us'), '200000', 'cpu.cfs_quota_us: 2 vCPUs')
          t.equal(cgroupFile(c, id, 'cpu.cfs_period_us'), '100000', 'cpu.cfs_period_us')
        } else {
          t.equal(cgroupFile(c, id, 'memory.max'), String(2048 * 1024 * 1024), 'memory.max: 2 GiB')
          t.equal(cgroupFile(c, id, 'cpu.max'), '200000 100000', 'cpu.max: 2 vCPUs')
        }
        t.equal(cgroupFile(c, id, 'pids.max'), '1024', 'pids.max')
        const sandboxRecord = JSON.parse(readFileSync(join(c.instanceDir(id), 'sandbox.json'), 'utf8')) as { flavor: { ramMb: number; vcpus: number } }
        t.same(sandboxRecord.flavor, { ramMb: 2048, vcpus: 2 }, 'the record has the new flavor (a new sandbox starts with it)')
        t.not(maxmem(), mem0, `the engine's maxmemory follows the flavor (${mem0} -> ${maxmem()})`)
        t.equal(sql('GET k1'), 'v1', 'data still there after the engine restarted with its new settings')
      }
    })
  }
})

/** The kernel's count of OOM kills in the sandbox's memory cgroup (v1 memory.oom_control, v2 memory.events). */
function oomKills(c: SandboxedCompute, id: string): number {
  const text = cgroupFile(c, id, 'memory.oom_control') ?? cgroupFile(c, id, 'memory.events') ?? ''
  return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? Number.NaN)
}

t.test("the flavor's memory limit is the kernel's: an engine past it is killed, and the agent starts it again", async (t) => {
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0, ...sharedSandboxTemplates })
  const c = lab.server.lab.compute as SandboxedCompute
  t.teardown(() => removeSandboxLab(c))
  const client = labClient(lab.cloudsFile)
  // m1.tiny: a 512 MiB sandbox, Redis's maxmemory 384 MB.
  const inst = await createActive(t, c, client, { name: 'oom-redis', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
  if (inst.status !== 'ACTIVE') return
  const id = inst.id
  const ip = inst.ip![0]!
  const pw = (await client.root.enable(id)).password
  const sql = (q: string) => engineClient('redis', ip, 'root', pw, q)
  t.equal(cgroupFile(c, id, 'memory.limit_in_bytes') ?? cgroupFile(c, id, 'memory.max'), String(512 * 1024 * 1024), 'the sandbox may use 512 MiB')
  const kills0 = oomKills(c, id)
  t.ok(Number.isFinite(kills0), `the cgroup counts OOM kills (${kills0})`)
  const engine0 = lab.server.lab.instances.guestStatus(id)?.engine_pid
  t.ok(engine0, `the engine's pid ${engine0}`)

  // The engine's own limit (maxmemory 384 MB) above the sandbox's: the sandbox's limit lowered to 256 MiB (runc
  // update, as a flavor resize does), Redis grows past it and, the largest process there, is what the kernel's
  // OOM killer ends.
  await updateSandboxLimits(c.runtime, id, { memoryBytes: 256 * 1024 * 1024, cpus: 1, pids: 1024 })
  t.equal(cgroupFile(c, id, 'memory.limit_in_bytes') ?? cgroupFile(c, id, 'memory.max'), String(256 * 1024 * 1024), 'the sandbox may now use 256 MiB')
  let answer = ''
  for (let i = 0; i < 40 && oomKills(c, id) === kills0; i++) {
    try {
      answer = sql(Array.from({ length: 10 }, (_, j) => `SET m${i}-${j} ${randomBytes(512 * 1024).toString('hex')}`).join('\n') + '\n')
    } catch (e) {
      answer = (e as Error).message
      break
    }
    if (/OOM command not allowed/.test(answer)) break
  }
  t.ok(oomKills(c, id) > kills0, `the kernel killed in the sandbox (oom_kill ${kills0} -> ${oomKills(c, id)}); Redis said: ${answer.slice(0, 120)}`)
  const healthy = await waitFor(
    client,
    id,
    (i) => {
      const g = lab.server.lab.instances.guestStatus(id)
      return i.status === 'ACTIVE' && g?.status_description === 'healthy' && g.engine_pid !== null && g.engine_pid !== engine0
    },
    'healthy with a new engine',
  )
  t.equal(healthy.status, 'ACTIVE', `the engine was killed and started again by the agent (pid ${engine0} -> ${lab.server.lab.instances.guestStatus(id)?.engine_pid})`)
  t.match(sql('PING'), /PONG/, 'Redis answers again')
  t.match(sql('SET after-oom 1'), /OK/, 'and takes writes')
})
