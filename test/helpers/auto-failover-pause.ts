// Fast dead-link detection in HA sets (docs/ha.md "Dead links") end to end on a real engine: the replication-link
// timeouts an HA member runs, a primary under a CPU hog or on a slow disk that is NOT failed over, a SIGSTOPped primary that is,
// within a bound, its rejoin once thawed, and the engine's defaults back when the flag goes off.
import type { Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { availableParallelism } from 'node:os'
import { clientRun, createHaSet, HA, startHaLab, until, type HaEngine } from './auto-failover.js'
import { superSql } from './clients.js'
import { running } from './guest.js'
import { BLKIO_ROOT, sweepSlowDiskCgroups } from './slow-disk-sweep.js'
import { linkTimeoutSeconds } from '../../src/protocol/index.js'

/** The link timeout the engine runs now, in seconds (as u1 / root over TCP). */
async function linkTimeout(engine: HaEngine, ip: string): Promise<number> {
  if (engine === 'postgresql') {
    const v = await clientRun(engine, ip, 'SHOW wal_receiver_timeout;')
    return v.endsWith('min') ? Number.parseInt(v, 10) * 60 : v.endsWith('ms') ? Number.parseInt(v, 10) / 1000 : Number.parseInt(v, 10)
  }
  if (engine === 'mariadb') {
    // A replica's heartbeat period goes with it (1 s in a set, half the timeout out of one): checked at once.
    const [timeout, period] = (await clientRun(engine, ip, "SELECT @@slave_net_timeout, (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_HEARTBEAT_PERIOD');"))
      .split('\t')
      .map(Number)
    const replica = (await clientRun(engine, ip, 'SELECT @@read_only;')) === '1'
    return !replica || period === (timeout === DEFAULT_LINK_S ? DEFAULT_LINK_S / 2 : 1) ? timeout! : -1
  }
  return Number((await clientRun(engine, ip, 'CONFIG GET repl-timeout')).split('\n')[1])
}

/** The engine's default link timeout (PostgreSQL wal_receiver_timeout 60 s, MariaDB slave_net_timeout 60 s, Redis repl-timeout 60 s). */
const DEFAULT_LINK_S = 60

/** `pid` and every process under it (from /proc: each process's parent). */
function treeOf(pid: number): number[] {
  const parent = new Map<number, number>()
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      // stat: "pid (comm) state ppid ...": the fields after the last ')'.
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8')
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {
      /* gone meanwhile */
    }
  }
  const out = [pid]
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p)
  return out
}

/**
 * A CPU hog aimed at the primary: its agent and engine processes at nice 19, with busy loops at nice 19 too,
 * two per core: they share the CPU equally with the primary (which gets a fraction of what is left), while the
 * rest of the machine (the server, other tests at nice 0) hardly notices them. Returns the loops. Each loop
 * ends by itself once this test process is gone (`kill -0`, a shell builtin, is its condition): a test file
 * killed by tap's timeout runs no teardown, and its loops had run on for as long as the machine did.
 */
function cpuHog(pids: number[]): ChildProcess[] {
  for (const p of pids) for (const q of treeOf(p)) spawnSync('renice', ['-n', '19', '-p', String(q)], { stdio: 'ignore' })
  return Array.from({ length: availableParallelism() * 2 }, () => spawn('nice', ['-n', '19', 'sh', '-c', `while kill -0 ${process.pid} 2>/dev/null; do :; done`], { stdio: 'ignore' }))
}

/** What the slow disk allows: writes a second and bytes a second, to the device that holds the instance's files. */
const SLOW_IOPS = 20
const SLOW_BPS = 1024 * 1024

/**
 * A slow disk under the primary (cgroup v1 blkio throttling): its agent's and engine's processes (those to come
 * too: a child stays in its parent's cgroup) moved into a blkio cgroup of their own whose writes to the whole disk
 * that holds `dir` are throttled; the writes a commit waits for (fsync, O_DIRECT) are the ones the throttle sees.
 * `undo` moves them back and removes it. A string where the host cannot: no blkio hierarchy (cgroup v2's io
 * controller would move the processes out of their own cgroups for every controller), or no block device.
 */
