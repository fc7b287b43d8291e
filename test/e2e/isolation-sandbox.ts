// isolation: 'sandbox' end to end (docs/isolation.md, issue 14): a lab started in-process with sandboxes,
// Redis instances created through the SDK, each with its own uid, runc sandbox, loop-mounted volume and
// network namespace on the lab bridge behind the packet filter; delete leaves nothing of them behind.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { type AddressInfo, type Socket, connect, createServer } from 'node:net'
import { once } from 'node:events'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { blockedCount, tableName } from '../../src/server/compute/firewall.js'
import { netnsName } from '../../src/server/compute/network.js'
import { execInSandbox, listSandboxes, sandboxCgroupDirs } from '../../src/server/compute/sandbox.js'
import { removeSandboxLab, type SandboxedCompute } from '../../src/server/compute/sandboxed.js'
import { UID_CLAIM_DIR } from '../../src/server/compute/uids.js'
import type { Instance, TroveClient } from '../../src/sdk/index.js'
import { labClient, startLab } from '../helpers/lab.js'

/** What this host lacks for real sandboxes, or undefined. */
function lacking(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (runc, loop devices, mounts, netns, nft)'
  const tools: Array<[string, string[], string]> = [
    ['runc', ['--version'], 'runc'],
    ['nft', ['--version'], 'nftables'],
    ['losetup', ['--version'], 'mount (util-linux)'],
    ['mkfs.ext4', ['-V'], 'e2fsprogs'],
    ['ip', ['-V'], 'iproute2'],
    ['redis-server', ['--version'], 'redis-server'],
  ]
  for (const [tool, args, pkg] of tools) {
    try {
      execFileSync(tool, args, { stdio: 'pipe' })
    } catch {
      return `${tool} is not installed (Debian package ${pkg})`
    }
  }
  if (!existsSync('/usr/lib/cni/bridge')) return 'the CNI bridge plugin is missing (Debian package containernetworking-plugins)'
  return undefined
}

const why = lacking()
if (why) t.plan(0, why)

/** AUTH then PING over TCP from this host; resolves with what Redis answered. */
function authPing(host: string, user: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port: 6379 })
    let got = ''
    s.setTimeout(10_000, () => s.destroy(new Error('redis did not answer in 10 s')))
    s.on('connect', () => s.write(`AUTH ${user} ${password}\r\nPING\r\n`))
    s.on('data', (b) => {
      got += b.toString()
      if (got.split('\r\n').length > 2) {
        s.end()
        resolve(got)
      }
    })
    s.on('error', reject)
  })
}

/** Runs Redis commands after AUTH, one RESP answer line each. */
function redis(host: string, password: string, commands: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port: 6379 })
    let got = ''
    s.setTimeout(30_000, () => s.destroy(new Error('redis did not answer in 30 s')))
    s.on('connect', () => s.write(`AUTH root ${password}\r\n${commands.join('\r\n')}\r\n`))
    s.on('data', (b) => {
      got += b.toString()
      if (got.split('\r\n').length > commands.length + 1) {
        s.end()
        resolve(got)
      }
    })
    s.on('error', reject)
  })
}

async function waitStatus(client: TroveClient, id: string, from: string): Promise<Instance> {
  const deadline = Date.now() + 300_000
  for (;;) {
    const i = await client.instances.get(id)
    if (i.status !== from || Date.now() > deadline) return i
    await (client.instances.changed(id, from, 20_000) ?? sleep(200))
  }
}

/** Host pids in the sandbox's cgroup (any one hierarchy lists them all). */
function sandboxPids(c: SandboxedCompute, id: string): number[] {
  for (const dir of sandboxCgroupDirs(c.runtime, id)) {
    try {
      return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
    } catch {
      /* not this hierarchy */
    }
  }
  return []
}

const uidsOf = (pid: number) =>
  /^Uid:\s+(.*)$/m
    .exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!
    .split(/\s+/)
    .map(Number)
const exeOf = (pid: number) => {
  try {
    return readlinkSync(`/proc/${pid}/exe`)
  } catch {
    return ''
  }
}