function slowDisk(dir: string, pids: number[]): { what: string; writes(): number; undo(): void } | string {
  const root = BLKIO_ROOT
  if (!existsSync(join(root, 'blkio.throttle.write_iops_device'))) return 'this host has no cgroup v1 blkio hierarchy'
  const source = spawnSync('findmnt', ['-n', '-o', 'SOURCE', '-T', dir], { encoding: 'utf8' }).stdout.trim()
  const parent = spawnSync('lsblk', ['-n', '-d', '-o', 'PKNAME', source], { encoding: 'utf8' }).stdout.trim()
  const disk = parent ? `/dev/${parent}` : source
  const majMin = spawnSync('lsblk', ['-n', '-d', '-o', 'MAJ:MIN', disk], { encoding: 'utf8' }).stdout.trim()
  if (!/^\d+:\d+$/.test(majMin)) return `${dir} is on no block device (${source || 'unknown'})`
  sweepSlowDiskCgroups()
  const cg = join(root, `trove-slow-disk-${process.pid}`)
  mkdirSync(cg, { recursive: true })
  writeFileSync(join(cg, 'blkio.throttle.write_iops_device'), `${majMin} ${SLOW_IOPS}`)
  writeFileSync(join(cg, 'blkio.throttle.write_bps_device'), `${majMin} ${SLOW_BPS}`)
  const moved = new Map<number, string>()
  for (const p of pids.flatMap(treeOf)) {
    try {
      const was = /^\d+:blkio:(.*)$/m.exec(readFileSync(`/proc/${p}/cgroup`, 'utf8'))?.[1] ?? '/'
      writeFileSync(join(cg, 'cgroup.procs'), String(p))
      moved.set(p, was)
    } catch {
      /* gone meanwhile */
    }
  }
  let undone = false
  return {
    what: `${SLOW_IOPS} writes/s, ${SLOW_BPS / 1024} KB/s to ${disk}`,
    /** The writes to the disk that went through the throttle so far. */
    writes: () => Number(new RegExp(`^${majMin} Write (\\d+)$`, 'm').exec(readFileSync(join(cg, 'blkio.throttle.io_serviced'), 'utf8'))?.[1] ?? 0),
    undo() {
      if (undone) return
      undone = true
      // The processes now in it (children made meanwhile go where their parents were).
      const home = [...moved.values()][0] ?? '/'
      for (const p of readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)) {
        try {
          writeFileSync(join(root, moved.get(p) ?? home, 'cgroup.procs'), String(p))
        } catch {
          /* gone meanwhile */
        }
      }
      try {
        rmdirSync(cg)
      } catch {
        /* still busy (a process forked or exiting meanwhile): slow-disk-sweep.ts removes it once this test has ended */
      }
    },
  }
}

export async function checkDeadLinks(t: Test, engine: HaEngine): Promise<void> {
  const lab = await startHaLab(t, engine, HA)
  const { ops } = lab
  const api = lab.server.lab
  const { source: src, replica: rep, writer } = await createHaSet(lab, `dl-${engine}`)
  const addr = (id: string) => api.instances.get(id)!.address!
  const want = linkTimeoutSeconds(HA)
  await until(async () => (await linkTimeout(engine, addr(rep.id)).catch(() => 0)) === want, 'the short link timeout on the replica')
  await until(async () => (await linkTimeout(engine, addr(src.id)).catch(() => 0)) === want, 'the short link timeout on the primary')
  t.pass(`both members run a ${want} s link timeout (the engine's default: ${DEFAULT_LINK_S} s)`)
  if (engine === 'mariadb') {
    // A primary restarted in place is followed again within a second (with 5 s, a failover right after the restart
    // lost every write made since: bench/failover.mjs, kill-engine). Read as the engine's root over its socket.
    const status = await superSql('mariadb', lab.dirOf(rep.id), 'SHOW SLAVE STATUS\\G', true)
    t.match(status, /Connect_Retry: 1\n/, 'the replica connects again every second to a source that refused it')
  }

  /** Watched for 40 of the primary's heartbeats (8 s at 200 ms: over five times the lease plus the margin), with writes going on: no failover. */
  let n = 1000
  async function notFailedOver(what: string): Promise<void> {
    let beats = 0
    let last = api.instances.lastSent(src.id)
    let writes = 0
    let gap = 0
    let seenAt = Date.now()
    await until(
      async () => {
        if (await ops.tryWrite(writer, n++)) writes++
        const now = api.instances.lastSent(src.id)
        if (now !== last) {
          beats++
          gap = Math.max(gap, Date.now() - seenAt)
          seenAt = Date.now()
        }
        last = now
        return beats >= 40
      },
      `40 heartbeats of the primary under ${what}`,
      600_000,
    )
    t.comment(`${engine}: under ${what} ${writes} writes through writer_endpoint; longest wait for a heartbeat ${gap} ms (period ${HA.heartbeatMs} ms)`)
    t.equal(api.notifications.list('trove.instance.auto_failover').length, 0, `a slow primary under ${what} is not failed over`)
    t.equal(api.instances.get(src.id)!.auto_failover, 1, 'it is still the HA primary')
    t.ok(writes > 0, 'writes went on through the writer endpoint')
  }

  // 1. A CPU hog on the primary: it is slow, not gone. (Its processes stay at nice 19: the pause below does not care.)
  const primaryPids = () => [running(lab.agentPid(src.id), "the primary's agent"), running(lab.enginePid(src.id), "the primary's engine")]
  const hogs = cpuHog(primaryPids())
  t.teardown(() => {
    for (const h of hogs) h.kill('SIGKILL')
  })
  await notFailedOver('a CPU hog')
  for (const h of hogs) h.kill('SIGKILL')

  // 1b. A slow disk under the primary: its writes throttled (the engine's commits wait on them), not gone either.
  const slow = slowDisk(lab.dirOf(src.id), primaryPids())
  if (typeof slow === 'string') t.pass('a slow primary on a slow disk is not failed over', { skip: slow })
  else {
    t.teardown(() => slow.undo())
    await notFailedOver(`a slow disk (${slow.what})`)
    const writes = slow.writes()
    t.ok(writes > 0, `the primary's writes went through the throttle (${writes})`)
    slow.undo()
  }

  // 2. The primary's agent and engine SIGSTOPped (the pause fault): its replica's link times out within seconds,
  //    and the set fails over; the first write through writer_endpoint is timed.
  const paused = Date.now()
  // The fault's effect names how: SIGSTOP on `none`, the freezer (runc pause) for a sandbox.
  t.match((await lab.admin.mgmtInstances.injectFault(src.id, 'pause')).effect, /SIGSTOP|sandbox frozen \(runc pause\): agent and engine/, 'paused (agent and engine)')
  t.teardown(() => lab.admin.mgmtInstances.injectFault(src.id, 'heal').catch(() => undefined))
  await until(() => ops.tryWrite(writer, n++), 'a write through writer_endpoint after the failover')
  const pauseMs = Date.now() - paused
  t.comment(`${engine}: SIGSTOP of the primary -> first write through writer_endpoint: ${pauseMs} ms`)
  await until(() => api.notifications.list('trove.instance.auto_failover').length > 0, 'the failover notification')
  t.comment(`timeline: ${JSON.stringify((api.notifications.list('trove.instance.auto_failover')[0]!.payload as { timeline: unknown }).timeline)}`)
  t.ok(pauseMs < (DEFAULT_LINK_S * 1000) / 2, `failed over in ${pauseMs} ms: well inside the engine's default link timeout (${DEFAULT_LINK_S} s)`)
  t.equal(await ops.served(writer), addr(rep.id), 'the writer endpoint reaches the new primary')

  // 3. Thawed, the old primary finds its lease lapsed and no replica: it fences itself; the rejoin flow then
  //    makes it the new primary's replica.
  await lab.admin.mgmtInstances.injectFault(src.id, 'heal')
  await lab.waitFor(src.id, (i) => i.replica_of?.id === rep.id && i.status === 'ACTIVE', 'the old primary rejoining as a replica')
  await until(
    () =>
      ops.count(addr(src.id), [n - 1]).then(
        (c) => c === 1,
        () => false,
      ),
    "the new primary's writes on the rejoined old primary",
  )
  t.notOk(await ops.tryWrite(addr(src.id), 9999), 'the rejoined old primary takes no write')
  await until(async () => (await linkTimeout(engine, addr(src.id)).catch(() => 0)) === want, 'the short link timeout on the rejoined replica')

  // 4. Automatic failover off: the engine's defaults come back on every member.
  await lab.client.instances.update(rep.id, { auto_failover: false })
  await until(async () => (await linkTimeout(engine, addr(src.id)).catch(() => 0)) === DEFAULT_LINK_S, "the replica's default link timeout")
  await until(async () => (await linkTimeout(engine, addr(rep.id)).catch(() => 0)) === DEFAULT_LINK_S, "the primary's default link timeout")
  t.pass(`auto_failover off: both members back to ${DEFAULT_LINK_S} s`)
}