/** Tries a TCP connect to ip:port from inside the sandbox (bash's /dev/tcp, given up after 4 s): the exit code. */
async function probeFrom(c: SandboxedCompute, id: string, ip: string, port: number): Promise<number> {
  const r = await execInSandbox(c.runtime, id, ['timeout', '4', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`])
  return r.code
}

t.test('a sandboxed Redis: its own uid, namespaces, volume and address; delete leaves nothing', async (t) => {
  const lab = await startLab(t, { isolation: 'sandbox', reconcileMs: 0 })
  const c = lab.server.lab.compute as SandboxedCompute
  // Registered after the lab's own teardown, so it runs first (tap runs them last in, first out).
  t.teardown(() => removeSandboxLab(c))
  t.equal(c.isolation, 'sandbox')
  const net = c.network
  const client = labClient(lab.cloudsFile)

  const t0 = Date.now()
  // The first one lets only TEST-NET-1 (and the host) in: the second must not reach it.
  const a = await client.instances.create({ name: 'sb-a', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' }, access: { allowed_cidrs: ['192.0.2.0/24'] } })
  const b = await client.instances.create({ name: 'sb-b', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'redis' } })
  const ia = await waitStatus(client, a.id, 'BUILD')
  const ib = await waitStatus(client, b.id, 'BUILD')
  t.comment(`two sandboxed Redis instances ACTIVE ${Date.now() - t0} ms after the first create`)
  if (ia.status !== 'ACTIVE' || ib.status !== 'ACTIVE') {
    t.fail(`not ACTIVE: ${ia.status} ${ib.status}; sandbox.log: ${readFileSync(join(c.instanceDir(a.id), 'sandbox.log'), 'utf8').slice(-2000)}`)
    return
  }
  t.equal(ia['lab:isolation'], 'sandbox', 'instance show says sandbox')

  // Its address is on the lab's subnet; Redis answers AUTH + PING there from the host.
  const ip = ia.ip![0]!
  const prefix = net.subnet.split('.').slice(0, 3).join('.')
  t.ok(ip.startsWith(`${prefix}.`) && ip !== net.gateway, `address ${ip} in the lab subnet ${net.subnet}`)
  const root = await client.root.enable(a.id)
  t.match(await authPing(ip, 'root', root.password), /^\+OK\r\n\+PONG\r\n/, 'AUTH and PING from the host')

  // The agent and the engine run as the instance's uid, in PID and network namespaces not the host's.
  const rec = JSON.parse(readFileSync(join(c.instanceDir(a.id), 'sandbox.json'), 'utf8')) as { uid: number; hostIf: string }
  t.ok(rec.uid >= 420000 && rec.uid <= 429999, `uid ${rec.uid} from the instance range`)
  t.ok(existsSync(join(UID_CLAIM_DIR, String(rec.uid))), 'its uid is claimed')
  const pids = sandboxPids(c, a.id)
  const engine = pids.find((p) => /redis-(server|check-rdb)$/.test(exeOf(p)))
  const agent = pids.find((p) => exeOf(p) === process.execPath && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('\0agent\0'))
  t.ok(engine && agent, `the engine (${engine}) and the agent (${agent}) are in the sandbox's cgroup`)
  for (const [what, pid] of [
    ['engine', engine],
    ['agent', agent],
  ] as const) {
    if (!pid) continue
    t.same(uidsOf(pid), [rec.uid, rec.uid, rec.uid, rec.uid], `the ${what} runs as uid ${rec.uid} (real, effective, saved, fs)`)
    for (const ns of ['pid', 'net', 'mnt']) t.not(readlinkSync(`/proc/${pid}/ns/${ns}`), readlinkSync(`/proc/self/ns/${ns}`), `the ${what} is in a ${ns} namespace of its own`)
  }
  t.equal(statSync(`/proc/${engine}/ns/net`).ino, statSync(`/run/netns/${netnsName(a.id)}`).ino, 'the engine is in the network namespace attached to the bridge')

  // The engine's data files are on the loop-mounted volume.
  t.match(await redis(ip, root.password, ['SET k v', 'SAVE']), /\+OK\r\n\+OK\r\n\+OK/, 'SET and SAVE')
  const mnt = join(c.instanceDir(a.id), 'mnt')
  const dump = join(mnt, 'data', 'dump.rdb')
  t.ok(existsSync(dump), 'dump.rdb is in the volume')
  const source = execFileSync('findmnt', ['-n', '-o', 'SOURCE', '--target', dump], { encoding: 'utf8' }).trim()
  t.match(source, /^\/dev\/loop\d+$/, `the data's filesystem is a loop device (${source})`)
  const backing = execFileSync('losetup', ['-n', '-O', 'BACK-FILE', source], { encoding: 'utf8' }).trim()
  t.equal(backing, join(c.instanceDir(a.id), 'volume.img'), "backed by the instance's image")
  t.equal(statSync(dump).uid, rec.uid, "the data file is the instance uid's")

  // Between instances: b cannot open a connection to a's 6379 (a allows 192.0.2.0/24 only); a reaches b's
  // (b allows the lab subnet), and b reaches the broker on the gateway: the probe itself works.
  const ipB = ib.ip![0]!
  const before = await blockedCount(net)
  t.equal(await probeFrom(c, b.id, ipB, 6379), 0, 'b reaches its own port (probe works)')
  t.equal(await probeFrom(c, a.id, ipB, 6379), 0, "a reaches b's 6379 (b allows the lab subnet)")
  t.not(await probeFrom(c, b.id, ip, 6379), 0, "b cannot open a connection to a's 6379")
  t.ok((await blockedCount(net)) > before, 'the packet filter counted the refused SYNs')
  // To the host: the broker's port on the gateway only; another port listening there is refused.
  const brokerPort = (JSON.parse(readFileSync(join(lab.dataDir, 'broker.json'), 'utf8')) as { gateway: { port: number } }).gateway.port
  t.equal(await probeFrom(c, b.id, net.gateway, brokerPort), 0, 'b reaches the broker on the gateway')
  const other = createServer().listen(0, net.gateway)
  await once(other, 'listening')
  t.teardown(() => other.close())
  const otherPort = (other.address() as AddressInfo).port
  t.equal(await probeFrom(c, a.id, net.gateway, otherPort), 1, 'another port on the gateway is refused (connection reset)')
  t.ok(
    await new Promise((r) =>
      connect({ host: net.gateway, port: otherPort })
        .on('connect', function (this: Socket) {
          this.destroy()
          r(true)
        })
        .on('error', () => r(false)),
    ),
    'which the host itself reaches',
  )

  // Refused, not half-run: what the sandboxed agent cannot do yet.
  await t.rejects(client.backups.create({ name: 'x', instance: a.id }), { status: 400, message: /sandbox/ }, 'backup refused with the reason')
  await t.rejects(client.instances.resizeVolume(a.id, 2), { status: 400, message: /sandbox/ }, 'volume resize refused with the reason')
  await t.rejects(client.instances.create({ name: 'sb-m', flavorRef: '1', volume: { size: 1 }, datastore: { type: 'mariadb' } }), { status: 400, message: /sandbox/ }, 'mariadb refused')

  // Delete: nothing of the instance is left.
  const image = join(c.instanceDir(a.id), 'volume.img')
  await client.instances.delete(a.id)
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    try {
      await client.instances.get(a.id)
    } catch {
      break
    }
    await sleep(200)
  }
  t.notOk(existsSync(join(UID_CLAIM_DIR, String(rec.uid))), 'no uid claim')
  t.equal(execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim(), '', 'no loop device')
  t.notOk(readFileSync('/proc/self/mounts', 'utf8').includes(mnt), 'no mount')
  t.notOk(existsSync(`/run/netns/${netnsName(a.id)}`), 'no network namespace')
  const ports = execFileSync('nft', ['list', 'set', 'bridge', tableName(c.labId), 'ports'], { encoding: 'utf8' })
  t.notOk(ports.includes(rec.hostIf), 'no nft element for its veth')
  t.ok(ports.includes((JSON.parse(readFileSync(join(c.instanceDir(b.id), 'sandbox.json'), 'utf8')) as { hostIf: string }).hostIf), "b's element stays")
  t.same(
    sandboxCgroupDirs(c.runtime, a.id).filter((d) => existsSync(d)),
    [],
    'no cgroup',
  )
  t.notOk((await listSandboxes(c.runtime)).includes(a.id), 'no runc state')
  t.notOk(existsSync(c.instanceDir(a.id)), 'no instance directory')
})
